//! Events of the `price-books` topic: every version of the price book that statements are
//! priced from. Platform-scoped: `meta.company_id` is [`crate::PLATFORM_COMPANY_ID`] and the
//! record key is the constant [`PRICE_BOOK_KEY`], so all versions stay on one partition in
//! publishing order.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::enums::{Meter, Tier};

/// The record key of every `PriceBookPublished`. NEVER CHANGE: producers and the projector's
/// key check must agree on it for every version ever published.
pub const PRICE_BOOK_KEY: &str = "price-book";

record! {
    /// A new version of the price book: tier prices, included AI cost per tier, the overage
    /// markup, and the unit price of every meter. Money in millionths of a US dollar.
    pub struct PriceBookPublished {
        /// Version, from 1; greater than every earlier published version.
        pub version: i32,
        /// Start of the first month it prices: the first of a month, 00:00 UTC.
        pub effective_from: DateTime<Utc>,
        /// Starter monthly price.
        pub starter_price_micro_usd: i64,
        /// Professional monthly price.
        pub professional_price_micro_usd: i64,
        /// Premium monthly price.
        pub premium_price_micro_usd: i64,
        /// Enterprise monthly price.
        pub enterprise_price_micro_usd: i64,
        /// AI cost a starter month includes.
        pub starter_included_ai_cost_micro_usd: i64,
        /// AI cost a professional month includes.
        pub professional_included_ai_cost_micro_usd: i64,
        /// AI cost a premium month includes.
        pub premium_included_ai_cost_micro_usd: i64,
        /// AI cost an enterprise month includes.
        pub enterprise_included_ai_cost_micro_usd: i64,
        /// Markup on AI cost beyond the included allowance, basis points (5000 = +50 %).
        pub overage_markup_bp: i32,
        /// Unit price, `notebooklm_queries`.
        pub notebooklm_queries_unit_micro_usd: i64,
        /// Unit price, `gemini_flash_queries`.
        pub gemini_flash_queries_unit_micro_usd: i64,
        /// Unit price, `gemini_pro_queries`.
        pub gemini_pro_queries_unit_micro_usd: i64,
        /// Unit price, `document_pages`.
        pub document_pages_unit_micro_usd: i64,
        /// Unit price, `vision_images`.
        pub vision_images_unit_micro_usd: i64,
        /// Unit price, `speech_minutes`.
        pub speech_minutes_unit_micro_usd: i64,
        /// Unit price, `tts_characters`.
        pub tts_characters_unit_micro_usd: i64,
        /// Unit price, `embedding_tokens`.
        pub embedding_tokens_unit_micro_usd: i64,
        /// Why it was published; may be empty.
        pub note: String,
    }
}

impl PriceBookPublished {
    /// Monthly price of `tier` (`None` for [`Tier::Unknown`]).
    pub fn tier_price(&self, tier: Tier) -> Option<i64> {
        match tier {
            Tier::Starter => Some(self.starter_price_micro_usd),
            Tier::Professional => Some(self.professional_price_micro_usd),
            Tier::Premium => Some(self.premium_price_micro_usd),
            Tier::Enterprise => Some(self.enterprise_price_micro_usd),
            Tier::Unknown => None,
        }
    }

    /// AI cost included in a month of `tier` (`None` for [`Tier::Unknown`]).
    pub fn included_ai_cost(&self, tier: Tier) -> Option<i64> {
        match tier {
            Tier::Starter => Some(self.starter_included_ai_cost_micro_usd),
            Tier::Professional => Some(self.professional_included_ai_cost_micro_usd),
            Tier::Premium => Some(self.premium_included_ai_cost_micro_usd),
            Tier::Enterprise => Some(self.enterprise_included_ai_cost_micro_usd),
            Tier::Unknown => None,
        }
    }

    /// Unit price of `meter` (`None` for [`Meter::Unknown`]).
    pub fn unit_price(&self, meter: Meter) -> Option<i64> {
        match meter {
            Meter::NotebooklmQueries => Some(self.notebooklm_queries_unit_micro_usd),
            Meter::GeminiFlashQueries => Some(self.gemini_flash_queries_unit_micro_usd),
            Meter::GeminiProQueries => Some(self.gemini_pro_queries_unit_micro_usd),
            Meter::DocumentPages => Some(self.document_pages_unit_micro_usd),
            Meter::VisionImages => Some(self.vision_images_unit_micro_usd),
            Meter::SpeechMinutes => Some(self.speech_minutes_unit_micro_usd),
            Meter::TtsCharacters => Some(self.tts_characters_unit_micro_usd),
            Meter::EmbeddingTokens => Some(self.embedding_tokens_unit_micro_usd),
            Meter::Unknown => None,
        }
    }

    /// Why this price book cannot be applied, if it cannot: a version below 1, an
    /// `effective_from` that is not the start of a month (UTC), a negative amount, a markup
    /// below -100 %, or not platform-scoped.
    pub fn invalid(&self) -> Option<String> {
        let e = self.effective_from;
        if !self.meta.is_platform() {
            return Some("a price book is platform-scoped: company_id must be the nil UUID".into());
        }
        if self.version < 1 {
            return Some(format!("price book version {} is below 1", self.version));
        }
        if e.day() != 1 || e.num_seconds_from_midnight() != 0 || e.nanosecond() != 0 {
            return Some(format!(
                "effective_from {e} is not the start of a month (the 1st, 00:00 UTC)"
            ));
        }
        if self.overage_markup_bp < -10_000 {
            return Some(format!(
                "overage_markup_bp {} would charge overage below zero",
                self.overage_markup_bp
            ));
        }
        let amounts = Tier::ALL
            .iter()
            .filter_map(|t| Some((t.as_str(), self.tier_price(*t)?, self.included_ai_cost(*t)?)))
            .flat_map(|(t, price, included)| [(t, price), (t, included)])
            .chain(
                Meter::ALL
                    .iter()
                    .filter_map(|m| Some((m.as_str(), self.unit_price(*m)?))),
            );
        for (what, amount) in amounts {
            if amount < 0 {
                return Some(format!("{what}: negative amount {amount}"));
            }
        }
        None
    }
}
