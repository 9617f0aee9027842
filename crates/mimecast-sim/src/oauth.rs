//! API 2.0 OAuth2 client-credentials tokens (docs/mimecast-api.md#api-20-oauth2).
//!
//! WHY: the collector must fetch a token once, reuse it, refresh it before `expires_in` and
//! recover from a 401 `token_expired`. This module issues tokens that really expire after
//! `token_ttl`, can all be revoked at once ([`crate::Simulator::expire_tokens`]), and counts
//! issuances so tests can assert "fetched once".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::envelope::ApiError;

/// Decodes `application/x-www-form-urlencoded` text (also used for query strings).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-decoding with `+` as space; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone)]
struct Token {
    tenant: usize,
    expires: Instant,
    revoked: bool,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Expired,
}

impl TokenError {
    /// 401 error. The exact v2 code string is UNCONFIRMED (docs/mimecast-api.md#api-20-oauth2: a
    /// guide names `token_expired`).
    pub fn to_api_error(self) -> ApiError {
        match self {
            TokenError::Unknown => {
                ApiError::new(401, "token_invalid", "The access token is invalid")
            }
            TokenError::Expired => {
                ApiError::new(401, "token_expired", "The access token has expired")
            }
        }
    }
}

/// Issued tokens.
#[derive(Debug, Default)]
pub struct TokenStore {
    tokens: HashMap<String, Token>,
    issued: u64,
    seed: u64,
}

impl TokenStore {
    pub fn new(seed: u64) -> Self {
        TokenStore {
            seed,
            ..Default::default()
        }
    }

    /// Issues a token for tenant index `tenant`, valid for `ttl`.
    pub fn issue(&mut self, tenant: usize, ttl: Duration, now: Instant) -> String {
        self.issued += 1;
        // Drop long-dead tokens so the map stays small in long demos.
        self.tokens
            .retain(|_, t| now.saturating_duration_since(t.expires) < Duration::from_secs(3600));
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(self.issued.to_le_bytes());
        h.update((tenant as u64).to_le_bytes());
        h.update(format!("{now:?}").as_bytes());
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
        self.tokens.insert(
            token.clone(),
            Token {
                tenant,
                expires: now + ttl,
                revoked: false,
            },
        );
        token
    }

    /// Tenant a token was issued to, whether or not it is still valid (for attribution).
    pub fn owner(&self, token: &str) -> Option<usize> {
        self.tokens.get(token).map(|t| t.tenant)
    }

    pub fn check(&self, token: &str, now: Instant) -> Result<usize, TokenError> {
        let t = self.tokens.get(token).ok_or(TokenError::Unknown)?;
        if t.revoked || now >= t.expires {
            return Err(TokenError::Expired);
        }
        Ok(t.tenant)
    }

    pub fn expire_all(&mut self) {
        for t in self.tokens.values_mut() {
            t.revoked = true;
        }
    }

    pub fn issued(&self) -> u64 {
        self.issued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let f =
            parse_form("client_id=a%2Bb&client_secret=x+y&grant_type=client_credentials&bad=%zz&e");
        assert_eq!(f[0], ("client_id".into(), "a+b".into()));
        assert_eq!(f[1], ("client_secret".into(), "x y".into()));
        assert_eq!(f[3], ("bad".into(), "%zz".into()));
        assert_eq!(f[4], ("e".into(), "".into()));
        assert_eq!(percent_decode("url%20protect"), "url protect");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let mut s = TokenStore::new(1);
        let t0 = Instant::now();
        let a = s.issue(0, Duration::from_secs(10), t0);
        assert_eq!(s.check(&a, t0), Ok(0));
        assert_eq!(
            s.check(&a, t0 + Duration::from_secs(10)),
            Err(TokenError::Expired)
        );
        assert_eq!(s.check("nope", t0), Err(TokenError::Unknown));
        let b = s.issue(1, Duration::from_secs(10), t0);
        assert_ne!(a, b);
        s.expire_all();
        assert_eq!(s.check(&b, t0), Err(TokenError::Expired));
        assert_eq!(s.issued(), 2);
    }
}
