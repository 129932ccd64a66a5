//! The vocabulary file beside a PyTorch model: a JSON list of one-character strings in index order.

use super::PytorchError;

/// Parses a vocabulary JSON list (`["\n", " ", "a", …]`) into a string of its symbols.
///
/// # Errors
/// Not JSON, not a list of strings, or an entry that is not one character.
pub fn parse_vocab(json: &str) -> Result<String, PytorchError> {
    let entries: Vec<String> = serde_json::from_str(json)?;
    let mut vocab = String::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let mut chars = entry.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => vocab.push(c),
            _ => return Err(PytorchError::VocabEntry { index, entry }),
        }
    }
    Ok(vocab)
}

/// The vocabulary as a JSON list of one-character strings, in index order.
pub fn vocab_json(vocab: &str) -> String {
    let list: Vec<String> = vocab.chars().map(String::from).collect();
    // Serialising a list of strings cannot fail.
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_json_round_trips() {
        let v = "\n a\"é";
        assert_eq!(parse_vocab(&vocab_json(v)).ok().as_deref(), Some(v));
        assert!(matches!(
            parse_vocab(r#"["a", "bc"]"#),
            Err(PytorchError::VocabEntry { index: 1, .. })
        ));
        assert!(matches!(
            parse_vocab(r#"["a", ""]"#),
            Err(PytorchError::VocabEntry { index: 1, .. })
        ));
        assert!(matches!(
            parse_vocab(r#"{"a": 1}"#),
            Err(PytorchError::VocabJson(_))
        ));
    }
}
