//! The smallest request that proves a stream can be read: used by `check`.
//!
//! Each probe asks for one record of a short recent window (or the cheapest call the endpoint
//! has) and discards the answer. Nothing is written and no checkpoint moves.

use super::token_files::FEED_NO_RESULT;
use super::window::{self, body_date};
use super::{StreamError, StreamKind};
use crate::api::client::Download;
use crate::api::{ApiError, MimecastClient};
use crate::config::StreamConfig;
use serde_json::json;
use time::OffsetDateTime;

pub async fn probe(client: &MimecastClient, stream: &StreamConfig) -> Result<(), StreamError> {
    let kind = stream.kind;
    // A 403 names the exact permission of this stream (the api layer only knows the path).
    probe_api(client, stream).await.map_err(|e| match e {
        StreamError::Api(e) => {
            StreamError::Api(e.with_grant_hint(|| kind.grant_hint(client.api())))
        }
        other => other,
    })
}

async fn probe_api(client: &MimecastClient, stream: &StreamConfig) -> Result<(), StreamError> {
    let kind = stream.kind;
    let path = kind.spec().path;
    let now = OffsetDateTime::now_utc();
    let hour_ago = now - time::Duration::hours(1);
    match kind {
        StreamKind::SiemCg => {
            let t = stream
                .types
                .first()
                .map(String::as_str)
                .unwrap_or("receipt");
            let day = |d: OffsetDateTime| {
                format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
            };
            let (start, end) = (day(now), day(now + time::Duration::days(1)));
            client
                .get_siem(
                    path,
                    &[
                        ("type", t),
                        ("pageSize", "1"),
                        ("dateRangeStartsAt", &start),
                        ("dateRangeEndsAt", &end),
                    ],
                )
                .await?;
        }
        StreamKind::SiemMta => {
            // No smaller request exists: this may download one log file, which is discarded.
            match client
                .post_download(
                    path,
                    &json!({"data": [{"type": "MTA", "fileFormat": "json", "compress": true}]}),
                )
                .await?
            {
                Download::Envelope(env) => env.check(path)?,
                Download::File { .. } => {}
            }
        }
        StreamKind::ThreatIntel => {
            let feed = stream
                .feed_types
                .first()
                .map(String::as_str)
                .unwrap_or("malware_customer");
            let body = json!({"data": [{"feedType": feed, "fileType": "stix", "start": body_date(hour_ago), "end": body_date(now)}]});
            if let Download::Envelope(env) = client.post_download(path, &body).await? {
                if !env.has_failure_code(FEED_NO_RESULT) {
                    env.check(path)?;
                }
            }
        }
        StreamKind::Dashboard => {
            client
                .post(
                    path,
                    &json!({"meta": {"pagination": {"pageSize": 1}}, "data": []}),
                )
                .await?;
        }
        StreamKind::Directory => {
            client
                .post(super::snapshot::DOMAINS_PATH, &json!({"data": []}))
                .await?;
            if let Some(domain) = stream.domains.first() {
                client.post(path, &json!({"meta": {"pagination": {"pageSize": 1}}, "data": [{"domain": domain}]})).await?;
            }
        }
        _ => {
            let Some(spec) = window::spec(kind) else {
                return Err(ApiError::Request {
                    status: 0,
                    path: path.into(),
                    detail: "no probe for this stream".into(),
                }
                .into());
            };
            let body = json!({"meta": {"pagination": {"pageSize": 1}}, "data": [(spec.item)(hour_ago, now)]});
            client.post(path, &body).await?;
        }
    }
    Ok(())
}
