//! Text handling shared by notebook answers and embeddings: sentences and content words.
//!
//! NEVER CHANGE the tokenisation (what a word is, the lowercasing, the stop words) without
//! re-embedding: vectors computed with [`crate::embed`] and already stored depend on it.

/// Words too common to say anything about a question or a document. Sorted (a test checks),
/// so membership is a binary search.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had",
    "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "more", "most", "my", "no", "not", "of", "on", "or", "our", "out", "over", "she", "should",
    "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "up", "us", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// The sentences of `text`, trimmed, in order. A sentence ends at `.`, `!` or `?` followed by
/// whitespace (or the end), or at a line break — so headings and list items are sentences
/// too, and `3.5` or `v1.2` stay whole.
pub(crate) fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\n' => Some((i, i + 1)),
            '.' | '!' | '?' => match chars.peek() {
                None => Some((i + 1, i + 1)),
                Some((_, next)) if next.is_whitespace() => Some((i + 1, i + 1)),
                Some(_) => None,
            },
            _ => None,
        };
        if let Some((end, next_start)) = end {
            push_trimmed(&mut out, &text[start..end]);
            start = next_start;
        }
    }
    push_trimmed(&mut out, &text[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Every word of `text`, lowercased: maximal runs of alphanumeric characters.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The words that carry meaning: not a stop word, and longer than one character unless a
/// number (`3` in "level 3" matters; the `s` of "company's" does not).
pub(crate) fn content_words(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| is_content_word(w))
}

fn is_content_word(word: &str) -> bool {
    let long_enough = word.chars().nth(1).is_some() || word.chars().all(|c| c.is_ascii_digit());
    long_enough && STOP_WORDS.binary_search(&word).is_err()
}

/// A rough token count, as the usage of a call: whitespace-separated words.
pub(crate) fn token_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_and_unique() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn splits_sentences_at_terminators_and_line_breaks_but_not_inside_numbers() {
        let text = "Pour level 3.5 today. Is rebar in?  Yes!\nSafety\n\n  - hard hats  ";
        assert_eq!(
            sentences(text),
            vec![
                "Pour level 3.5 today.",
                "Is rebar in?",
                "Yes!",
                "Safety",
                "- hard hats"
            ]
        );
        assert!(sentences("  \n ").is_empty());
        assert_eq!(sentences("no terminator"), vec!["no terminator"]);
    }

    #[test]
    fn content_words_drop_stop_words_and_single_letters_but_keep_numbers() {
        let got: Vec<String> = content_words("What is the company's slab on Level 3?").collect();
        assert_eq!(got, vec!["company", "slab", "level", "3"]);
        let got: Vec<String> = content_words("Béton coulé à 28 jours").collect();
        assert_eq!(got, vec!["béton", "coulé", "28", "jours"]);
    }
}
