//! Tenant sharding: N instances on N machines split one config without talking to each other.
//!
//! Each instance decides alone which tenants are its own, so the assignment must come out the
//! same on every machine, architecture, Rust version and release of this program. It depends
//! on the tenant's name and N only: the first 8 bytes of SHA-256 of the name, read as a
//! big-endian unsigned number, modulo N, plus one. SHA-256 is fixed by a standard (std's
//! `DefaultHasher` is not: its algorithm may change between Rust releases); the unit tests pin
//! a few names to their shards so an accidental change fails. Whatever else changes in the
//! config (other tenants, their order, credentials), a tenant stays on its shard; changing N
//! moves tenants (README "Scaling out" says how to re-shard).

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// More shards than this is a typo, not a deployment.
pub const MAX_SHARDS: u32 = 1024;

/// `K/N`: this instance is shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not a shard: write K/N, e.g. \"2/4\" for the second of four shards")]
    Syntax(String),
    #[error("{0:?}: the number of shards must be 1 to {MAX_SHARDS}")]
    Count(String),
    #[error("{text:?}: the shard must be 1 to {count} (shards are numbered from 1)")]
    Index { text: String, count: u32 },
}

impl Shard {
    /// Not sharded: one instance collects every tenant.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    pub fn new(index: u32, count: u32) -> Option<Shard> {
        ((1..=MAX_SHARDS).contains(&count) && (1..=count).contains(&index))
            .then_some(Shard { index, count })
    }

    /// K, from 1.
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this shard collects the tenant of that name.
    pub fn owns(self, tenant: &str) -> bool {
        owner(tenant, self.count) == self.index
    }
}

/// The shard (1 to `count`) that collects the tenant of that name, among `count` shards.
pub fn owner(tenant: &str, count: u32) -> u32 {
    let digest = Sha256::digest(tenant.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let h = u64::from_be_bytes(first);
    // count >= 1, and the remainder is below it, so it fits a u32.
    (h % u64::from(count.max(1))) as u32 + 1
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_string());
        let (k, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let number = |s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // Digits only: the one failure left is a number too large for u32.
            Ok(s.parse::<u32>().unwrap_or(u32::MAX))
        };
        let (index, count) = (number(k)?, number(n)?);
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(ShardError::Count(text.to_string()));
        }
        Shard::new(index, count).ok_or(ShardError::Index {
            text: text.to_string(),
            count,
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(" 1/1 ".parse(), Ok(Shard::ALL));
        assert_eq!(
            "1024/1024".parse::<Shard>().map(Shard::count),
            Ok(MAX_SHARDS)
        );
        for bad in [
            "", "2", "a/b", "2/", "/4", "2/4/8", "-1/4", "+1/4", "1.0/4", "2 / x",
        ] {
            assert!(
                matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))),
                "{bad:?}"
            );
        }
        for bad in ["1/0", "0/0", "1/1025", "1/99999999999"] {
            assert!(
                matches!(bad.parse::<Shard>(), Err(ShardError::Count(_))),
                "{bad:?}"
            );
        }
        for bad in ["0/4", "5/4", "99999999999/4"] {
            assert!(
                matches!(
                    bad.parse::<Shard>(),
                    Err(ShardError::Index { count: 4, .. })
                ),
                "{bad:?}"
            );
        }
        let e = "5/4".parse::<Shard>().unwrap_err().to_string();
        assert!(e.contains("1 to 4"), "{e}");
        assert_eq!(Shard { index: 2, count: 4 }.to_string(), "2/4");
    }

    /// The assignment is part of the deployment contract: instances of different releases on
    /// different machines must agree. These values were computed once (SHA-256, first 8 bytes,
    /// big-endian, mod N, + 1) and must never change.
    #[test]
    fn assignment_is_pinned() {
        for (name, n, shard) in PINNED {
            assert_eq!(owner(name, *n), *shard, "{name} among {n}");
        }
        for name in ["acme", "globex", "x"] {
            assert_eq!(owner(name, 1), 1);
        }
    }

    /// Computed apart from this code (Python's hashlib), not by it.
    const PINNED: &[(&str, u32, u32)] = &[
        ("acme", 4, 1),
        ("acme", 1024, 161),
        ("globex", 2, 2),
        ("globex", 4, 4),
        ("globex", 16, 8),
        ("globex", 1024, 1000),
        ("initech", 4, 4),
        ("initech", 16, 4),
        ("initech", 1024, 772),
        ("umbrella", 2, 1),
        ("umbrella", 1024, 801),
        ("tenant-01", 16, 13),
        ("tenant-01", 1024, 397),
    ];

    #[test]
    fn every_tenant_has_exactly_one_shard() {
        let names: Vec<String> = (0..200).map(|i| format!("tenant-{i:03}")).collect();
        for n in [1, 2, 3, 4, 7, 16] {
            let shards: Vec<Shard> = (1..=n).map(|k| Shard::new(k, n).unwrap()).collect();
            for name in &names {
                assert_eq!(
                    shards.iter().filter(|s| s.owns(name)).count(),
                    1,
                    "{name} among {n}"
                );
            }
        }
    }
}
