//! What a Kafka sink's `[sink.kafka]` properties may be: checked against librdkafka's own
//! table when the configuration is validated, so a typo is a config error naming its key
//! rather than a failure at start-up. It lives with the configuration (the sink depends on it,
//! never the other way round).

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

/// Checks one `[sink.kafka]` property against librdkafka's table (name, type, range). A
/// secret's value is never quoted.
pub fn check_property(name: &str, value: &str, secret: bool) -> Result<(), String> {
    let mut cfg = ClientConfig::new();
    cfg.set(name, value);
    match cfg.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, desc, _, _)) if !secret => Err(format!(
            "refused by librdkafka: {desc} (see librdkafka's CONFIGURATION.md)"
        )),
        Err(_) if secret => {
            Err("refused by librdkafka (the value is not shown: this key holds a secret)".into())
        }
        Err(e) => Err(format!("refused by librdkafka: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_checked_by_librdkafka_and_secrets_not_quoted() {
        assert!(check_property("linger.ms", "20", false).is_ok());
        let e = check_property("linger.mss", "20", false).unwrap_err();
        assert!(e.contains("linger.mss"), "{e}");
        let e = check_property("sasl.password", "hunter2\0", true).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
