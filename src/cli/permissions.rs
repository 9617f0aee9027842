//! `permissions`: what an administrator must grant in Mimecast, in the Administration Console's
//! own words, so that a tenant can be set up for exactly the configured streams and no more.
//!
//! The words come from the catalog, the same place `check` takes its 403 advice from, so the
//! two never disagree. Setup guides written for other products often grant more than this
//! collector needs (the timetoreply guide's Edit and Search Content View): each such grant is
//! named on the line of the permission it comes with.

use crate::catalog::{ApiVersion, StreamKind};
use crate::config::Config;
use std::fmt::Write as _;

/// One line per distinct value, naming the streams that need it, in first-seen order.
fn grouped<'a>(
    streams: &[StreamKind],
    value: impl Fn(StreamKind) -> &'a str,
) -> Vec<(&'a str, Vec<StreamKind>)> {
    let mut out: Vec<(&str, Vec<StreamKind>)> = Vec::new();
    for &k in streams {
        let v = value(k);
        match out.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, ks)) => ks.push(k),
            None => out.push((v, vec![k])),
        }
    }
    out
}

fn names(kinds: &[StreamKind]) -> String {
    kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one tenant needs for its streams.
pub fn for_tenant(name: &str, api: ApiVersion, streams: &[StreamKind]) -> String {
    let mut out = String::new();
    let width = streams
        .iter()
        .map(|k| k.spec().console.len().max(k.spec().v2_product.len()))
        .max()
        .unwrap_or(0);
    match api {
        ApiVersion::V1 => {
            let _ = writeln!(
                out,
                "tenant {name} (API 1.0): the service user's role (Account | Admin Roles | New Role; Security Permissions: Cannot Manage Roles) needs only these Application Permissions:"
            );
        }
        ApiVersion::V2 => {
            let _ = writeln!(
                out,
                "tenant {name} (API 2.0): the application (Integrations | Integrations Hub | Custom API 2.0 Integration) needs these Products, which cannot be changed once saved (a missing one means a new application):"
            );
            for (product, kinds) in grouped(streams, |k| k.spec().v2_product) {
                let _ = writeln!(
                    out,
                    "  product     {product:<width$}  for {}",
                    names(&kinds)
                );
            }
            let _ = writeln!(
                out,
                "  and its Application Role (Account | Admin Roles | New Role; Security Permissions: Cannot Manage Roles) only these Application Permissions:"
            );
        }
    }
    for (permission, kinds) in grouped(streams, |k| k.spec().console) {
        let _ = write!(
            out,
            "  permission  {permission:<width$}  for {}",
            names(&kinds)
        );
        let extra: Vec<&str> = kinds.iter().filter_map(|k| k.spec().not_needed).collect();
        if !extra.is_empty() {
            let _ = write!(out, "; not needed: {}", extra.join("; "));
        }
        out.push('\n');
    }
    out
}

/// What every tenant of `config` needs.
pub fn for_config(config: &Config) -> String {
    let mut out = String::new();
    for (i, t) in config.tenants.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let kinds: Vec<StreamKind> = t.streams.iter().map(|s| s.kind).collect();
        out.push_str(&for_tenant(&t.name, t.api(), &kinds));
    }
    out
}

/// Every stream: the APIs that serve it, its permission and its API 2.0 product.
pub fn table() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:<78} API 2.0 product",
        "stream", "API", "role permission (Account | Admin Roles)"
    );
    for k in StreamKind::ALL {
        let s = k.spec();
        let api = match (s.v1, s.v2) {
            (true, true) => "1.0 2.0",
            (true, false) => "1.0",
            _ => "2.0",
        };
        let product = if s.v2 { s.v2_product } else { "-" };
        let _ = writeln!(out, "{:<20} {api:<8} {:<78} {product}", k.name(), s.console);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timetoreply_streams_get_its_three_permissions_with_what_it_grants_beyond() {
        let text = for_tenant(
            "acme",
            ApiVersion::V1,
            &[
                StreamKind::Dashboard,
                StreamKind::ArchiveSearch,
                StreamKind::Directory,
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].contains("Account Menu | Dashboard | Read")
                && lines[1].contains("not needed: Edit"),
            "{text}"
        );
        assert!(
            lines[2].contains("Archive Menu | Search | Read")
                && lines[2].contains("not needed: Search Content View"),
            "{text}"
        );
        assert!(
            lines[3].contains("Directories Menu | Internal | Read")
                && !lines[3].contains("not needed"),
            "{text}"
        );
        assert!(!text.contains("product"), "API 1.0 has no products: {text}");
    }

    #[test]
    fn threats_on_api_2_gets_the_synqly_product_and_permission_once_each() {
        let text = for_tenant(
            "synq",
            ApiVersion::V2,
            &[StreamKind::Threats, StreamKind::SiemCg],
        );
        let product: Vec<&str> = text.lines().filter(|l| l.contains("product ")).collect();
        assert_eq!(product.len(), 1, "{text}");
        assert!(
            product[0].contains("Threats, Security Events and Data for CG")
                && product[0].contains("threats, siem_cg")
        );
        assert!(text.contains("cannot be changed once saved"));
        let perms: Vec<&str> = text.lines().filter(|l| l.contains("permission ")).collect();
        assert_eq!(perms.len(), 2, "{text}");
        assert!(perms[0].contains(
            "Security Events and Data Retrieval | Threat and security statistics | Read"
        ));
        assert!(perms[1].contains("Threat and Security Events (SIEM)"));
    }

    #[test]
    fn the_table_lists_every_stream() {
        let t = table();
        for k in StreamKind::ALL {
            assert!(t.lines().any(|l| l.starts_with(k.name())), "{k}");
        }
    }
}
