//! How a request proves who it is: HMAC signatures (API 1.0) or bearer tokens (API 2.0).
//!
//! The client holds one [`Auth`] per tenant and asks it for headers before every attempt, so a
//! retried request is re-signed with a fresh date and request id, and a retried 2.0 request
//! picks up a refreshed token.

pub mod v1;
pub mod v2;

pub use v1::V1Signer;
pub use v2::TokenSource;
