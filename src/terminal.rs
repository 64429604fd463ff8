//! Text from the network, made safe to print on a terminal. Anyone on an
//! open stage can send a message; printed raw, its escape sequences would
//! act on the reader's terminal (move the cursor and rewrite earlier lines,
//! set the clipboard through OSC 52, plant hyperlinks) and bidi overrides
//! would show text other than what was sent. Such characters are shown as
//! `\u{..}` escapes instead, so what was sent is what is seen.

use std::borrow::Cow;

/// Whether `c` would act on a terminal or reorder text instead of showing:
/// C0 controls but tab, DEL, C1 controls, and the bidirectional
/// embeddings, overrides, isolates and marks.
fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every character that would act on a terminal written as a
/// visible escape (`\u{1b}`); borrowed when there is none.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts_on_terminal(c) {
            shown.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_overrides_become_visible() {
        assert_eq!(
            visible("\u{1b}]52;c;aGk=\u{7}hi"),
            "\\u{1b}]52;c;aGk=\\u{7}hi"
        );
        assert_eq!(visible("a\rb\nc"), "a\\u{d}b\\u{a}c");
        assert_eq!(visible("\u{9b}2J\u{7f}"), "\\u{9b}2J\\u{7f}");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(visible("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn ordinary_text_is_untouched_and_borrowed() {
        for text in ["hello", "tab\there", "héllo wörld ✓ 日本語", "emoji 🎉", ""] {
            assert!(matches!(visible(text), Cow::Borrowed(t) if t == text));
        }
    }
}
