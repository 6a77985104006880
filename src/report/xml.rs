//! Making text safe for XML 1.0. Process names, command lines and plugin
//! messages come from the image under test and are not trusted: XML 1.0
//! forbids most control characters even as character references, so they
//! are replaced by a visible `\xNN` (or `\uNNNN`) escape, the spelling the
//! inventory uses. Escaping of `<`, `&`, quotes
//! and `>` (so `]]>` cannot end anything) is quick-xml's job.

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` in a document.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` with every character XML 1.0 forbids spelled out.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if allowed(c) {
            out.push(c);
        } else {
            crate::model::text::push_escaped_char(&mut out, c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_spelled_out() {
        assert_eq!(sanitize("nginx"), "nginx");
        assert_eq!(sanitize("a\u{1}b\u{0}"), "a\\x01b\\x00");
        assert_eq!(sanitize("esc\u{1b}[2J"), "esc\\x1b[2J");
        assert_eq!(sanitize("tab\tnl\n"), "tab\tnl\n");
        assert_eq!(sanitize("\u{FFFE}"), "\\ufffe");
        assert_eq!(sanitize("ünïcode ✓ 𝄞"), "ünïcode ✓ 𝄞");
    }
}
