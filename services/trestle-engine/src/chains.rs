//! Provider chains: which providers serve a request kind, in order, how each is metered, and
//! the cheaper step the noisy-neighbour ladder degrades to.

use crate::error::ConfigError;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trestle_events::{AiRequestKind, Meter};

/// One provider (and model) that can serve a request kind, and the meter it bills against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Provider name: the simulator path and the circuit breaker's provider.
    pub provider: String,
    /// Model asked for.
    pub model: String,
    /// Billing meter of one call (a meter names a billing category, so e.g. an OpenAI chat
    /// fallback counts as a chat query at the chat price).
    pub meter: Meter,
}

impl Step {
    fn new(provider: &str, model: &str, meter: Meter) -> Step {
        Step {
            provider: provider.into(),
            model: model.into(),
            meter,
        }
    }

    /// Quantity of the meter used by one call, in thousandths of a unit.
    pub fn quantity_milli(&self, prompt: &str, input_tokens: i64, output_tokens: i64) -> i64 {
        match self.meter {
            Meter::TtsCharacters => prompt.chars().count() as i64 * 1000,
            Meter::EmbeddingTokens => input_tokens.max(1) * 1000,
            // A minute of audio per ~150 spoken words of transcript.
            Meter::SpeechMinutes => (output_tokens.max(1) * 1000 + 149) / 150,
            _ => 1000,
        }
    }
}

/// The chain of one request kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    /// Tried in order: the first whose breaker is closed and whose call succeeds answers.
    pub steps: Vec<Step>,
    /// The cheaper step a company over its rate limit is degraded to (ladder step 3); `None`:
    /// this kind has no cheaper way and goes straight to throttling.
    pub degrade_to: Option<Step>,
}

/// A chain per request kind, by the kind's schema symbol (`chat`, `notebook_query`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Chains(pub BTreeMap<String, Chain>);

impl Default for Chains {
    /// The seed design's chains: NotebookLM → Gemini Pro + RAG; Gemini → OpenAI;
    /// Document AI → Vision + Gemini; Speech → Whisper.
    fn default() -> Self {
        use Meter::*;
        let chain = |steps: Vec<Step>, degrade_to: Option<Step>| Chain { steps, degrade_to };
        let flash = || Step::new("gemini", "gemini-flash", GeminiFlashQueries);
        let mut chains = BTreeMap::new();
        chains.insert(
            "notebook_query".into(),
            chain(
                vec![
                    Step::new("notebooklm", "notebooklm", NotebooklmQueries),
                    Step::new("gemini", "gemini-pro-rag", GeminiProQueries),
                ],
                Some(flash()),
            ),
        );
        chains.insert(
            "chat".into(),
            chain(
                vec![
                    flash(),
                    Step::new("openai", "gpt-4o-mini", GeminiFlashQueries),
                ],
                None,
            ),
        );
        chains.insert(
            "summary".into(),
            chain(
                vec![
                    Step::new("gemini", "gemini-pro", GeminiProQueries),
                    Step::new("openai", "gpt-4o", GeminiProQueries),
                ],
                Some(flash()),
            ),
        );
        chains.insert(
            "document_extraction".into(),
            chain(
                vec![
                    Step::new("document-ai", "document-ai", DocumentPages),
                    Step::new("vision", "vision-ocr+gemini", DocumentPages),
                ],
                None,
            ),
        );
        chains.insert(
            "image_analysis".into(),
            chain(
                vec![
                    Step::new("vision", "vision", VisionImages),
                    Step::new("gemini", "gemini-pro-vision", VisionImages),
                ],
                None,
            ),
        );
        chains.insert(
            "speech_to_text".into(),
            chain(
                vec![
                    Step::new("speech", "chirp", SpeechMinutes),
                    Step::new("openai", "whisper-1", SpeechMinutes),
                ],
                None,
            ),
        );
        chains.insert(
            "text_to_speech".into(),
            chain(
                vec![
                    Step::new("tts", "tts", TtsCharacters),
                    Step::new("openai", "tts-1", TtsCharacters),
                ],
                None,
            ),
        );
        chains.insert(
            "embedding".into(),
            chain(
                vec![
                    Step::new("embeddings", "text-embedding", EmbeddingTokens),
                    Step::new("openai", "text-embedding-3-small", EmbeddingTokens),
                ],
                None,
            ),
        );
        Chains(chains)
    }
}

impl Chains {
    /// The chain of `kind`, if it has one with at least one step.
    pub fn for_kind(&self, kind: AiRequestKind) -> Option<&Chain> {
        self.0
            .get(kind.as_str())
            .filter(|chain| !chain.steps.is_empty())
    }

    /// Start-up check: every chain names a provider and a known meter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (kind, chain) in &self.0 {
            let invalid = |reason| {
                let kind = kind.clone();
                Err(ConfigError::Chain { kind, reason })
            };
            if !matches!(kind.parse::<AiRequestKind>(), Ok(k) if k != AiRequestKind::Unknown) {
                return invalid("not a request kind");
            }
            if chain.steps.is_empty() {
                return invalid("needs at least one step");
            }
            for step in chain.steps.iter().chain(&chain.degrade_to) {
                if step.provider.is_empty() || step.meter == Meter::Unknown {
                    return invalid("every step needs a provider and a known meter");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_kind_has_a_default_chain_with_a_fallback() {
        let chains = Chains::default();
        chains.validate().unwrap();
        for kind in AiRequestKind::ALL {
            if *kind == AiRequestKind::Unknown {
                assert!(chains.for_kind(*kind).is_none());
                continue;
            }
            let chain = chains.for_kind(*kind).expect("a chain");
            assert!(chain.steps.len() >= 2, "{kind:?} has no fallback");
        }
    }

    #[test]
    fn a_chain_for_an_unknown_kind_is_refused() {
        let mut chains = Chains::default();
        chains.0.insert("poetry".into(), chains.0["chat"].clone());
        assert!(chains
            .validate()
            .unwrap_err()
            .to_string()
            .contains("chains.poetry"));
    }
}
