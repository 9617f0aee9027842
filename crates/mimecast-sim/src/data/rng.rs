//! A tiny seeded PRNG (splitmix64) keyed by (seed, tenant, stream, index).
//!
//! WHY: record `i` must be generated on demand, without generating records `0..i` first, so
//! that a page of a 1,000,000-record backlog costs O(page). A counter-based generator keyed by
//! the record's coordinates gives that, and is byte-for-byte stable across runs and platforms.

use base64::Engine as _;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One splitmix64 step.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over some byte strings (with separators), mixed with a seed.
pub fn hash_parts(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    let mut s = h;
    splitmix64(&mut s)
}

/// Generator for one record.
#[derive(Debug, Clone)]
pub struct Rng {
    base: u64,
    index: u64,
    state: u64,
}

impl Rng {
    pub fn for_record(seed: u64, tenant: &str, stream: &str, index: u64) -> Rng {
        let base = hash_parts(seed, &[tenant.as_bytes(), stream.as_bytes()]);
        let mut s = base ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        splitmix64(&mut s);
        Rng {
            base,
            index,
            state: s,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.state)
    }

    /// Uniform in `0..n` (n > 0; 0 yields 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive.saturating_sub(lo) + 1)
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// True with probability `pct`%.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    pub fn hex(&mut self, n_chars: usize) -> String {
        let mut s = String::with_capacity(n_chars);
        while s.len() < n_chars {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n_chars);
        s
    }

    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// A documentation-range IPv4 address (RFC 5737).
    pub fn ip(&mut self) -> String {
        let net = *self.pick(&["192.0.2", "198.51.100", "203.0.113"]);
        format!("{net}.{}", self.range(1, 254))
    }

    /// An id unique per (seed, tenant, stream, index): URL-safe base64 of the coordinates plus
    /// random bytes, in the style of Mimecast's `eNq…` ids.
    pub fn uid(&mut self) -> String {
        let mut b = Vec::with_capacity(24);
        b.extend_from_slice(&self.base.to_be_bytes());
        b.extend_from_slice(&self.index.to_be_bytes());
        b.extend_from_slice(&self.next_u64().to_be_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_keyed() {
        let a = Rng::for_record(42, "t", "s", 7).next_u64();
        assert_eq!(a, Rng::for_record(42, "t", "s", 7).next_u64());
        assert_ne!(a, Rng::for_record(42, "t", "s", 8).next_u64());
        assert_ne!(a, Rng::for_record(43, "t", "s", 7).next_u64());
        assert_ne!(a, Rng::for_record(42, "u", "s", 7).next_u64());
        let mut r = Rng::for_record(1, "t", "s", 0);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
        }
        assert_ne!(
            Rng::for_record(42, "t", "s", 1).uid(),
            Rng::for_record(42, "t", "s", 2).uid()
        );
    }
}
