//! Sets of source addresses, kept symbolic as sorted, disjoint, inclusive
//! ranges of one family's address space: evaluation splits them at every
//! source match instead of trying addresses one by one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSet {
    /// Address width in bytes: 4 or 16.
    width: usize,
    ranges: Vec<(u128, u128)>,
}

impl SourceSet {
    pub fn full(width: usize) -> Self {
        let max = Self::max_of(width);
        Self {
            width,
            ranges: vec![(0, max)],
        }
    }

    pub fn empty(width: usize) -> Self {
        Self {
            width,
            ranges: vec![],
        }
    }

    fn max_of(width: usize) -> u128 {
        if width >= 16 {
            u128::MAX
        } else {
            (1u128 << (width * 8)) - 1
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Addresses `from..=to` (big-endian bytes of the family's width).
    pub fn range(width: usize, from: &[u8], to: &[u8]) -> Self {
        let (a, b) = (number(from), number(to));
        let mut set = Self::empty(width);
        if a <= b {
            set.ranges.push((a, b.min(Self::max_of(width))));
        }
        set
    }

    /// Every address `a` with `a & mask == value & mask`, when the mask is a
    /// prefix; `None` for a mask with holes.
    pub fn masked(width: usize, mask: &[u8], value: &[u8]) -> Option<Self> {
        let m = number(mask);
        let max = Self::max_of(width);
        let host = !m & max;
        // A prefix mask: its host part is all ones below its network part.
        if host & host.wrapping_add(1) != 0 {
            return None;
        }
        let start = number(value) & m;
        Some(Self {
            width,
            ranges: vec![(start, start | host)],
        })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ranges == [(0, Self::max_of(self.width))]
    }

    /// How many addresses, as a fraction of the family's space.
    pub fn share(&self) -> f64 {
        let total = Self::max_of(self.width) as f64 + 1.0;
        let count: f64 = self.ranges.iter().map(|(a, b)| (b - a) as f64 + 1.0).sum();
        count / total
    }

    pub fn complement(&self) -> Self {
        let mut out = Self::empty(self.width);
        let mut next = 0u128;
        let mut done = false;
        for &(a, b) in &self.ranges {
            if a > next {
                out.ranges.push((next, a - 1));
            }
            match b.checked_add(1) {
                Some(n) => next = n,
                None => {
                    done = true;
                    break;
                }
            }
        }
        let max = Self::max_of(self.width);
        if !done && next <= max {
            out.ranges.push((next, max));
        }
        out
    }

    pub fn intersect(&self, other: &Self) -> Self {
        if other.is_full() {
            return self.clone();
        }
        if self.is_full() {
            return other.clone();
        }
        let mut out = Self {
            width: self.width,
            ranges: Vec::with_capacity(self.ranges.len() + other.ranges.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = self.ranges[i];
            let (c, d) = other.ranges[j];
            let (lo, hi) = (a.max(c), b.min(d));
            if lo <= hi {
                out.ranges.push((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    pub fn union(&self, other: &Self) -> Self {
        Self::union_all(self.width, [self, other])
    }

    /// The union of many sets at once (one sort, not one merge per set).
    pub fn union_all<'s>(width: usize, sets: impl IntoIterator<Item = &'s SourceSet>) -> Self {
        let mut all: Vec<(u128, u128)> = sets
            .into_iter()
            .flat_map(|s| s.ranges.iter().copied())
            .collect();
        all.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Self { width, ranges: out }
    }

    /// In one merge pass: no complement is built.
    pub fn minus(&self, other: &Self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        let mut j = 0;
        for &(a, b) in &self.ranges {
            let mut lo = a;
            // Ranges of `other` wholly below this one are done with.
            while j < other.ranges.len() && other.ranges[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            let mut rest = true;
            while k < other.ranges.len() && other.ranges[k].0 <= b {
                let (c, d) = other.ranges[k];
                if c > lo {
                    out.push((lo, c - 1));
                }
                match d.checked_add(1) {
                    Some(next) if next <= b => lo = next,
                    _ => {
                        rest = false;
                        break;
                    }
                }
                k += 1;
            }
            if rest {
                out.push((lo, b));
            }
        }
        Self {
            width: self.width,
            ranges: out,
        }
    }

    /// As CIDR blocks (`10.0.0.0/8`), a range that is not one block as
    /// `first-last`.
    pub fn describe(&self) -> Vec<String> {
        self.ranges
            .iter()
            .map(|&(a, b)| {
                let bits = (self.width * 8) as u32;
                let size = b - a;
                let aligned = size.checked_add(1).is_none_or(|n| n.is_power_of_two())
                    && (size == u128::MAX || a & size == 0);
                if aligned {
                    let host_bits = 128 - size.leading_zeros();
                    format!("{}/{}", self.address(a), bits - host_bits.min(bits))
                } else {
                    format!("{}-{}", self.address(a), self.address(b))
                }
            })
            .collect()
    }

    fn address(&self, n: u128) -> IpAddr {
        if self.width == 4 {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let n = match addr {
            IpAddr::V4(a) if self.width == 4 => u32::from(a) as u128,
            IpAddr::V6(a) if self.width == 16 => u128::from(a),
            _ => return false,
        };
        self.ranges.iter().any(|&(a, b)| a <= n && n <= b)
    }
}

/// Big-endian bytes as a number (at most 16 of them are read).
pub fn number(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .take(16)
        .fold(0u128, |n, &b| (n << 8) | b as u128)
}

#[cfg(test)]
mod tests {
    use super::SourceSet;

    /// Small sets over a 1-byte space, every pair of a few hundred: the
    /// merge-pass `minus` against the definition (intersect the
    /// complement), and `intersect` against address-by-address truth.
    #[test]
    fn minus_and_intersect_agree_with_their_definitions() {
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut sets = vec![SourceSet::full(1), SourceSet::empty(1)];
        for _ in 0..200 {
            let mut set = SourceSet::empty(1);
            for _ in 0..(next() % 5) {
                let (a, b) = ((next() % 256) as u8, (next() % 256) as u8);
                set = set.union(&SourceSet::range(1, &[a.min(b)], &[a.max(b)]));
            }
            sets.push(set);
        }
        let has = |s: &SourceSet, n: u128| s.ranges.iter().any(|&(a, b)| a <= n && n <= b);
        for x in &sets {
            for y in &sets {
                assert_eq!(x.minus(y), x.intersect(&y.complement()), "{x:?} - {y:?}");
                let both = x.intersect(y);
                for n in 0..256 {
                    assert_eq!(
                        has(&both, n),
                        has(x, n) && has(y, n),
                        "{x:?} & {y:?} at {n}"
                    );
                }
            }
        }
    }
}
