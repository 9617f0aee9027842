//! The catalog of what Mimecast offers: its streams (which API versions serve each, the
//! endpoint it calls, the permission (API 1.0) or product (API 2.0) it needs) and, in
//! [`hosts`], where each region's API lives.
//!
//! A leaf module on purpose: `config` validates against it, `check` prints it,
//! `normalize` names streams by it, and none of them need the API client or the stream
//! machinery for that.

pub mod hosts;

use std::fmt;

/// Which Mimecast API a tenant uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// HMAC-SHA1 signed requests on a regional host (legacy; docs/mimecast-api.md#api-10-signing).
    V1,
    /// OAuth2 client credentials on the API gateway (docs/mimecast-api.md#api-20-oauth2).
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
    SiemCi,
    Threats,
    Dlp,
    MessageRelease,
    ReportedEmails,
}

/// What a stream needs from Mimecast.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub name: &'static str,
    /// The endpoint the stream polls (POST for `/api/...`, GET for `/siem/...`).
    pub path: &'static str,
    pub v1: bool,
    pub v2: bool,
    /// The role permission the service user (1.0) or application (2.0) must hold, as the
    /// endpoint's documentation names it (and a 403 hint repeats it).
    pub permission: &'static str,
    /// The same permission as the Administration Console lists it under Account | Admin Roles |
    /// Application Permissions (the 1.0 menus carry "Menu": "Account Menu | Dashboard | Read").
    pub console: &'static str,
    /// What a setup guide commonly grants beyond `console` that the collector does not need.
    pub not_needed: Option<&'static str>,
    /// The API 2.0 product the application must be granted in the Admin Console
    /// (docs/mimecast-api.md#api-20-products).
    pub v2_product: &'static str,
}

impl StreamKind {
    pub const ALL: [StreamKind; 17] = [
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
        StreamKind::SiemCi,
        StreamKind::Threats,
        StreamKind::Dlp,
        StreamKind::MessageRelease,
        StreamKind::ReportedEmails,
    ];

    pub fn spec(self) -> &'static StreamSpec {
        use StreamKind::*;
        const SIEM_READ: &str =
            "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read";
        // The Synqly setup guide's one permission ("Security Events and Data Retrieval - Threat
        // and security statistics - Read"; its markdown table cannot hold `|`), which covers the
        // Threats routes: https://docs.synqly.com/guides/provider-configuration/mimecast-cloud-gateway-emailsecurity-setup.md
        const THREATS_READ: &str =
            "Security Events and Data Retrieval | Threat and security statistics | Read";
        const CG_PRODUCT: &str = "Threats, Security Events and Data for CG";
        match self {
            // docs/mimecast-api.md#siem-batch-cloud-gateway: batch SIEM files, API 2.0 only.
            SiemCg => &StreamSpec {
                name: "siem_cg",
                path: "/siem/v1/batch/events/cg",
                v1: false,
                v2: true,
                permission: SIEM_READ,
                console: SIEM_READ,
                not_needed: None,
                v2_product: CG_PRODUCT,
            },
            // docs/mimecast-api.md#siem-mta-log-files-api-10: not served on the 2.0 gateway
            // (docs/mimecast-api.md#api-10-functions-on-the-20-gateway).
            SiemMta => &StreamSpec {
                name: "siem_mta",
                path: "/api/audit/get-siem-logs",
                v1: true,
                v2: false,
                permission:
                    "Gateway | Tracking | Read (and Enhanced Logging enabled in Account Settings)",
                console: "Gateway Menu | Tracking | Read (with Enhanced Logging enabled)",
                not_needed: None,
                v2_product: "(not available on API 2.0)",
            },
            TtpUrl => &StreamSpec {
                name: "ttp_url",
                path: "/api/ttp/url/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | URL Protection | Read",
                console: "Monitoring Menu | URL Protection | Read",
                not_needed: None,
                v2_product: "Security Events",
            },
            TtpAttachment => &StreamSpec {
                name: "ttp_attachment",
                path: "/api/ttp/attachment/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | Attachment Protection | Read",
                console: "Monitoring Menu | Attachment Protection | Read",
                not_needed: None,
                v2_product: "Security Events",
            },
            TtpImpersonation => &StreamSpec {
                name: "ttp_impersonation",
                path: "/api/ttp/impersonation/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | Impersonation Protection | Read",
                console: "Monitoring Menu | Impersonation Protection | Read",
                not_needed: None,
                v2_product: "Security Events",
            },
            ThreatIntel => &StreamSpec {
                name: "threat_intel",
                path: "/api/ttp/threat-intel/get-feed",
                v1: true,
                v2: true,
                permission: "Services | Gateway | Tracking | Read",
                console: "Services Menu | Gateway | Tracking | Read",
                not_needed: None,
                v2_product: "Threat Management",
            },
            Audit => &StreamSpec {
                name: "audit",
                path: "/api/audit/get-audit-events",
                v1: true,
                v2: true,
                permission: "Account | Logs | Read",
                console: "Account Menu | Logs | Read",
                not_needed: None,
                v2_product: "Audit Events",
            },
            ArchiveSearch => &StreamSpec {
                name: "archive_search",
                path: "/api/archive/search",
                v1: true,
                v2: true,
                permission: "Archive | Search | Read",
                console: "Archive Menu | Search | Read",
                // The timetoreply guide grants "Read, Search Content View"; the collector asks
                // for message metadata only (docs/mimecast-api.md#archive-search return fields),
                // never content.
                not_needed: Some(
                    "Search Content View (the collector reads message metadata, never content)",
                ),
                v2_product: "Archive Data Access",
            },
            ArchiveSearchLogs => &StreamSpec {
                name: "archive_search_logs",
                path: "/api/archive/get-archive-search-logs",
                v1: true,
                v2: true,
                permission: "Archive | Search Logs | Read",
                console: "Archive Menu | Search Logs | Read",
                not_needed: None,
                v2_product: "Audit Events",
            },
            MessageTracking => &StreamSpec {
                name: "message_tracking",
                path: "/api/message-finder/search",
                v1: true,
                v2: true,
                permission: "Gateway | Tracking | Read",
                console: "Gateway Menu | Tracking | Read",
                not_needed: None,
                v2_product: "Cloud Gateway",
            },
            Dashboard => &StreamSpec {
                name: "dashboard",
                path: "/api/account/get-dashboard-notifications",
                v1: true,
                v2: true,
                permission: "Account | Dashboard | Read",
                console: "Account Menu | Dashboard | Read",
                // The timetoreply guide grants "Read, Edit"; the collector only reads.
                not_needed: Some("Edit (the collector only reads)"),
                v2_product: "Account Management",
            },
            Directory => &StreamSpec {
                name: "directory",
                path: "/api/user/get-internal-users",
                v1: true,
                v2: true,
                permission: "Directories | Internal | Read",
                console: "Directories Menu | Internal | Read",
                not_needed: None,
                v2_product: "User and Group Management",
            },
            // docs/mimecast-api.md#siem-batch-cloud-integrated: Cloud Integrated tenants; a product
            // of its own (elastic/integrations#13888).
            SiemCi => &StreamSpec {
                name: "siem_ci",
                path: "/siem/v1/batch/events/ci",
                v1: false,
                v2: true,
                permission: SIEM_READ,
                console: SIEM_READ,
                not_needed: None,
                v2_product: "Threats, Security Events and Data for CI",
            },
            // docs/mimecast-api.md#threats-api: the Threats routes of the CG product.
            Threats => &StreamSpec {
                name: "threats",
                path: "/threats/v1/events",
                v1: false,
                v2: true,
                permission: THREATS_READ,
                console: THREATS_READ,
                not_needed: None,
                v2_product: CG_PRODUCT,
            },
            // docs/mimecast-api.md#dlp-logs; the console wording is a vendor guide's
            // ("Monitoring Menu > DLP > Read",
            // https://www.livingsecurity.com/migration/support/data-integration-guide-mimecast-v2).
            Dlp => &StreamSpec {
                name: "dlp",
                path: "/api/dlp/get-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | DLP | Read",
                console: "Monitoring Menu | DLP | Read",
                not_needed: None,
                v2_product: "Security Events",
            },
            // docs/mimecast-api.md#held-message-release-logs. The permission is UNCONFIRMED: no
            // source names it.
            MessageRelease => &StreamSpec {
                name: "message_release",
                path: "/api/gateway/get-held-release-logs",
                v1: true,
                v2: true,
                permission: "Monitoring | Held | Read",
                console: "Monitoring Menu | Held | Read",
                not_needed: None,
                v2_product: "Audit Events",
            },
            // docs/mimecast-api.md#threats-api: a route of the CG product. The permission is
            // UNCONFIRMED: no source names it; the Threats permission is the likeliest.
            ReportedEmails => &StreamSpec {
                name: "reported_emails",
                path: "/threat-reporting/v1/reported-emails",
                v1: false,
                v2: true,
                permission: THREATS_READ,
                console: THREATS_READ,
                not_needed: None,
                v2_product: CG_PRODUCT,
            },
        }
    }

    /// The SIEM event types a stream is split into (`types`), or `None` for other streams.
    pub fn siem_types(self) -> Option<&'static [&'static str]> {
        match self {
            StreamKind::SiemCg => Some(&SIEM_CG_TYPES),
            StreamKind::SiemCi => Some(&SIEM_CI_TYPES),
            _ => None,
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
                "the API 2.0 application needs the product \"{}\" and its role the permission \"{}\" (an application's products cannot be changed once saved: create a new application with that product if it lacks it)",
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

/// SIEM event types of the CG batch route (docs/mimecast-api.md#siem-batch-cloud-gateway). They
/// contain spaces and are URL-encoded.
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

/// Cloud Integrated SIEM event types (docs/mimecast-api.md#siem-batch-cloud-integrated: the Elastic
/// manifest's default and Sentinel's `CI_TYPES`).
pub const SIEM_CI_TYPES: [&str; 3] = ["entities", "mailflow", "urlclick"];

/// Threat-intel feed types (docs/mimecast-api.md#threat-intel-feed).
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
