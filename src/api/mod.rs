//! Talking to Mimecast: authentication, envelopes, typed errors, rate limits, retries.
//!
//! Streams see one thing, [`MimecastClient`]: "POST this body to this path and give me the
//! envelope", with signing or tokens, the tenant's limiter, retries and error mapping done
//! beneath. Facts about the real API that no source settled are kept in `crate::catalog` (hosts,
//! endpoints and permissions) and `envelope` (response shapes).

pub mod auth;
pub mod client;
pub mod envelope;
pub mod error;
pub mod limiter;
pub mod login;
pub mod response;
pub mod rest;
pub mod retry;

pub use client::{ClientStats, Download, HttpSettings, MimecastClient, Streamed};
pub use envelope::{Envelope, SiemPage};
pub use error::ApiError;
pub use rest::{Next, RestPage};
