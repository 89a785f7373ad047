//! Deterministic embeddings: a hashed bag of words, so similar texts lie near in cosine distance.
//!
//! Each content word (see `text.rs`) is hashed into one of [`EMBEDDING_DIMENSIONS`] buckets
//! with a sign (signed feature hashing), counts are summed and the vector is L2-normalised.
//! The same text always gives the same vector, bit for bit, and texts sharing words have a
//! high cosine similarity — enough for a RAG test to find the right chunk by nearest
//! neighbour, without a model.

use serde::{Deserialize, Serialize};

use crate::text;

/// Length of every embedding the simulator returns; a pgvector column holding them is
/// `vector(256)`.
///
/// NEVER CHANGE: stored vectors were computed with it.
pub const EMBEDDING_DIMENSIONS: usize = 256;

/// FNV-1a 64-bit offset basis and prime. NEVER CHANGE: stored vectors depend on the hash.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The embedding of `text`: [`EMBEDDING_DIMENSIONS`] floats of unit length, or all zeros for a
/// text without a single word.
///
/// Content words are used; a text made only of stop words falls back to all its words, so
/// "to be or not to be" still has a direction.
pub fn embed(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; EMBEDDING_DIMENSIONS];
    let mut add = |word: &str| {
        let h = mix(fnv1a(word.as_bytes()));
        let bucket = (h % EMBEDDING_DIMENSIONS as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        vector[bucket] += sign;
    };
    let mut any = false;
    for word in text::content_words(text) {
        add(&word);
        any = true;
    }
    if !any {
        for word in text::words(text) {
            add(&word);
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// The splitmix64 finaliser, so short words spread over all buckets and both signs.
/// NEVER CHANGE: stored vectors depend on it.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An OpenAI embeddings request (the fields the simulator reads; others are ignored, as
/// OpenAI clients send `encoding_format` and the like).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
}

/// One text or several, as OpenAI accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

impl EmbeddingInput {
    pub(crate) fn into_texts(self) -> Vec<String> {
        match self {
            EmbeddingInput::One(s) => vec![s],
            EmbeddingInput::Many(v) => v,
        }
    }
}

/// An OpenAI embeddings response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingsUsage,
}

/// The embedding of the input at `index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embedding {
    pub object: String,
    pub index: u32,
    pub embedding: Vec<f32>,
}

/// Token counts of an embeddings call (whitespace words of the inputs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// Most texts in one request (OpenAI's limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;
/// Largest text to embed, in bytes (about OpenAI's 8,192 tokens).
pub const MAX_EMBEDDING_INPUT_BYTES: usize = 32 * 1024;

/// Answers a request whose texts passed the limits.
pub(crate) fn respond(model: String, texts: &[String]) -> EmbeddingsResponse {
    let prompt_tokens = texts.iter().map(|t| text::token_count(t)).sum();
    EmbeddingsResponse {
        object: "list".into(),
        data: texts
            .iter()
            .enumerate()
            .map(|(index, t)| Embedding {
                object: "embedding".into(),
                index: index as u32,
                embedding: embed(t),
            })
            .collect(),
        model,
        usage: EmbeddingsUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_have_unit_length_and_never_change_for_a_text() {
        let v = embed("Concrete pour for the level 3 slab");
        assert_eq!(v.len(), EMBEDDING_DIMENSIONS);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(v, embed("concrete POUR, for the level 3 slab!"));
    }

    #[test]
    fn the_hash_never_changes() {
        // NEVER CHANGE: stored embeddings depend on these values.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let one_hot = |word: &str| -> Vec<(usize, f32)> {
            embed(word)
                .into_iter()
                .enumerate()
                .filter(|(_, x)| *x != 0.0)
                .collect()
        };
        assert_eq!(one_hot("rebar"), [(91, -1.0)]);
        assert_eq!(one_hot("slab"), [(237, -1.0)]);
        assert_eq!(one_hot("pour"), [(109, 1.0)]);
    }

    #[test]
    fn similar_texts_are_nearer_than_unrelated_ones() {
        let query = embed("When is the concrete pour for the level 3 slab?");
        let near = embed("The level 3 slab concrete pour is scheduled for Tuesday.");
        let far = embed("Electrical panel inspection checklist signed by the foreman.");
        assert!(cosine(&query, &near) > 0.5, "{}", cosine(&query, &near));
        assert!(cosine(&query, &near) > cosine(&query, &far) + 0.3);
    }

    #[test]
    fn a_text_without_words_embeds_to_zeros_and_stop_words_still_point_somewhere() {
        assert!(embed(" ... ").iter().all(|x| *x == 0.0));
        assert!(embed("to be or not to be").iter().any(|x| *x != 0.0));
    }
}
