//! Endpoint -> Mimecast permission string, in one table.
//!
//! WHY: `check` tells users which permission to grant on a 403, so the simulator must refuse with
//! the same strings the documentation names (docs/mimecast-api.md#endpoints "Permission:" lines,
//! docs/mimecast-api.md#siem-batch-cloud-gateway). A tenant lists what it lacks in
//! [`crate::SimTenant::denied`], or all it holds in [`crate::SimTenant::granted`]. API 2.0
//! applications also subscribe to *products* (docs/mimecast-api.md#api-20-products): [`PRODUCTS`]
//! maps paths to them, checked against [`crate::SimTenant::products`].
//!
//! Paths may contain `{name}` segments, which match any one non-empty segment
//! (`/threats/v1/events/{id}/details`).

/// (path, permission). Sources per row in docs/mimecast-api.md (each endpoint's section).
pub const PERMISSIONS: &[(&str, &str)] = &[
    // docs/mimecast-api.md#audit-events
    ("/api/audit/get-audit-events", "Account | Logs | Read"),
    // docs/mimecast-api.md#siem-mta-log-files-api-10
    ("/api/audit/get-siem-logs", "Gateway | Tracking | Read"),
    // docs/mimecast-api.md#ttp-url-logs
    (
        "/api/ttp/url/get-logs",
        "Monitoring | URL Protection | Read",
    ),
    // docs/mimecast-api.md#ttp-attachment-logs
    (
        "/api/ttp/attachment/get-logs",
        "Monitoring | Attachment Protection | Read",
    ),
    // docs/mimecast-api.md#ttp-impersonation-logs
    (
        "/api/ttp/impersonation/get-logs",
        "Monitoring | Impersonation Protection | Read",
    ),
    // docs/mimecast-api.md#threat-intel-feed
    (
        "/api/ttp/threat-intel/get-feed",
        "Services | Gateway | Tracking | Read",
    ),
    // docs/mimecast-api.md#archive-search (account-wide search)
    ("/api/archive/search", "Archive | Search | Read"),
    // docs/mimecast-api.md#archive-search-logs
    (
        "/api/archive/get-archive-search-logs",
        "Archive | Search Logs | Read",
    ),
    (
        "/api/archive/get-search-logs",
        "Archive | Search Logs | Read",
    ),
    // docs/mimecast-api.md#message-tracking
    ("/api/message-finder/search", "Gateway | Tracking | Read"),
    // docs/mimecast-api.md#dashboard-notifications (the docs spell get-account "Accounts")
    (
        "/api/account/get-dashboard-notifications",
        "Account | Dashboard | Read",
    ),
    ("/api/account/get-account", "Accounts | Dashboard | Read"),
    // docs/mimecast-api.md#directory (get-internal-domain's permission is UNCONFIRMED; same as
    // users)
    (
        "/api/user/get-internal-users",
        "Directories | Internal | Read",
    ),
    (
        "/api/domain/get-internal-domain",
        "Directories | Internal | Read",
    ),
    // docs/mimecast-api.md#siem-batch-cloud-gateway
    (
        "/siem/v1/batch/events/cg",
        "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read",
    ),
    // docs/mimecast-api.md#siem-batch-cloud-integrated: same permission as CG (UNCONFIRMED for CI).
    (
        "/siem/v1/batch/events/ci",
        "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read",
    ),
    // docs/mimecast-api.md#dlp-logs
    ("/api/dlp/get-logs", "Monitoring | DLP | Read"),
    // docs/mimecast-api.md#held-message-release-logs: UNCONFIRMED (no source names it).
    (
        "/api/gateway/get-held-release-logs",
        "Monitoring | Held | Read",
    ),
    // docs/mimecast-api.md#threats-api: the Synqly guide's "Security Events and Data Retrieval -
    // Threat and security statistics - Read", "to retrieve threats and threat details", with `|` as
    // separator.
    (
        "/threats/v1/events",
        "Security Events and Data Retrieval | Threat and security statistics | Read",
    ),
    (
        "/threats/v1/events/{id}/details",
        "Security Events and Data Retrieval | Threat and security statistics | Read",
    ),
    // docs/mimecast-api.md#threats-api: UNCONFIRMED (same product as threats; the permission is a
    // guess).
    (
        "/threat-reporting/v1/reported-emails",
        "Security Events and Data Retrieval | Threat and security statistics | Read",
    ),
];

pub const PRODUCT_CG: &str = "Threats, Security Events and Data for CG";
pub const PRODUCT_CI: &str = "Threats, Security Events and Data for CI";

/// (path pattern, API 2.0 product), the stream → product map of
/// docs/mimecast-api.md#api-20-products (itself UNCONFIRMED: inferred from the portal's doc
/// categories). A pattern ending in `*` is a prefix; otherwise as in [`PERMISSIONS`]. First match
/// wins.
pub const PRODUCTS: &[(&str, &str)] = &[
    ("/siem/v1/batch/events/cg", PRODUCT_CG),
    ("/siem/v1/events/cg", PRODUCT_CG),
    ("/threats/*", PRODUCT_CG),
    ("/threat-reporting/*", PRODUCT_CG),
    ("/siem/v1/batch/events/ci", PRODUCT_CI),
    ("/siem/v1/events/ci", PRODUCT_CI),
    ("/api/ttp/threat-intel/get-feed", "Threat Management"),
    ("/api/ttp/*", "Security Events"),
    ("/api/dlp/get-logs", "Security Events"),
    ("/api/audit/get-audit-events", "Audit Events"),
    ("/api/archive/get-archive-search-logs", "Audit Events"),
    ("/api/archive/get-search-logs", "Audit Events"),
    ("/api/archive/get-view-logs", "Audit Events"),
    ("/api/gateway/get-held-release-logs", "Audit Events"),
    ("/api/gateway/get-rejections", "Audit Events"),
    ("/api/archive/search", "Archive Data Access"),
    ("/api/archive/get-message-list", "Archive Data Access"),
    ("/api/message-finder/search", "Cloud Gateway"),
    ("/api/gateway/get-hold-message-list", "Cloud Gateway"),
    ("/api/account/*", "Account Management"),
    ("/api/user/get-internal-users", "User and Group Management"),
    (
        "/api/domain/get-internal-domain",
        "User and Group Management",
    ),
];

/// Whether `path` matches `pattern` (`{x}` = one non-empty segment; trailing `*` = prefix).
fn path_matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return path.starts_with(prefix);
    }
    if !pattern.contains('{') {
        return pattern == path;
    }
    let (mut a, mut b) = (pattern.split('/'), path.split('/'));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// The permission an endpoint needs, if any.
pub fn required(path: &str) -> Option<&'static str> {
    PERMISSIONS
        .iter()
        .find(|(p, _)| path_matches(p, path))
        .map(|(_, perm)| *perm)
}

/// The API 2.0 product a path belongs to, if known.
pub fn product(path: &str) -> Option<&'static str> {
    PRODUCTS
        .iter()
        .find(|(p, _)| path_matches(p, path))
        .map(|(_, prod)| *prod)
}

/// Whether a tenant with these `denied` and `granted` lists lacks `perm`.
pub fn lacks(denied: &[String], granted: Option<&[String]>, perm: &str) -> bool {
    is_denied(denied, perm) || granted.is_some_and(|g| !is_denied(g, perm))
}

/// Whether a product subscription list (`None` = all) lacks `product` (case-insensitive).
pub fn lacks_product(products: Option<&[String]>, product: &str) -> bool {
    products.is_some_and(|ps| !ps.iter().any(|p| p.trim().eq_ignore_ascii_case(product)))
}

/// Whether `denied` (a tenant's missing permissions) contains `perm` (case/space-insensitive).
pub fn is_denied(denied: &[String], perm: &str) -> bool {
    let norm = |s: &str| {
        s.split('|')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let want = norm(perm);
    denied.iter().any(|d| norm(d) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_normalised_match() {
        assert_eq!(
            required("/api/ttp/url/get-logs"),
            Some("Monitoring | URL Protection | Read")
        );
        assert_eq!(required("/api/nope"), None);
        assert!(is_denied(
            &["archive|search |read".into()],
            "Archive | Search | Read"
        ));
        assert!(!is_denied(
            &["Archive | Search Logs | Read".into()],
            "Archive | Search | Read"
        ));
    }

    #[test]
    fn templated_paths_products_and_grants() {
        let stats = "Security Events and Data Retrieval | Threat and security statistics | Read";
        assert_eq!(required("/threats/v1/events/abc-_1/details"), Some(stats));
        assert_eq!(required("/threats/v1/events//details"), None);
        assert_eq!(required("/threats/v1/events/a/b/details"), None);
        assert_eq!(product("/threats/v1/events/x/details"), Some(PRODUCT_CG));
        assert_eq!(product("/siem/v1/batch/events/ci"), Some(PRODUCT_CI));
        assert_eq!(
            product("/api/ttp/threat-intel/get-feed"),
            Some("Threat Management")
        );
        assert_eq!(product("/api/ttp/url/get-logs"), Some("Security Events"));
        assert_eq!(
            product("/api/account/get-account"),
            Some("Account Management")
        );
        assert_eq!(product("/oauth/token"), None);
        let granted = vec![stats.to_string()];
        assert!(!lacks(&[], Some(&granted), stats));
        assert!(lacks(&[], Some(&granted), "Archive | Search | Read"));
        assert!(lacks(&granted, None, stats));
        assert!(!lacks(&[], None, stats));
        assert!(lacks_product(Some(&[PRODUCT_CG.to_string()]), PRODUCT_CI));
        assert!(!lacks_product(None, PRODUCT_CI));
    }
}
