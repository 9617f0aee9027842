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
        StreamKind::SiemCg | StreamKind::SiemCi => {
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
            match spec.wire {
                window::Wire::Envelope { item, .. } => {
                    let body = json!({"meta": {"pagination": {"pageSize": 1}}, "data": [item(hour_ago, now)]});
                    client.post(path, &body).await?;
                }
                window::Wire::Rest { query } => {
                    // The smallest page each route accepts (reported emails: 25).
                    let size = if kind == StreamKind::ReportedEmails {
                        25
                    } else {
                        1
                    };
                    let query = query(hour_ago, now, size);
                    let page = client.get_rest(path, &super::driver::pairs(&query)).await?;
                    // Threats: one details call proves the details route is granted too.
                    if spec.details {
                        probe_details(client, &page).await?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The details of the first threat listed, if any: a 404 for that one threat is fine (it may
/// have aged out), anything else is what `run` would meet.
async fn probe_details(
    client: &MimecastClient,
    page: &crate::api::RestPage,
) -> Result<(), StreamError> {
    let requests = super::threat_details::requests(&page.items)?;
    if let Some(Some(super::Detail {
        request: super::Request::GetOne { path, query },
        ..
    })) = requests.into_iter().next()
    {
        match client
            .get_rest_one(&path, &super::driver::pairs(&query))
            .await
        {
            Ok(_) | Err(ApiError::Request { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
