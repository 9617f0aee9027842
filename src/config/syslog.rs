//! What a syslog sink's settings mean: the address, the facility, the CA bundle. They are read
//! both when the configuration is validated and when the sink connects, so they live with the
//! configuration (the sink depends on it, never the other way round).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// RFC 5424 §6.2.1, in code order.
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// The code of a facility by its usual name (`local0` is 16).
pub fn facility_code(name: &str) -> Option<u8> {
    FACILITIES
        .iter()
        .position(|f| f.eq_ignore_ascii_case(name))
        .and_then(|i| u8::try_from(i).ok())
}

/// `host:port` (`[v6]:port` for an IPv6 address) into its host and port.
pub fn split_address(address: &str) -> Result<(&str, u16), String> {
    let bad =
        || format!("{address:?} is not host:port (e.g. \"siem.example.com:6514\", \"[::1]:514\")");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((host, p)),
        _ => Err(bad()),
    }
}

/// The certificates of a PEM bundle (other sections, such as keys, are skipped).
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_facilities() {
        assert_eq!(split_address("siem:6514"), Ok(("siem", 6514)));
        assert_eq!(split_address("[::1]:514"), Ok(("::1", 514)));
        assert!(split_address("siem").is_err());
        assert!(split_address("siem:0").is_err());
        assert!(split_address(":514").is_err());
        assert_eq!(facility_code("local0"), Some(16));
        assert_eq!(facility_code("LOCAL7"), Some(23));
        assert_eq!(facility_code("kern"), Some(0));
        assert_eq!(facility_code("local8"), None);
    }
}
