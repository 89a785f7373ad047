//! What a unit of each meter costs: the versioned price book.

use serde::{Deserialize, Serialize};
use trestle_events::Meter;

/// Prices per meter unit in millionths of a US dollar, with the version that statements cite.
/// Defaults are the seed design's cost model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriceBook {
    pub version: i32,
    /// NotebookLM is billed per notebook ($5/month); spread over the seed's 12,000 queries a
    /// month of an average company that is $0.005 a query.
    pub notebooklm_queries: i64,
    pub gemini_flash_queries: i64,
    pub gemini_pro_queries: i64,
    pub document_pages: i64,
    pub vision_images: i64,
    pub speech_minutes: i64,
    pub tts_characters: i64,
    pub embedding_tokens: i64,
}

impl Default for PriceBook {
    fn default() -> Self {
        PriceBook {
            version: 1,
            notebooklm_queries: 5_000,
            gemini_flash_queries: 100,
            gemini_pro_queries: 2_000,
            document_pages: 20_000,
            vision_images: 1_500,
            speech_minutes: 16_000,
            tts_characters: 4,
            embedding_tokens: 1,
        }
    }
}

impl PriceBook {
    /// Price of one unit of `meter`, micro-USD.
    pub fn unit_price(&self, meter: Meter) -> i64 {
        match meter {
            Meter::NotebooklmQueries => self.notebooklm_queries,
            Meter::GeminiFlashQueries => self.gemini_flash_queries,
            Meter::GeminiProQueries => self.gemini_pro_queries,
            Meter::DocumentPages => self.document_pages,
            Meter::VisionImages => self.vision_images,
            Meter::SpeechMinutes => self.speech_minutes,
            Meter::TtsCharacters => self.tts_characters,
            Meter::EmbeddingTokens => self.embedding_tokens,
            Meter::Unknown => 0,
        }
    }

    /// Cost of `quantity_milli` thousandths of a unit, rounded half up to a micro-USD.
    pub fn cost(&self, meter: Meter, quantity_milli: i64) -> i64 {
        (quantity_milli * self.unit_price(meter) + 500) / 1000
    }
}
