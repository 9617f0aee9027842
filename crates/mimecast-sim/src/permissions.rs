//! Endpoint -> Mimecast permission string, in one table.
//!
//! WHY: `check` tells users which permission to grant on a 403, so the simulator must refuse with
//! the same strings the documentation names (MIMECAST.md §4.x "Permission:" lines, §6.4). A tenant
//! lists what it lacks in [`crate::SimTenant::denied`].

/// (path, permission). Sources per row in MIMECAST.md.
pub const PERMISSIONS: &[(&str, &str)] = &[
    // §4.1
    ("/api/audit/get-audit-events", "Account | Logs | Read"),
    // §4.2
    ("/api/audit/get-siem-logs", "Gateway | Tracking | Read"),
    // §4.3
    (
        "/api/ttp/url/get-logs",
        "Monitoring | URL Protection | Read",
    ),
    // §4.4
    (
        "/api/ttp/attachment/get-logs",
        "Monitoring | Attachment Protection | Read",
    ),
    // §4.5
    (
        "/api/ttp/impersonation/get-logs",
        "Monitoring | Impersonation Protection | Read",
    ),
    // §4.7
    (
        "/api/ttp/threat-intel/get-feed",
        "Services | Gateway | Tracking | Read",
    ),
    // §4.8 (account-wide search)
    ("/api/archive/search", "Archive | Search | Read"),
    // §4.9
    (
        "/api/archive/get-archive-search-logs",
        "Archive | Search Logs | Read",
    ),
    (
        "/api/archive/get-search-logs",
        "Archive | Search Logs | Read",
    ),
    // §4.11
    ("/api/message-finder/search", "Gateway | Tracking | Read"),
    // §4.12 (the docs spell get-account "Accounts")
    (
        "/api/account/get-dashboard-notifications",
        "Account | Dashboard | Read",
    ),
    ("/api/account/get-account", "Accounts | Dashboard | Read"),
    // §4.13 (get-internal-domain's permission is UNCONFIRMED; same as users)
    (
        "/api/user/get-internal-users",
        "Directories | Internal | Read",
    ),
    (
        "/api/domain/get-internal-domain",
        "Directories | Internal | Read",
    ),
    // §6.4
    (
        "/siem/v1/batch/events/cg",
        "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read",
    ),
];

/// The permission an endpoint needs, if any.
pub fn required(path: &str) -> Option<&'static str> {
    PERMISSIONS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, perm)| *perm)
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
}
