//! Turning a configured secret (inline, `${VAR}`, or `*_file`) into a `SecretString`.
//!
//! Secrets are wrapped as soon as they are read so that no `Debug`, log line or error message can
//! show them; errors here name the key and the variable or file, never the value.

use secrecy::SecretString;
use std::path::Path;

/// Where `${VAR}` values come from: the process environment in production, a map in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Resolves one secret from its inline form or its file. `Ok(None)` when neither is set.
pub fn resolve(
    key: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: EnvLookup<'_>,
) -> Result<Option<SecretString>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "{key}: both {key} and {key}_file are set: keep one of them"
        )),
        (Some(text), None) => expand(key, text, env).map(Some),
        (None, Some(path)) => read_file(key, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// A whole-value `${VAR}` is replaced by the variable; anything else is taken literally.
fn expand(key: &str, text: &str, env: EnvLookup<'_>) -> Result<SecretString, String> {
    let trimmed = text.trim();
    if let Some(var) = trimmed.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{key}: \"${{{var}}}\" is not a valid environment variable reference"
            ));
        }
        return match env(var) {
            Some(value) if !value.is_empty() => Ok(SecretString::from(value)),
            Some(_) => Err(format!("{key}: environment variable {var} is empty")),
            None => Err(format!(
                "{key}: environment variable {var} is not set (export it, or use {key}_file)"
            )),
        };
    }
    if trimmed.is_empty() {
        return Err(format!("{key}: is empty"));
    }
    Ok(SecretString::from(trimmed.to_string()))
}

fn read_file(key: &str, path: &Path) -> Result<SecretString, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']).trim();
            if value.is_empty() {
                Err(format!("{key}_file: {} is empty", path.display()))
            } else {
                Ok(SecretString::from(value.to_string()))
            }
        }
        Err(e) => Err(format!("{key}_file: cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(var: &str) -> Option<String> {
        match var {
            "SET" => Some("from-env".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn inline_env_and_file_forms() {
        let s = resolve("k", Some("plain"), None, &env).unwrap().unwrap();
        assert_eq!(s.expose_secret(), "plain");
        let s = resolve("k", Some("${SET}"), None, &env).unwrap().unwrap();
        assert_eq!(s.expose_secret(), "from-env");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "in-file\n").unwrap();
        let s = resolve("k", None, Some(&p), &env).unwrap().unwrap();
        assert_eq!(s.expose_secret(), "in-file");
        assert!(resolve("k", None, None, &env).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_key_not_the_value() {
        let e = resolve("tenant[0].client_secret", Some("${MISSING}"), None, &env).unwrap_err();
        assert!(
            e.starts_with("tenant[0].client_secret:") && e.contains("MISSING"),
            "{e}"
        );
        assert!(resolve("k", Some("${EMPTY}"), None, &env)
            .unwrap_err()
            .contains("empty"));
        let e = resolve("k", Some("hunter2"), Some(Path::new("/x")), &env).unwrap_err();
        assert!(e.starts_with("k: both"), "{e}");
        assert!(!e.contains("hunter2"));
        let e = resolve("k", None, Some(Path::new("/nonexistent/secret")), &env).unwrap_err();
        assert!(
            e.starts_with("k_file: cannot read /nonexistent/secret"),
            "{e}"
        );
    }
}
