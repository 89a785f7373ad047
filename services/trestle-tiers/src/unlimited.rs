//! Serde for an optional limit: a number, or the string `"unlimited"` for `None`. A missing
//! field is an error, so a config that forgets a limit does not silently lift it.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const WORD: &str = "unlimited";

/// A number, or `"unlimited"` for `None`.
pub fn serialize<S: Serializer, T: Serialize>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(limit) => limit.serialize(serializer),
        None => serializer.serialize_str(WORD),
    }
}

/// A number, or `"unlimited"` for `None`; any other string is an error.
pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cap<T> {
        Limit(T),
        Word(String),
    }
    match Cap::<T>::deserialize(deserializer)? {
        Cap::Limit(limit) => Ok(Some(limit)),
        Cap::Word(word) if word == WORD => Ok(None),
        Cap::Word(word) => Err(D::Error::custom(format!(
            "expected a non-negative number or \"{WORD}\", got {word:?}"
        ))),
    }
}

/// As [`deserialize`], for a field that may be left out (`None`: not given).
pub fn deserialize_given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    deserialize(deserializer).map(Some)
}
