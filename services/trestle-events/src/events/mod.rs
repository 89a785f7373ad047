//! One Rust struct per event type, grouped by topic like `schemas/`; field for field the
//! schema's record after the envelope, in the same order (the codec checks this).

macro_rules! record {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $( $(#[$fattr:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            /// The envelope; flat on the wire.
            #[serde(flatten)]
            pub meta: $crate::Meta,
            $( $(#[$fattr])* pub $field: $ty, )*
        }

        impl $crate::value::Record for $name {
            fn push_fields(&self, out: &mut Vec<(String, apache_avro::types::Value)>) {
                self.meta.push_fields(out);
                $( out.push((
                    stringify!($field).to_owned(),
                    $crate::value::AvroField::to_avro(&self.$field),
                )); )*
            }

            fn from_fields(fields: &mut $crate::value::Fields) -> Result<Self, $crate::Error> {
                Ok($name {
                    meta: $crate::Meta::from_fields(fields)?,
                    $( $field: fields.take(stringify!($field))?, )*
                })
            }
        }
    };
}

pub(crate) mod ai_outcomes;
pub(crate) mod ai_requests;
pub(crate) mod alerts;
pub(crate) mod cloud_projects;
pub(crate) mod jobs;
pub(crate) mod notebooks;
pub(crate) mod price_books;
pub(crate) mod providers;
pub(crate) mod tenants;
pub(crate) mod timers;
pub(crate) mod usage;
