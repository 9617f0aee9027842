//! Where each region's API lives.
//!
//! Host names are facts about Mimecast, kept here alone so that a correction is one line.
//! Sources: docs/mimecast-api.md#api-10-regional-hosts (API 1.0 regional hosts) and
//! docs/mimecast-api.md#api-20-gateways (API 2.0 gateways).

use super::ApiVersion;

/// Global host that answers `/api/login/discover-authentication` for API 1.0
/// (docs/mimecast-api.md#discover-authentication).
pub const V1_DISCOVERY_HOST: &str = "https://api.mimecast.com";

/// Regions accepted for API 1.0 tenants, as written in the config.
pub const V1_REGIONS: &[&str] = &[
    "eu", "de", "us", "usb", "ca", "za", "au", "je", "jer", "uk", "uspcom",
];
/// Gateways accepted for API 2.0 tenants.
pub const V2_REGIONS: &[&str] = &["global", "us", "uk"];

/// The base URL for a region, or `None` if the region is not valid for that API.
pub fn base_url(api: ApiVersion, region: &str) -> Option<&'static str> {
    match api {
        ApiVersion::V1 => Some(match region {
            "eu" => "https://eu-api.mimecast.com",
            "de" => "https://de-api.mimecast.com",
            "us" => "https://us-api.mimecast.com",
            "usb" => "https://usb-api.mimecast.com",
            "ca" => "https://ca-api.mimecast.com",
            "za" => "https://za-api.mimecast.com",
            "au" => "https://au-api.mimecast.com",
            // Offshore (Jersey): `je-` appears in more sources than `jer-` (UNCONFIRMED,
            // docs/mimecast-api.md#api-10-regional-hosts); both spellings of the region are
            // accepted and mean the same host.
            "je" | "jer" => "https://je-api.mimecast.com",
            // UK accounts (CUK*) live on the Europe grid
            // (docs/mimecast-api.md#api-10-regional-hosts); no separate 1.0 UK host is known.
            "uk" => "https://eu-api.mimecast.com",
            "uspcom" => "https://uspcom-api.mimecast-pscom-us.com",
            _ => return None,
        }),
        ApiVersion::V2 => Some(match region {
            "global" => "https://api.services.mimecast.com",
            "us" => "https://us-api.services.mimecast.com",
            "uk" => "https://uk-api.services.mimecast.com",
            _ => return None,
        }),
    }
}

pub fn regions(api: ApiVersion) -> &'static [&'static str] {
    match api {
        ApiVersion::V1 => V1_REGIONS,
        ApiVersion::V2 => V2_REGIONS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_region_has_a_host() {
        for api in [ApiVersion::V1, ApiVersion::V2] {
            for r in regions(api) {
                let url = base_url(api, r).unwrap();
                assert!(url.starts_with("https://"), "{url}");
            }
        }
        assert_eq!(base_url(ApiVersion::V1, "global"), None);
        assert_eq!(base_url(ApiVersion::V2, "eu"), None);
        assert_eq!(
            base_url(ApiVersion::V2, "global"),
            Some("https://api.services.mimecast.com")
        );
    }
}
