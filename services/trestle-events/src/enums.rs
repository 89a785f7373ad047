//! Rust enums for the Avro enum types of the schemas, with the same symbols.
//!
//! Every Avro enum ends with the symbol `unknown`, its `default`: a reader substitutes it for a
//! symbol that a newer schema added, which is what keeps adding a symbol FULL_TRANSITIVE
//! compatible. Code must handle `Unknown` (usually as "cannot act on this") and never produce it.

use apache_avro::types::Value;

use crate::value::AvroField;

/// A string that is not a symbol of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{symbol:?} is not a {enum_name} symbol")]
pub struct UnknownSymbol {
    /// The enum's name.
    pub enum_name: &'static str,
    /// The string given.
    pub symbol: String,
}

macro_rules! avro_enum {
    (
        $(#[$attr:meta])*
        $name:ident { $( $(#[$vattr:meta])* $variant:ident = $symbol:literal, )* }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vattr])* #[serde(rename = $symbol)] $variant, )*
            /// A symbol added by a newer schema that this build does not know. Never produce it.
            #[serde(rename = "unknown")]
            Unknown,
        }

        impl $name {
            /// Every variant, in schema symbol order (`Unknown` last).
            pub const ALL: &'static [$name] = &[$($name::$variant,)* $name::Unknown];

            /// The Avro symbol.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $symbol,)*
                    $name::Unknown => "unknown",
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownSymbol;
            fn from_str(s: &str) -> Result<Self, UnknownSymbol> {
                match s {
                    $($symbol => Ok($name::$variant),)*
                    "unknown" => Ok($name::Unknown),
                    _ => Err(UnknownSymbol { enum_name: stringify!($name), symbol: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AvroField for $name {
            fn to_avro(&self) -> Value {
                Value::String(self.as_str().to_owned())
            }
            fn from_avro(value: Value) -> Result<Self, String> {
                match value {
                    Value::Enum(_, symbol) | Value::String(symbol) => {
                        symbol.parse().map_err(|e: UnknownSymbol| e.to_string())
                    }
                    other => Err(format!("expected a {} symbol, got {other:?}", stringify!($name))),
                }
            }
        }
    };
}

avro_enum! {
    /// Subscription tier: sets the rate limit and monthly price.
    Tier {
        /// 10 requests per minute, $99 a month.
        Starter = "starter",
        /// 30 requests per minute, $199 a month.
        Professional = "professional",
        /// 60 requests per minute, $349 a month.
        Premium = "premium",
        /// 120 requests per minute, $999 a month, dedicated capacity.
        Enterprise = "enterprise",
    }
}

/// The one place that decides what a tier this build does not know gets: `Unknown` (a symbol a
/// newer schema added) counts as [`trestle_tiers::Tier::Starter`], the least privileged, until
/// this build learns the tier.
impl From<Tier> for trestle_tiers::Tier {
    fn from(tier: Tier) -> Self {
        match tier {
            Tier::Starter | Tier::Unknown => trestle_tiers::Tier::Starter,
            Tier::Professional => trestle_tiers::Tier::Professional,
            Tier::Premium => trestle_tiers::Tier::Premium,
            Tier::Enterprise => trestle_tiers::Tier::Enterprise,
        }
    }
}

avro_enum! {
    /// Data-residency region.
    Region {
        /// United States.
        Us = "us",
        /// European Union.
        Eu = "eu",
        /// Asia-Pacific.
        Apac = "apac",
    }
}

avro_enum! {
    /// Whether a tenant shares capacity or has its own.
    IsolationLevel {
        /// Pooled cloud project and database shard.
        Shared = "shared",
        /// Own cloud project and shard (enterprise).
        Dedicated = "dedicated",
    }
}

avro_enum! {
    /// What an AI request asks for; selects the provider chain.
    AiRequestKind {
        /// A question to a job or knowledge-base notebook.
        NotebookQuery = "notebook_query",
        /// Free chat.
        Chat = "chat",
        /// Summary of a document or job.
        Summary = "summary",
        /// Structured extraction from a document.
        DocumentExtraction = "document_extraction",
        /// Analysis of a photo or drawing.
        ImageAnalysis = "image_analysis",
        /// Transcription.
        SpeechToText = "speech_to_text",
        /// Speech synthesis (audio briefings).
        TextToSpeech = "text_to_speech",
        /// Embedding of text.
        Embedding = "embedding",
    }
}

avro_enum! {
    /// Which limit refused an AI request.
    ThrottleReason {
        /// The tier's requests-per-minute limit.
        RateLimit = "rate_limit",
        /// The company's queue is full.
        QueueOverflow = "queue_overflow",
        /// The company's cost limit is reached.
        CostLimit = "cost_limit",
        /// The cloud project's provider quota is exhausted.
        ProviderQuota = "provider_quota",
    }
}

avro_enum! {
    /// Why an AI request's call did not go through its company's own cloud project.
    RerouteReason {
        /// The project is in maintenance.
        Maintenance = "maintenance",
        /// The project's circuit for the provider is open.
        CircuitOpen = "circuit_open",
        /// The project's daily quota for the provider is used up.
        QuotaExhausted = "quota_exhausted",
    }
}

avro_enum! {
    /// What an AI request's answer was made from (`AiRequestCompleted.answer_path`).
    AnswerPath {
        /// The prompt alone, to a chat model: no notebook involved.
        Chat = "chat",
        /// The job's own (hot) notebook.
        JobNotebook = "job_notebook",
        /// The warm-pool notebook holding the job's sources, filtered to them.
        WarmNotebook = "warm_notebook",
        /// The job's nearest document chunks (pgvector) as context of a chat model.
        Rag = "rag",
        /// The company's knowledge-base notebook (a question about no job).
        KnowledgeBase = "knowledge_base",
    }
}

avro_enum! {
    /// Billing meter.
    Meter {
        /// NotebookLM queries.
        NotebooklmQueries = "notebooklm_queries",
        /// Gemini Flash queries.
        GeminiFlashQueries = "gemini_flash_queries",
        /// Gemini Pro queries.
        GeminiProQueries = "gemini_pro_queries",
        /// Document pages processed.
        DocumentPages = "document_pages",
        /// Images analysed.
        VisionImages = "vision_images",
        /// Minutes of speech transcribed.
        SpeechMinutes = "speech_minutes",
        /// Characters synthesised to speech.
        TtsCharacters = "tts_characters",
        /// Tokens embedded.
        EmbeddingTokens = "embedding_tokens",
    }
}

avro_enum! {
    /// Storage tier of a notebook.
    NotebookTier {
        /// One notebook per active job.
        Hot = "hot",
        /// Shared by up to 10 recently completed jobs.
        Warm = "warm",
        /// Notebook deleted, embeddings kept.
        Cold = "cold",
    }
}

avro_enum! {
    /// What kind of construction document a document is.
    DocumentKind {
        /// A drawing (plan, elevation, detail).
        Drawing = "drawing",
        /// A specification section.
        Specification = "specification",
        /// A request for information.
        Rfi = "rfi",
        /// A submittal.
        Submittal = "submittal",
        /// A contract or change order.
        Contract = "contract",
        /// A report (daily, inspection, safety).
        Report = "report",
        /// A photo log.
        PhotoLog = "photo_log",
        /// Anything else.
        Other = "other",
    }
}

avro_enum! {
    /// What a notebook holds.
    NotebookPurpose {
        /// One job's documents.
        Job = "job",
        /// The company knowledge base.
        KnowledgeBase = "knowledge_base",
        /// A warm pool shared by completed jobs.
        WarmPool = "warm_pool",
    }
}

avro_enum! {
    /// The condition an alert watches.
    AlertKind {
        /// Error rate above 5 %.
        ErrorRate = "error_rate",
        /// p99 latency above 10 s.
        LatencyP99 = "latency_p99",
        /// Shard load differs by more than 20 %.
        ShardImbalance = "shard_imbalance",
        /// Cost above 150 % of baseline.
        CostSpike = "cost_spike",
        /// One company uses more than 10 % of resources.
        NoisyNeighbour = "noisy_neighbour",
    }
}

avro_enum! {
    /// How urgent an alert is.
    AlertSeverity {
        /// Wake someone up.
        Page = "page",
        /// Look during working hours.
        Warn = "warn",
    }
}

#[cfg(test)]
mod tests {
    use super::Tier;

    #[test]
    fn an_unknown_tier_counts_as_starter_and_the_others_keep_their_symbol() {
        for &tier in Tier::ALL {
            let converted = trestle_tiers::Tier::from(tier);
            let expected = if tier == Tier::Unknown {
                "starter"
            } else {
                tier.as_str()
            };
            assert_eq!(converted.as_str(), expected);
        }
    }
}
