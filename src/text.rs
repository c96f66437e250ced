//! Text for messages.

/// `text` cut to its first `max_chars` characters, with `...` when something was cut.
pub fn abbreviate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::abbreviate;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(abbreviate("héllo wörld", 5), "héllo...");
        assert_eq!(abbreviate("short", 5), "short");
        assert_eq!(abbreviate("", 5), "");
    }
}
