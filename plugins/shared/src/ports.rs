//! Ports as people write them: `22` or `8000-8080`.

/// A port text that is not a port or a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Neither a port (0-65535) nor `lo-hi`.
    NotAPort(String),
    /// `hi-lo`.
    Backwards(String),
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortError::NotAPort(text) => {
                write!(f, "port {text:?} is not a port or a \"lo-hi\" range")
            }
            PortError::Backwards(text) => write!(f, "port range {text:?} is backwards"),
        }
    }
}

impl std::error::Error for PortError {}

/// `22` → (22, 22); `8000-8080` → (8000, 8080). Spaces around the parts are
/// allowed.
pub fn parse_range(text: &str) -> Result<(u16, u16), PortError> {
    let bad = || PortError::NotAPort(text.to_owned());
    let text_trimmed = text.trim();
    let (lo, hi) = match text_trimmed.split_once('-') {
        Some((lo, hi)) => (lo.trim(), hi.trim()),
        None => (text_trimmed, text_trimmed),
    };
    let (lo, hi): (u16, u16) = (
        lo.parse().map_err(|_| bad())?,
        hi.parse().map_err(|_| bad())?,
    );
    if lo > hi {
        return Err(PortError::Backwards(text.to_owned()));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_range("22"), Ok((22, 22)));
        assert_eq!(parse_range(" 8000 - 8080 "), Ok((8000, 8080)));
        assert_eq!(parse_range("0-65535"), Ok((0, 65535)));
        assert_eq!(
            parse_range("80-22"),
            Err(PortError::Backwards("80-22".into()))
        );
        assert_eq!(
            parse_range("65536"),
            Err(PortError::NotAPort("65536".into()))
        );
        assert_eq!(parse_range("http"), Err(PortError::NotAPort("http".into())));
        assert_eq!(
            parse_range("1-2-3"),
            Err(PortError::NotAPort("1-2-3".into()))
        );
    }
}
