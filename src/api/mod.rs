//! Talking to Mimecast: hosts, authentication, envelopes, typed errors, rate limits, retries.
//!
//! Streams see one thing, [`MimecastClient`]: "POST this body to this path and give me the
//! envelope", with signing or tokens, the tenant's limiter, retries and error mapping done
//! beneath. Facts about the real API that no source settled are kept in `hosts` (hosts),
//! `envelope` (response shapes) and `crate::streams` (endpoints and permissions).

pub mod auth;
pub mod client;
pub mod envelope;
pub mod error;
pub mod hosts;
pub mod limiter;
pub mod login;
pub mod response;
pub mod rest;
pub mod retry;

pub use client::{ClientStats, Download, HttpSettings, MimecastClient, Streamed};
pub use envelope::{Envelope, SiemPage};
pub use error::ApiError;
pub use rest::{Next, RestPage};
