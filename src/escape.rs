//! One way to show text that came from outside — a name from a PBX, a target's listing, a
//! command's output — to a person: on a terminal, in a log, in the Markdown runbook, in a
//! notification. Such text is data: an escape sequence in it must never reach a terminal
//! (it could retitle the window, hide lines, or fake output), and a bidi override must never
//! reorder what an operator reads.
//!
//! Every character that is a control (C0, DEL, C1), a bidi control, an invisible format
//! character or a line or paragraph separator is shown as `\u{…}`, and a backslash as `\\`,
//! so that the escaped form is unambiguous. Everything else, accents and CJK included, is
//! shown as it is.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must never be shown raw: a control character, a bidi control, an invisible
/// format character, or a line or paragraph separator.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // bidi: LRM, RLM, ALM, embeddings and overrides, isolates
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            // zero-width and invisible: ZWSP, ZWNJ, ZWJ, word joiner, invisible operators, BOM
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
            // soft hyphen, line and paragraph separators, interlinear annotations
            | '\u{00AD}' | '\u{2028}' | '\u{2029}' | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `s` as it may be shown to a person: unchanged when it holds nothing unsafe (the usual
/// case, without a copy), else with every unsafe character as `\u{…}` and `\` as `\\`.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes of unknown encoding (a command's stderr) as text to show: invalid UTF-8 replaced,
/// then escaped like [`text`], except that line breaks and tabs are kept (output is read
/// line by line).
pub fn lines(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b.strip_suffix('\r').unwrap_or(b), "\n"),
            None => (line, ""),
        };
        for part in body.split('\t').enumerate() {
            if part.0 > 0 {
                out.push('\t');
            }
            out.push_str(&text(part.1));
        }
        out.push_str(nl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_not_copied() {
        assert!(matches!(text("3CXScheduledBackup.zip"), Cow::Borrowed(_)));
        assert!(matches!(text("Sauvegarde été 東京.zip"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_bidi_and_invisibles_are_escaped() {
        assert_eq!(text("a\u{1b}]0;pwned\u{7}b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(text("x\ny"), "x\\u{a}y");
        assert_eq!(text("evil\u{202E}piz.exe"), "evil\\u{202e}piz.exe");
        assert_eq!(text("a\u{200B}b\u{FEFF}"), "a\\u{200b}b\\u{feff}");
        assert_eq!(text("c:\\x"), "c:\\\\x");
        assert_eq!(text("\u{9b}31m"), "\\u{9b}31m");
        for c in ['\u{0}', '\u{7f}', '\u{2028}', '\u{2066}', '\u{ad}'] {
            assert!(is_unsafe(c), "{c:?}");
            assert!(!text(&format!("a{c}b")).contains(c));
        }
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_their_escapes() {
        assert_eq!(
            lines(b"error: \x1b[31mred\x1b[0m\r\nnext\tcol\n\xff"),
            "error: \\u{1b}[31mred\\u{1b}[0m\nnext\tcol\n\u{fffd}"
        );
    }
}
