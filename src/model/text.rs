//! Byte strings from the kernel, kept losslessly and shown safely.
//!
//! Process names, command lines and executable paths are arbitrary bytes: a
//! process can write an escape sequence or a newline into its own `comm`.
//! [`ByteText`] keeps the bytes exactly and renders them as UTF-8 text in
//! which every byte that is not printable UTF-8 (invalid sequences, control
//! characters) and the backslash itself are escaped (`\xNN`, `\\`), so the
//! rendering can be parsed back to the original bytes and never injects
//! terminal or markup control into a report.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shared, immutable bytes: one process's name appears in every holder
/// entry of every socket it holds, so clones must be cheap.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteText(Arc<[u8]>);

impl ByteText {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        ByteText(bytes.into().into())
    }

    /// The text itself when it needs no escaping (the common case).
    fn as_plain_str(&self) -> Option<&str> {
        let s = std::str::from_utf8(&self.0).ok()?;
        (!s.chars().any(|c| c == '\\' || c.is_control())).then_some(s)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The escaped, printable rendering (see the module docs).
    pub fn escaped(&self) -> String {
        if let Some(plain) = self.as_plain_str() {
            return plain.to_owned();
        }
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => push_escaped_char(&mut out, c),
                    c => out.push(c),
                }
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }

    /// [`ByteText::escaped`] of at most the first `max` bytes; when more
    /// were there, the text ends in a marker saying how many were cut
    /// (`…[+1900000 bytes]`). Reports bound what a process controls this
    /// way; the JSON inventory keeps the whole.
    pub fn escaped_bounded(&self, max: usize) -> String {
        if self.0.len() <= max {
            return self.escaped();
        }
        let mut cut = max;
        // Cut before a partial UTF-8 sequence, not inside it.
        while cut > 0 && cut < self.0.len() && (self.0[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        let mut out = ByteText::new(self.0[..cut].to_vec()).escaped();
        out.push_str(&format!("…[+{} bytes]", self.0.len() - cut));
        out
    }

    /// Inverse of [`ByteText::escaped`]; `None` when `text` holds an escape
    /// that `escaped` never writes.
    pub fn parse_escaped(text: &str) -> Option<Self> {
        let mut out = Vec::with_capacity(text.len());
        let mut rest = text;
        // The text between escapes is copied as it is: most texts have none.
        while let Some(at) = rest.find('\\') {
            out.extend_from_slice(&rest.as_bytes()[..at]);
            let mut chars = rest[at + 1..].chars();
            match chars.next()? {
                '\\' => out.push(b'\\'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).ok()?);
                }
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => return None,
            }
            rest = chars.as_str();
        }
        out.extend_from_slice(rest.as_bytes());
        Some(ByteText::new(out))
    }
}

/// Control characters below 0x100 are written as `\xNN` of their single
/// byte; the C1 range (U+0080..U+009F) is two bytes in UTF-8, so it is
/// written as `\uNNNN` to stay reversible.
/// `\xNN` below 0x80, else `\uNNNN`: the one spelling of an escaped
/// character, in the inventory and in every report.
pub(crate) fn push_escaped_char(out: &mut String, c: char) {
    if (c as u32) < 0x80 {
        out.push_str(&format!("\\x{:02x}", c as u32));
    } else {
        out.push_str(&format!("\\u{:04x}", c as u32));
    }
}

impl From<&str> for ByteText {
    fn from(s: &str) -> Self {
        ByteText::new(s.as_bytes())
    }
}

impl fmt::Display for ByteText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.escaped())
    }
}

impl fmt::Debug for ByteText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.escaped())
    }
}

impl Serialize for ByteText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_plain_str() {
            Some(plain) => s.serialize_str(plain),
            None => s.serialize_str(&self.escaped()),
        }
    }
}

impl<'de> Deserialize<'de> for ByteText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read where the input holds it, without copying it into a String
        // first (fleet inventories hold 2 KiB command lines).
        struct Escaped;
        impl serde::de::Visitor<'_> for Escaped {
            type Value = ByteText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, bytes that are not printable UTF-8 escaped")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteText, E> {
                ByteText::parse_escaped(text)
                    .ok_or_else(|| E::custom(format!("bad escape in {text:?}")))
            }
        }
        d.deserialize_str(Escaped)
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with the same
/// marker as [`ByteText::escaped_bounded`] when it was cut: for texts that
/// are already strings (plugin messages).
pub fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…[+{} bytes]", &text[..cut], text.len() - cut).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_texts_say_what_was_cut() {
        let long = ByteText::new(vec![b'a'; 5000]);
        assert_eq!(long.escaped_bounded(3), "aaa…[+4997 bytes]");
        assert_eq!(ByteText::from("short").escaped_bounded(64), "short");
        let accented = ByteText::from("éé");
        assert_eq!(
            accented.escaped_bounded(3),
            "é…[+2 bytes]",
            "never inside a character"
        );
        assert_eq!(bounded("abcdef", 4), "abcd…[+2 bytes]");
        assert_eq!(bounded("ab", 4), "ab");
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(ByteText::from("nginx: worker").escaped(), "nginx: worker");
        assert_eq!(ByteText::from("naïve").escaped(), "naïve");
    }

    #[test]
    fn control_invalid_and_backslash_are_escaped() {
        let t = ByteText::new(b"a\x1b[31m\nb\\\xff\xc3".to_vec());
        assert_eq!(t.escaped(), "a\\x1b[31m\\x0ab\\\\\\xff\\xc3");
        let c1 = ByteText::new("x\u{85}y".as_bytes().to_vec());
        assert_eq!(c1.escaped(), "x\\u0085y");
    }

    #[test]
    fn escaping_round_trips_any_bytes() {
        let all: Vec<u8> = (0..=255u8).chain("é\u{85}\\x41".bytes()).collect();
        let t = ByteText::new(all);
        assert_eq!(ByteText::parse_escaped(&t.escaped()), Some(t.clone()));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<ByteText>(&json).unwrap(), t);
    }
}
