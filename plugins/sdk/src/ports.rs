//! Port sets written the way people write them: `22`, `8000-8080`, lists.

use serde::Deserialize;

/// A set of port ranges. Deserialises from a number, a `"lo-hi"` string, or a
/// list of either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    pub fn new(ranges: impl IntoIterator<Item = (u16, u16)>) -> Self {
        PortSet(ranges.into_iter().collect())
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `22`, `8000-8080` or `22,80,8000-8080`.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(|part| parse_range(part.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(PortSet)
    }
}

fn parse_range(part: &str) -> Result<(u16, u16), String> {
    portcullis_shared::ports::parse_range(part).map_err(|e| e.to_string())
}

impl<'de> Deserialize<'de> for PortSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One {
            Port(u16),
            Text(String),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Many {
            One(One),
            List(Vec<One>),
        }
        let items = match Many::deserialize(d)? {
            Many::One(one) => vec![one],
            Many::List(list) => list,
        };
        let mut ranges = Vec::new();
        for item in items {
            match item {
                One::Port(p) => ranges.push((p, p)),
                One::Text(t) => {
                    ranges.extend(PortSet::parse(&t).map_err(serde::de::Error::custom)?.0)
                }
            }
        }
        Ok(PortSet(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let set: PortSet = serde_json::from_str(r#"[22, "8000-8080", "443"]"#).unwrap();
        assert!(set.contains(22) && set.contains(8000) && set.contains(8080) && set.contains(443));
        assert!(!set.contains(23) && !set.contains(8081));
        assert_eq!(
            PortSet::parse("5900-5999, 6000").unwrap(),
            PortSet::new([(5900, 5999), (6000, 6000)])
        );
        assert!(PortSet::parse("90-80").unwrap_err().contains("backwards"));
        assert!(serde_json::from_str::<PortSet>(r#""ssh""#).is_err());
    }
}
