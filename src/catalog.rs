//! The catalog of streams: which API versions serve each, the endpoint it calls, and the
//! permission (API 1.0) or product (API 2.0) it needs.
//!
//! A leaf module on purpose: `config` validates against it, `check` prints it,
//! `normalize` names streams by it, and none of them need the stream machinery for that.

use std::fmt;

/// Which Mimecast API a tenant uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// HMAC-SHA1 signed requests on a regional host (legacy; MIMECAST.md §1).
    V1,
    /// OAuth2 client credentials on the API gateway (MIMECAST.md §6).
    V2,
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        })
    }
}

/// One stream of the contract (DESIGN.md "Streams").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    SiemCg,
    SiemMta,
    TtpUrl,
    TtpAttachment,
    TtpImpersonation,
    ThreatIntel,
    Audit,
    ArchiveSearch,
    ArchiveSearchLogs,
    MessageTracking,
    Dashboard,
    Directory,
}

/// What a stream needs from Mimecast.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub name: &'static str,
    /// The endpoint the stream polls (POST for `/api/...`, GET for `/siem/...`).
    pub path: &'static str,
    pub v1: bool,
    pub v2: bool,
    /// The role permission the service user (1.0) or application (2.0) must hold.
    pub permission: &'static str,
    /// The API 2.0 product the application must be granted in the Admin Console (§6.3).
    pub v2_product: &'static str,
}

impl StreamKind {
    pub const ALL: [StreamKind; 12] = [
        StreamKind::SiemCg,
        StreamKind::SiemMta,
        StreamKind::TtpUrl,
        StreamKind::TtpAttachment,
        StreamKind::TtpImpersonation,
        StreamKind::ThreatIntel,
        StreamKind::Audit,
        StreamKind::ArchiveSearch,
        StreamKind::ArchiveSearchLogs,
        StreamKind::MessageTracking,
        StreamKind::Dashboard,
        StreamKind::Directory,
    ];

    pub fn spec(self) -> &'static StreamSpec {
        use StreamKind::*;
        match self {
            // §6.4: batch SIEM files, API 2.0 only.
            SiemCg => &StreamSpec {
                name: "siem_cg",
                path: "/siem/v1/batch/events/cg",
                v1: false,
                v2: true,
                permission:
                    "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read",
                v2_product: "Threats, Security Events and Data for CG",
            },
            // §4.2: not served on the 2.0 gateway (§6.3).
            SiemMta => &StreamSpec {
                name: "siem_mta",
                path: "/api/audit/get-siem-logs",
                v1: true,
                v2: false,
                permission:
                    "Gateway | Tracking | Read (and Enhanced Logging enabled in Account Settings)",
                v2_product: "(not available on API 2.0)",
            },
            TtpUrl => &StreamSpec {
                name: "ttp_url",
                path: "/api/ttp/url/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | URL Protection | Read",
                v2_product: "Security Events",
            },
            TtpAttachment => &StreamSpec {
                name: "ttp_attachment",
                path: "/api/ttp/attachment/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | Attachment Protection | Read",
                v2_product: "Security Events",
            },
            TtpImpersonation => &StreamSpec {
                name: "ttp_impersonation",
                path: "/api/ttp/impersonation/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | Impersonation Protection | Read",
                v2_product: "Security Events",
            },
            ThreatIntel => &StreamSpec {
                name: "threat_intel",
                path: "/api/ttp/threat-intel/get-feed",
                v1: true,
                v2: true,
                permission: "Services | Gateway | Tracking | Read",
                v2_product: "Threat Management",
            },
            Audit => &StreamSpec {
                name: "audit",
                path: "/api/audit/get-audit-events",
                v1: true,
                v2: true,
                permission: "Account | Logs | Read",
                v2_product: "Audit Events",
            },
            ArchiveSearch => &StreamSpec {
                name: "archive_search",
                path: "/api/archive/search",
                v1: true,
                v2: true,
                permission: "Archive | Search | Read",
                v2_product: "Archive Data Access",
            },
            ArchiveSearchLogs => &StreamSpec {
                name: "archive_search_logs",
                path: "/api/archive/get-archive-search-logs",
                v1: true,
                v2: true,
                permission: "Archive | Search Logs | Read",
                v2_product: "Audit Events",
            },
            MessageTracking => &StreamSpec {
                name: "message_tracking",
                path: "/api/message-finder/search",
                v1: true,
                v2: true,
                permission: "Gateway | Tracking | Read",
                v2_product: "Cloud Gateway",
            },
            Dashboard => &StreamSpec {
                name: "dashboard",
                path: "/api/account/get-dashboard-notifications",
                v1: true,
                v2: true,
                permission: "Account | Dashboard | Read",
                v2_product: "Account Management",
            },
            Directory => &StreamSpec {
                name: "directory",
                path: "/api/user/get-internal-users",
                v1: true,
                v2: true,
                permission: "Directories | Internal | Read",
                v2_product: "User and Group Management",
            },
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(name: &str) -> Option<StreamKind> {
        StreamKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn supports(self, api: ApiVersion) -> bool {
        match api {
            ApiVersion::V1 => self.spec().v1,
            ApiVersion::V2 => self.spec().v2,
        }
    }

    /// What an administrator must grant for this stream, phrased for the API in use.
    pub fn grant_hint(self, api: ApiVersion) -> String {
        let spec = self.spec();
        match api {
            ApiVersion::V1 => format!(
                "grant the service user's role the permission \"{}\"",
                spec.permission
            ),
            ApiVersion::V2 => format!(
                "grant the API 2.0 application the product \"{}\" with the permission \"{}\"",
                spec.v2_product, spec.permission
            ),
        }
    }
}

impl fmt::Display for StreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SIEM event types of the CG batch route (§6.4). They contain spaces and are URL-encoded.
pub const SIEM_CG_TYPES: [&str; 10] = [
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
];

/// Threat-intel feed types (§4.7).
pub const THREAT_FEED_TYPES: [&str; 2] = ["malware_customer", "malware_grid"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in StreamKind::ALL {
            assert_eq!(StreamKind::from_name(k.name()), Some(k));
            assert!(seen.insert(k.name()));
            assert!(k.spec().v1 || k.spec().v2, "{k} is served by no API");
        }
        assert_eq!(StreamKind::from_name("nope"), None);
    }

    #[test]
    fn siem_streams_are_tied_to_their_api() {
        assert!(!StreamKind::SiemCg.supports(ApiVersion::V1));
        assert!(!StreamKind::SiemMta.supports(ApiVersion::V2));
        assert!(StreamKind::ArchiveSearch
            .grant_hint(ApiVersion::V1)
            .contains("Archive | Search | Read"));
    }
}
