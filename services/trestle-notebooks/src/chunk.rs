//! Splitting a document's text into the chunks that are embedded for RAG: whole sentences,
//! packed up to a size, in order, so a chunk quotes the document and a re-sync gives the
//! same chunks (their index is part of the embedding's key).

/// The chunks of `pages`, each at most about `max_chars` characters (a sentence longer than
/// that is a chunk of its own, cut at `max_chars`). Pages never share a chunk.
pub fn chunks(pages: &[String], max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut out = Vec::new();
    for page in pages {
        let mut current = String::new();
        for sentence in sentences(page) {
            let sentence: String = sentence.chars().take(max_chars).collect();
            let len = current.chars().count() + 1 + sentence.chars().count();
            if !current.is_empty() && len > max_chars {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&sentence);
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

/// The sentences of a text: ends at `.`, `!`, `?` or a line break, trimmed, empty ones left out.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_whole_sentences_up_to_the_size_and_keeps_pages_apart() {
        let pages = vec![
            "Footings are 600 mm deep. Rebar is B500B. Concrete is C30/37.".to_owned(),
            "Roof: standing seam.".to_owned(),
        ];
        assert_eq!(
            chunks(&pages, 45),
            vec![
                "Footings are 600 mm deep. Rebar is B500B.",
                "Concrete is C30/37.",
                "Roof: standing seam.",
            ]
        );
    }

    #[test]
    fn cuts_a_sentence_longer_than_a_chunk_and_skips_empty_pages() {
        let pages = vec!["x".repeat(25), "   ".to_owned()];
        assert_eq!(chunks(&pages, 10), vec!["x".repeat(10)]);
    }
}
