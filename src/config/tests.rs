//! Config loading tests: the happy path, every class of mistake (each must name its key), and
//! that no secret ever shows in `Debug` output or error messages.

use super::*;
use std::io::Write;

const SECRET_B64: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM="; // base64("secret-key-for-tests")

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

fn v1_tenant(name: &str) -> String {
    format!(
        r#"
[[tenant]]
name = "{name}"
api = "v1"
region = "eu"
app_id = "app-id-1"
app_key = "app-key-VALUE-1"
access_key = "access-key-VALUE-1"
secret_key = "{SECRET_B64}"
streams = ["ttp_url", "siem_mta"]
"#
    )
}

fn v2_tenant(name: &str) -> String {
    format!(
        r#"
[[tenant]]
name = "{name}"
client_id = "client-id-1"
client_secret = "${{CLIENT_SECRET}}"
streams = ["siem_cg", "audit"]
"#
    )
}

fn env() -> HashMap<String, String> {
    HashMap::from([(
        "CLIENT_SECRET".to_string(),
        "client-secret-VALUE-2".to_string(),
    )])
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), text);
    load(&path, &env())
}

#[test]
fn loads_a_valid_config_with_defaults() {
    let cfg = load_text(&format!("{}{}", v1_tenant("globex"), v2_tenant("acme"))).unwrap();
    assert_eq!(cfg.tenants.len(), 2);
    let globex = &cfg.tenants[0];
    assert_eq!(globex.api(), ApiVersion::V1);
    assert_eq!(globex.base_url.as_str(), "https://eu-api.mimecast.com/");
    let acme = &cfg.tenants[1];
    assert_eq!(acme.api(), ApiVersion::V2);
    assert_eq!(acme.base_url.as_str(), "https://api.services.mimecast.com/");
    assert_eq!(acme.streams[0].kind, StreamKind::SiemCg);
    assert_eq!(
        acme.streams[0].types.len(),
        10,
        "siem_cg defaults to every event type"
    );
    assert_eq!(cfg.collector.poll_interval, Duration::from_secs(60));
    assert_eq!(cfg.collector.max_lag, Duration::from_secs(300));
    assert_eq!(cfg.sink.kind, SinkKind::Stdout);
    assert_eq!(cfg.sink.format, crate::render::Format::Native);
    assert_eq!(
        acme.requests_per_minute.get(),
        validate::DEFAULT_REQUESTS_PER_MINUTE
    );
    match &acme.credentials {
        Credentials::V2(c) => assert_eq!(c.client_secret.expose_secret(), "client-secret-VALUE-2"),
        other => panic!("expected v2 credentials, got {other:?}"),
    }
}

#[test]
fn environment_overrides_config_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &v2_tenant("acme"));
    let mut env = env();
    env.insert(
        "MIMECAST_COLLECTOR__COLLECTOR__POLL_INTERVAL".into(),
        "30s".into(),
    );
    env.insert(
        "MIMECAST_COLLECTOR__SINK__INCLUDE_RAW".into(),
        "false".into(),
    );
    let cfg = load(&path, &env).unwrap();
    assert_eq!(cfg.collector.poll_interval, Duration::from_secs(30));
    assert!(!cfg.sink.include_raw);
    assert_eq!(
        cfg.tenants[0].streams[1].poll_interval,
        Duration::from_secs(30)
    );
}

#[test]
fn a_shard_keeps_every_tenant_and_owns_some() {
    let text = format!(
        "[collector]\nshard = \"2/2\"\n{}{}{}",
        v2_tenant("acme"),
        v2_tenant("globex"),
        v2_tenant("initech")
    );
    let cfg = load_text(&text).unwrap();
    assert_eq!(cfg.shard, Some(Shard::new(2, 2).unwrap()));
    assert_eq!(
        cfg.tenants.len(),
        3,
        "the others stay known, for status and reset"
    );
    // Pinned in shard.rs: acme is shard 1 of 2, globex and initech shard 2.
    let owned: Vec<&str> = cfg.owned_tenants().map(|t| t.name.as_str()).collect();
    assert_eq!(owned, ["globex", "initech"]);
    assert!(!cfg.owns("acme"));

    let unsharded = load_text(&v2_tenant("acme")).unwrap();
    assert_eq!(unsharded.shard, None);
    assert_eq!(unsharded.owned_tenants().count(), 1);

    // The environment sets it like any key (the systemd template could use it).
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &text);
    let mut env = env();
    env.insert("MIMECAST_COLLECTOR__COLLECTOR__SHARD".into(), "1/2".into());
    let cfg = load(&path, &env).unwrap();
    assert_eq!(cfg.shard.map(|s| s.to_string()).as_deref(), Some("1/2"));
    assert_eq!(
        cfg.owned_tenants()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["acme"]
    );
}

#[test]
fn per_stream_settings_apply() {
    let cfg = load_text(
        r#"
[[tenant]]
name = "acme"
client_id = "id"
client_secret = "s"
streams = ["siem_cg", "ttp_url"]
[tenant.stream.siem_cg]
types = ["receipt", "url protect"]
[tenant.stream.ttp_url]
page_size = 500
poll_interval = "5m"
"#,
    )
    .unwrap();
    let s = &cfg.tenants[0].streams;
    assert_eq!(s[0].types, vec!["receipt", "url protect"]);
    assert_eq!(s[1].page_size, 500);
    assert_eq!(s[1].poll_interval, Duration::from_secs(300));
}

/// Every config mistake, the key path it must be reported at, and a word the message must hold.
#[test]
fn every_mistake_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let unreadable = dir.path().join("missing.secret");
    let cases: Vec<(&str, String, &str, &str)> =
        vec![
        (
            "unknown top-level key",
            format!("colector = 1\n{}", v2_tenant("a")),
            "colector",
            "unknown key",
        ),
        (
            "unknown tenant key",
            v2_tenant("a").replace("client_id", "clinet_id"),
            "tenant[0].clinet_id",
            "unknown key",
        ),
        (
            "bad region",
            v1_tenant("a").replace("\"eu\"", "\"mars\""),
            "tenant[0].region",
            "\"mars\" is not one of eu, de, us",
        ),
        (
            "threats page beyond the route's 100",
            v2_tenant("a").replace(
                "streams = [\"siem_cg\", \"audit\"]",
                "streams = [\"threats\"]\n[tenant.stream.threats]\npage_size = 101",
            ),
            "tenant[0].stream.threats.page_size",
            "1 to 100",
        ),
        (
            "reported emails page size the route does not take",
            v2_tenant("a").replace(
                "streams = [\"siem_cg\", \"audit\"]",
                "streams = [\"reported_emails\"]\n[tenant.stream.reported_emails]\npage_size = 30",
            ),
            "tenant[0].stream.reported_emails.page_size",
            "25, 50, 100, 250 or 500",
        ),
        (
            "a CG type for the CI stream",
            v2_tenant("a").replace(
                "streams = [\"siem_cg\", \"audit\"]",
                "streams = [\"siem_ci\"]\n[tenant.stream.siem_ci]\ntypes = [\"receipt\"]",
            ),
            "tenant[0].stream.siem_ci.types[0]",
            "is not one of entities, mailflow, urlclick",
        ),
        (
            "types for a stream without types",
            v2_tenant("a").replace(
                "streams = [\"siem_cg\", \"audit\"]",
                "streams = [\"dlp\"]\n[tenant.stream.dlp]\ntypes = [\"x\"]",
            ),
            "tenant[0].stream.dlp.types",
            "applies only to the siem_cg and siem_ci stream",
        ),
        (
            "threats on API 1.0",
            v1_tenant("a").replace("streams = [", "streams = [\"threats\", "),
            "tenant[0].streams[0]",
            "served only by API 2.0",
        ),
        (
            "bad v2 region",
            format!("{}region = \"eu\"\n", v2_tenant("a")),
            "tenant[0].region",
            "is not one of global, us, uk",
        ),
        (
            "duplicate names",
            format!("{}{}", v2_tenant("a"), v2_tenant("a")),
            "tenant[1].name",
            "unique",
        ),
        (
            "v1 without app key",
            v1_tenant("a").replace("app_key = \"app-key-VALUE-1\"\n", ""),
            "tenant[0].app_key",
            "required",
        ),
        (
            "v1 without region",
            v1_tenant("a").replace("region = \"eu\"\n", ""),
            "tenant[0].region",
            "required",
        ),
        (
            "unreadable secret file",
            v2_tenant("a").replace(
                "client_secret = \"${CLIENT_SECRET}\"",
                &format!(
                    "client_secret_file = {:?}",
                    unreadable.display().to_string()
                ),
            ),
            "tenant[0].client_secret_file",
            "cannot read",
        ),
        (
            "unset env var",
            v2_tenant("a").replace("CLIENT_SECRET", "NOT_SET_ANYWHERE"),
            "tenant[0].client_secret",
            "NOT_SET_ANYWHERE",
        ),
        (
            "stream the api cannot serve (v2)",
            v2_tenant("a").replace("\"audit\"", "\"siem_mta\""),
            "tenant[0].streams[1]",
            "only by API 1.0",
        ),
        (
            "stream the api cannot serve (v1)",
            v1_tenant("a").replace("\"siem_mta\"", "\"siem_cg\""),
            "tenant[0].streams[1]",
            "only by API 2.0",
        ),
        (
            "unknown stream",
            v2_tenant("a").replace("\"audit\"", "\"audits\""),
            "tenant[0].streams[1]",
            "not a stream",
        ),
        (
            "duplicate stream",
            v2_tenant("a").replace("\"audit\"", "\"siem_cg\""),
            "tenant[0].streams[1]",
            "twice",
        ),
        (
            "no streams",
            v2_tenant("a").replace("streams = [\"siem_cg\", \"audit\"]", "streams = []"),
            "tenant[0].streams",
            "required",
        ),
        ("bad name", v2_tenant("Acme Corp"), "tenant[0].name", "a-z"),
        (
            "bad api",
            v2_tenant("a").replace("client_id", "api = \"v3\"\nclient_id"),
            "tenant[0].api",
            "\"v3\" is not one of v1, v2",
        ),
        (
            "v1 key on v2 tenant",
            v2_tenant("a").replace("client_id", "app_key = \"x\"\nclient_id"),
            "tenant[0].app_key",
            "API 1.0",
        ),
        (
            "secret not base64",
            v1_tenant("a").replace(SECRET_B64, "not base64!!"),
            "tenant[0].secret_key",
            "base64",
        ),
        (
            "inline and file",
            v2_tenant("a").replace("client_id", "client_secret_file = \"/x\"\nclient_id"),
            "tenant[0].client_secret",
            "are set: keep one",
        ),
        (
            "bad duration",
            format!("[collector]\npoll_interval = \"60\"\n{}", v2_tenant("a")),
            "collector.poll_interval",
            "no unit",
        ),
        (
            "absurd duration",
            format!(
                "[collector]\ninitial_lookback = \"100000000d\"\n{}",
                v2_tenant("a")
            ),
            "collector.initial_lookback",
            "too long",
        ),
        (
            "lookback shorter than the settle delay",
            format!(
                "[collector]\ninitial_lookback = \"30s\"\n{}",
                v2_tenant("a")
            ),
            "collector.initial_lookback",
            "too short",
        ),
        (
            "unknown file group",
            format!(
                "[collector]\nfile_group = \"no-such-group-xyz\"\n{}",
                v2_tenant("a")
            ),
            "collector.file_group",
            "not a group",
        ),
        (
            "unreadable CA file",
            format!(
                "[http]\nca_file = \"/nonexistent/ca.pem\"\n{}",
                v2_tenant("a")
            ),
            "http.ca_file",
            "cannot read",
        ),
        (
            "CA file without a certificate",
            format!("[http]\nca_file = \"/etc/hostname\"\n{}", v2_tenant("a")),
            "http.ca_file",
            "no PEM certificate",
        ),
        (
            "bad metrics address",
            format!("[metrics]\nlisten = \"everywhere\"\n{}", v2_tenant("a")),
            "metrics.listen",
            "not an address",
        ),
        (
            "bad sink kind",
            format!("[sink]\nkind = \"kinesis\"\n{}", v2_tenant("a")),
            "sink.kind",
            "stdout, file",
        ),
        (
            "bad sink format",
            format!("[sink]\nformat = \"cef\"\n{}", v2_tenant("a")),
            "sink.format",
            "native, ocsf, ecs",
        ),
        (
            "file sink without path",
            format!("[sink]\nkind = \"file\"\n{}", v2_tenant("a")),
            "sink.path",
            "required",
        ),
        (
            "page size too large",
            format!(
                "{}[tenant.stream.audit]\npage_size = 5000\n",
                v2_tenant("a")
            ),
            "tenant[0].stream.audit.page_size",
            "1 to 500",
        ),
        (
            "bad siem type",
            format!(
                "{}[tenant.stream.siem_cg]\ntypes = [\"recipt\"]\n",
                v2_tenant("a")
            ),
            "tenant[0].stream.siem_cg.types[0]",
            "\"recipt\" is not one of",
        ),
        (
            "setting for wrong stream",
            format!(
                "{}[tenant.stream.audit]\ntypes = [\"receipt\"]\n",
                v2_tenant("a")
            ),
            "tenant[0].stream.audit.types",
            "only to the siem_cg",
        ),
        (
            "settings for disabled stream",
            format!(
                "{}[tenant.stream.ttp_url]\npage_size = 10\n",
                v2_tenant("a")
            ),
            "tenant[0].stream.ttp_url",
            "not in tenant[0].streams",
        ),
        (
            "wrong type",
            format!("{}requests_per_minute = \"fast\"\n", v2_tenant("a")),
            "tenant[0].requests_per_minute",
            "wrong type",
        ),
        (
            "rate out of range",
            format!("{}requests_per_minute = 0\n", v2_tenant("a")),
            "tenant[0].requests_per_minute",
            "out of range",
        ),
        (
            "file downloads out of range",
            format!("[http]\nfile_downloads = 0\n{}", v2_tenant("a")),
            "http.file_downloads",
            "out of range",
        ),
        (
            "listing budget without a duration",
            format!("[http]\nsiem_listing_budget = \"50\"\n{}", v2_tenant("a")),
            "http.siem_listing_budget",
            "calls per duration",
        ),
        (
            "listing budget of no calls",
            format!("[http]\nsiem_listing_budget = \"0/15m\"\n{}", v2_tenant("a")),
            "http.siem_listing_budget",
            "1 to 100000",
        ),
        (
            "listing budget over a day",
            format!("[http]\nsiem_listing_budget = \"50/2d\"\n{}", v2_tenant("a")),
            "http.siem_listing_budget",
            "1s to 24h",
        ),
        (
            "http to a remote host",
            format!(
                "{}base_url = \"http://mimecast.example.com\"\n",
                v2_tenant("a")
            ),
            "tenant[0].base_url",
            "plain http",
        ),
        (
            "no tenants",
            "[collector]\nmax_lag = \"1m\"\n".to_string(),
            "tenant",
            "at least one",
        ),
        (
            "shard 0",
            format!("[collector]\nshard = \"0/4\"\n{}", v2_tenant("a")),
            "collector.shard",
            "must be 1 to 4",
        ),
        (
            "shard past the count",
            format!("[collector]\nshard = \"5/4\"\n{}", v2_tenant("a")),
            "collector.shard",
            "must be 1 to 4",
        ),
        (
            "shard without a count",
            format!("[collector]\nshard = \"2\"\n{}", v2_tenant("a")),
            "collector.shard",
            "write K/N",
        ),
        (
            "shard not numbers",
            format!("[collector]\nshard = \"a/b\"\n{}", v2_tenant("a")),
            "collector.shard",
            "write K/N",
        ),
        (
            "zero shards",
            format!("[collector]\nshard = \"1/0\"\n{}", v2_tenant("a")),
            "collector.shard",
            "number of shards must be 1 to 1024",
        ),
        (
            "too many shards",
            format!("[collector]\nshard = \"1/5000\"\n{}", v2_tenant("a")),
            "collector.shard",
            "number of shards must be 1 to 1024",
        ),
        (
            "shard as a number",
            format!("[collector]\nshard = 2\n{}", v2_tenant("a")),
            "collector.shard",
            "expected a string",
        ),
    ];
    for (what, text, key, needle) in cases {
        let err = match load_text(&text) {
            Ok(_) => panic!("{what}: config was accepted"),
            Err(e) => e,
        };
        let found = err.key_errors().iter().find(|e| e.path == key);
        let Some(found) = found else {
            panic!("{what}: no error at {key}; got: {err}");
        };
        assert!(
            found.message.contains(needle),
            "{what}: message {found:?} lacks {needle:?}"
        );
        let shown = err.to_string();
        assert!(shown.contains(&format!("{key}: ")), "{what}: {shown}");
        for secret in [
            "app-key-VALUE-1",
            "access-key-VALUE-1",
            SECRET_B64,
            "client-secret-VALUE-2",
        ] {
            assert!(
                !shown.contains(secret),
                "{what}: message shows a secret: {shown}"
            );
        }
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = format!(
        "{}{}",
        v1_tenant("a")
            .replace("\"eu\"", "\"mars\"")
            .replace("app_id = \"app-id-1\"\n", ""),
        v2_tenant("a")
    );
    let err = load_text(&text).unwrap_err();
    let paths: Vec<_> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"tenant[0].region"), "{paths:?}");
    assert!(paths.contains(&"tenant[0].app_id"), "{paths:?}");
    assert!(paths.contains(&"tenant[1].name"), "{paths:?}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let cfg = load_text(&format!("{}{}", v1_tenant("globex"), v2_tenant("acme"))).unwrap();
    let shown = format!("{cfg:?} {cfg:#?}");
    for secret in [
        "app-key-VALUE-1",
        "access-key-VALUE-1",
        SECRET_B64,
        "client-secret-VALUE-2",
    ] {
        assert!(!shown.contains(secret), "Debug shows {secret}");
    }
    assert!(shown.contains("REDACTED"));
    assert!(
        shown.contains("client-id-1"),
        "non-secret identifiers stay visible"
    );
}

#[test]
fn a_ca_file_and_a_file_group_are_loaded() {
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let cfg = load_text(&format!(
        "[collector]\nfile_group = \"root\"\n[http]\nca_file = {:?}\n{}",
        ca.display().to_string(),
        v2_tenant("a")
    ))
    .unwrap();
    assert_eq!(cfg.collector.file_group, Some(0));
    let pem = cfg.http.extra_ca_pem.clone().unwrap();
    assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    // The client trusts it in addition to the bundled roots.
    crate::api::HttpSettings::from(&cfg.http)
        .build_http()
        .unwrap();
}

#[test]
fn missing_file_is_a_load_error() {
    let err = load(Path::new("/nonexistent/config.toml"), &HashMap::new()).unwrap_err();
    assert!(matches!(err, ConfigError::Load { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/config.toml"));
}

#[test]
fn relative_secret_files_resolve_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.secret"), "from-relative-file\n").unwrap();
    let text = v2_tenant("a").replace(
        "client_secret = \"${CLIENT_SECRET}\"",
        "client_secret_file = \"acme.secret\"",
    );
    let path = write_config(dir.path(), &text);
    let cfg = load(&path, &HashMap::new()).unwrap();
    match &cfg.tenants[0].credentials {
        Credentials::V2(c) => assert_eq!(c.client_secret.expose_secret(), "from-relative-file"),
        other => panic!("{other:?}"),
    }
}

/// Shard instances of the systemd template each have their own credentials directory; one
/// config names their secrets as `${CREDENTIALS_DIRECTORY}/NAME`.
#[test]
fn secret_files_may_start_in_the_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("acme.secret"), "from-credentials\n").unwrap();
    std::fs::write(creds.join("globex.secret"), format!("{SECRET_B64}\n")).unwrap();
    let text = format!(
        "{}{}",
        v2_tenant("acme").replace(
            "client_secret = \"${CLIENT_SECRET}\"",
            "client_secret_file = \"${CREDENTIALS_DIRECTORY}/acme.secret\"",
        ),
        v1_tenant("globex").replace(
            &format!("secret_key = \"{SECRET_B64}\""),
            "secret_key_file = \"${CREDENTIALS_DIRECTORY}/globex.secret\"",
        )
    );
    let path = write_config(dir.path(), &text);
    let env = HashMap::from([(
        "CREDENTIALS_DIRECTORY".to_string(),
        creds.display().to_string(),
    )]);
    let cfg = load(&path, &env).unwrap_or_else(|e| panic!("{e}"));
    match &cfg.tenants[0].credentials {
        Credentials::V2(c) => assert_eq!(c.client_secret.expose_secret(), "from-credentials"),
        other => panic!("{other:?}"),
    }
    match &cfg.tenants[1].credentials {
        Credentials::V1(c) => assert_eq!(c.secret_key.expose_secret(), SECRET_B64),
        other => panic!("{other:?}"),
    }

    // Outside systemd the variable is missing: one error, at the file key, saying why.
    let err = load(&path, &HashMap::new()).unwrap_err();
    let errors = err.key_errors();
    assert_eq!(errors.len(), 2, "{err}");
    assert_eq!(errors[0].path, "tenant[0].client_secret_file", "{err}");
    assert!(
        errors[0].message.contains(
            "CREDENTIALS_DIRECTORY is not set: systemd sets it for a service with LoadCredential="
        ),
        "{err}"
    );
    assert_eq!(errors[1].path, "tenant[1].secret_key_file", "{err}");
    let bad = write_config(
        dir.path(),
        &v2_tenant("acme").replace(
            "client_secret = \"${CLIENT_SECRET}\"",
            "client_secret_file = \"${NOT A VAR}/x\"",
        ),
    );
    let err = load(&bad, &HashMap::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("tenant[0].client_secret_file: \"${NOT A VAR}/x\": \"${NOT A VAR}\" is not a valid environment variable reference"),
        "{err}"
    );
    // Commands that read no secret need no credentials directory either.
    assert!(load_with(&path, &HashMap::new(), Secrets::Skip).is_ok());
}

use secrecy::ExposeSecret;

#[test]
fn every_format_is_accepted_by_name() {
    for format in crate::render::Format::ALL {
        let cfg = load_text(&format!(
            "[sink]\nformat = \"{}\"\n{}",
            format.name(),
            v2_tenant("a")
        ))
        .unwrap();
        assert_eq!(cfg.sink.format, format);
        assert_eq!(cfg.sink.output().format, format);
    }
}

#[test]
fn unknown_keys_and_wrong_types_do_not_hide_the_other_mistakes() {
    let text = format!(
        "colector = 1\n[sink]\ninclude_raw = \"yes\"\nformat = \"cef\"\n{}",
        v1_tenant("a")
            .replace("\"eu\"", "\"mars\"")
            .replace("app_id = ", "appid = ")
    );
    let err = load_text(&text).unwrap_err();
    let paths: Vec<_> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    for key in [
        "colector",
        "sink.include_raw",
        "sink.format",
        "tenant[0].appid",
        "tenant[0].region",
        "tenant[0].app_id",
    ] {
        assert!(paths.contains(&key), "{key} missing from {paths:?}");
    }
    let unknown = err
        .key_errors()
        .iter()
        .find(|e| e.path == "colector")
        .unwrap();
    assert!(
        unknown.message.contains("expected one of"),
        "{}",
        unknown.message
    );
    // The wrong-typed key is reported once, not again as missing.
    assert_eq!(
        paths.iter().filter(|p| **p == "sink.include_raw").count(),
        1
    );
}

#[test]
fn a_mistake_set_by_the_environment_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &v2_tenant("acme"));
    let mut env = env();
    env.insert(
        "MIMECAST_COLLECTOR__COLLECTOR__POLL_INTERVAL".into(),
        "30".into(),
    );
    let err = load(&path, &env).unwrap_err();
    let e = err
        .key_errors()
        .iter()
        .find(|e| e.path == "collector.poll_interval")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        e.message.contains(
            "set by the environment variable MIMECAST_COLLECTOR__COLLECTOR__POLL_INTERVAL"
        ),
        "{}",
        e.message
    );
}

/// No config error shows a secret's value: a syntax error on a secret's line, a line after it,
/// a duplicate secret key, a secret of the wrong type, for every secret key of both APIs (and a
/// key merely named like one). The line is still quoted, its value hidden.
#[test]
fn config_errors_never_show_a_secret() {
    const SECRET: &str = "Sup3rS3cret-4711";
    let v1 = |key: &str, value: &str| {
        let mut keys = [
            ("app_id", "\"app-1\"".to_string()),
            ("app_key", "\"k\"".to_string()),
            ("access_key", "\"a\"".to_string()),
            ("secret_key", "\"s\"".to_string()),
        ];
        for k in keys.iter_mut() {
            if k.0 == key {
                k.1 = value.to_string();
            }
        }
        let body: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        format!("[[tenant]]\nname = \"g\"\napi = \"v1\"\nregion = \"uk\"\n{body}streams = [\"audit\"]\n")
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    for key in ["app_key", "access_key", "secret_key"] {
        cases.push((
            format!("{key}: unterminated"),
            v1(key, &format!("\"{SECRET}")),
        ));
        cases.push((format!("{key}: a number"), v1(key, "47114711")));
        cases.push((
            format!("{key}: then a broken line"),
            v1(key, &format!("\"{SECRET}\"\n}}}}broken")),
        ));
        cases.push((
            format!("{key}: twice"),
            v1(key, &format!("\"{SECRET}\"\n{key} = \"{SECRET}\"")),
        ));
    }
    let v2 = |value: &str| {
        format!("[[tenant]]\nname = \"a\"\nclient_id = \"c\"\nclient_secret = {value}\nstreams = [\"audit\"]\n")
    };
    cases.push((
        "client_secret: unterminated".into(),
        v2(&format!("\"{SECRET}")),
    ));
    cases.push(("client_secret: a number".into(), v2("47114711")));
    cases.push((
        "client_secret: twice".into(),
        v2(&format!("\"{SECRET}\"\nclient_secret = \"{SECRET}\"")),
    ));
    cases.push((
        "a key named like a secret".into(),
        format!("{}api_token = \"{SECRET}\n", v2_tenant("x")),
    ));
    // A value over lines: the parser quotes a line inside it, which is hidden whole.
    let over_lines = [
        (
            "client_secret: a multi-line string",
            v2(&format!("\"\"\"\n{SECRET}\"\"\" x")),
        ),
        (
            "client_secret: a multi-line literal",
            v2(&format!("'''x\n{SECRET}''' x")),
        ),
        (
            "client_secret: an array over lines",
            v2(&format!("[\n  \"{SECRET}\" x\n]")),
        ),
        (
            "secret_key: escapes, a line-ending backslash and a comment sign in the string",
            v1(
                "secret_key",
                &format!("\"\"\"a \\\"\"\" # \\\n{SECRET}\"\"\" x"),
            ),
        ),
    ];
    for (what, text) in over_lines {
        let err = load_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("[redacted: part of the value of"),
            "{what}: {err}"
        );
        cases.push((what.into(), text));
    }
    // The parser refuses a secret without its `=`, or with a `:`, quoting the line.
    for (what, line) in [
        (
            "client_secret: a colon",
            format!("client_secret: \"{SECRET}\""),
        ),
        ("client_secret: no =", format!("client_secret \"{SECRET}\"")),
        (
            "client_secret: quoted, a colon",
            format!("\"client_secret\": \"{SECRET}\""),
        ),
    ] {
        let text =
            format!("[[tenant]]\nname = \"a\"\nclient_id = \"c\"\n{line}\nstreams = [\"audit\"]\n");
        let err = load_text(&text).unwrap_err().to_string();
        assert!(
            err.contains("client_secret") && err.contains("[redacted]"),
            "{what}: {err}"
        );
        cases.push((what.into(), text));
    }
    cases.push((
        "a base_url with a password".into(),
        format!(
            "{}base_url = \"https://user:{SECRET}@mimecast.example\"\n",
            v2_tenant("x")
        ),
    ));
    for (what, text) in cases {
        let err = match load_text(&text) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            !err.contains(SECRET) && !err.contains("47114711"),
            "{what}: the error shows the secret:\n{err}"
        );
    }
    // The quoted line stays, with its value hidden.
    let err = load_text(&v2(&format!("\"{SECRET}")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_secret = [redacted]"), "{err}");
}

#[test]
fn secret_keys_are_recognised_and_secret_files_are_not() {
    for key in [
        "client_secret",
        "tenant[0].secret_key",
        "tenant[1].app_key",
        "access_key",
        "password",
        "api_token",
    ] {
        assert!(super::is_secret_key(key), "{key}");
    }
    for key in [
        "client_id",
        "app_id",
        "secret_key_file",
        "tenant[0].name",
        "streams",
    ] {
        assert!(!super::is_secret_key(key), "{key}");
    }
}

#[test]
fn the_siem_listing_budget_defaults_to_the_peers_figure_and_can_be_lifted() {
    let c = load_text(&v2_tenant("a")).unwrap();
    let b = c.http.siem_listing_budget.unwrap();
    assert_eq!((b.calls.get(), b.per), (50, Duration::from_secs(900)));
    let c = load_text(&format!(
        "[http]\nsiem_listing_budget = \"100/1h\"\n{}",
        v2_tenant("a")
    ))
    .unwrap();
    let b = c.http.siem_listing_budget.unwrap();
    assert_eq!((b.calls.get(), b.per), (100, Duration::from_secs(3600)));
    let c = load_text(&format!(
        "[http]\nsiem_listing_budget = \"none\"\n{}",
        v2_tenant("a")
    ))
    .unwrap();
    assert!(c.http.siem_listing_budget.is_none());
}

#[test]
fn a_syslog_sink_is_loaded_with_its_defaults_and_tls() {
    let cfg = load_text(&format!(
        "[sink]\nkind = \"syslog\"\naddress = \"siem.example.com:514\"\n{}",
        v2_tenant("a")
    ))
    .unwrap();
    assert_eq!(
        cfg.sink.kind,
        SinkKind::Syslog(SyslogConfig {
            address: "siem.example.com:514".into(),
            tls: None,
            app_name: "mimecast-collector".into(),
            hostname: None,
            facility: 16,
        })
    );
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/syslog-ca.pem");
    let cfg = load_text(&format!(
        "[sink]\nkind = \"syslog\"\naddress = \"[::1]:6514\"\ntls = true\nca_file = {:?}\napp_name = \"mc\"\nhostname = \"collector-1\"\nfacility = \"local7\"\n{}",
        ca.display().to_string(),
        v2_tenant("a")
    ))
    .unwrap();
    let SinkKind::Syslog(syslog) = &cfg.sink.kind else {
        panic!("{:?}", cfg.sink.kind)
    };
    let tls = syslog.tls.as_ref().unwrap();
    assert_eq!(tls.server_name, "::1");
    assert!(tls.extra_ca_pem.is_some());
    assert_eq!((syslog.facility, syslog.app_name.as_str()), (23, "mc"));
    assert_eq!(syslog.hostname.as_deref(), Some("collector-1"));
}

#[test]
fn syslog_sink_mistakes_are_named_by_key() {
    let err = load_text(&format!(
        "[sink]\nkind = \"syslog\"\nca_file = \"/nonexistent.pem\"\napp_name = \"two words\"\nfacility = \"local9\"\npath = \"out.jsonl\"\n{}",
        v2_tenant("a")
    ))
    .unwrap_err();
    let keys: Vec<&str> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    for key in [
        "sink.address",
        "sink.ca_file",
        "sink.app_name",
        "sink.facility",
        "sink.path",
    ] {
        assert!(keys.contains(&key), "{key} not in {err}");
    }
    let err = load_text(&format!(
        "[sink]\nkind = \"syslog\"\naddress = \"siem\"\ntls = true\nserver_name = \"not a name\"\n{}",
        v2_tenant("a")
    ))
    .unwrap_err();
    let keys: Vec<&str> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(keys, ["sink.address"], "{err}");
    let err = load_text(&format!(
        "[sink]\nkind = \"syslog\"\naddress = \"siem:6514\"\ntls = true\nserver_name = \"not a name\"\nca_file = {:?}\n{}",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml").display().to_string(),
        v2_tenant("a")
    ))
    .unwrap_err();
    let keys: Vec<&str> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(keys, ["sink.server_name", "sink.ca_file"], "{err}");
    let err = load_text(&format!(
        "[sink]\nkind = \"file\"\npath = \"out.jsonl\"\naddress = \"siem:514\"\n{}",
        v2_tenant("a")
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("sink.address: is only used with kind = \"syslog\""),
        "{err}"
    );
}

#[cfg(feature = "kafka")]
fn kafka_config(sink: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kafka.pw"), "pw-from-FILE-7\n").unwrap();
    let path = write_config(
        dir.path(),
        &format!("[sink]\nkind = \"kafka\"\n{sink}\n{}", v2_tenant("acme")),
    );
    let mut env = env();
    env.insert("KAFKA_PW".into(), "pw-from-ENV-6".into());
    load(&path, &env)
}

#[cfg(feature = "kafka")]
#[test]
fn a_kafka_sink_is_typed_with_its_defaults_and_secrets() {
    let cfg = kafka_config(
        r#"brokers = ["k1:9092", "k2.example:19092"]
[sink.kafka]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "collector"
"sasl.password" = "${KAFKA_PW}"
"ssl.key.password_file" = "kafka.pw"
"linger.ms" = 20
"#,
    )
    .unwrap();
    let SinkKind::Kafka(k) = &cfg.sink.kind else {
        panic!("{:?}", cfg.sink.kind)
    };
    assert_eq!(k.brokers, ["k1:9092", "k2.example:19092"]);
    assert_eq!(k.topic, DEFAULT_KAFKA_TOPIC);
    assert_eq!(k.delivery_timeout, DEFAULT_DELIVERY_TIMEOUT);
    assert_eq!(k.properties["linger.ms"], KafkaValue::Plain("20".into()));
    assert_eq!(k.properties["sasl.password"].expose(), "pw-from-ENV-6");
    assert!(matches!(
        k.properties["sasl.password"],
        KafkaValue::Secret(_)
    ));
    assert_eq!(k.properties["ssl.key.password"].expose(), "pw-from-FILE-7");
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("pw-from"), "{debug}");
}

#[cfg(feature = "kafka")]
#[test]
fn kafka_mistakes_name_their_keys_and_never_a_secret() {
    let err = kafka_config(
        r#"brokers = ["k1", "http://k2:9092"]
topic = "bad topic"
delivery_timeout = "2h"
[sink.kafka]
"acks" = "1"
"enable.idempotence" = false
"bootstrap.servers" = "elsewhere:9092"
"transactional.id" = "x"
"linger.mss" = 5
"sasl.password" = 12345678
"ssl.key.password" = "${NOT_SET_VAR}"
"ssl.ca.location_file" = "/etc/ca.pem"
"debug" = "broker,conf"
"#,
    )
    .unwrap_err();
    let keys: Vec<&str> = err.key_errors().iter().map(|e| e.path.as_str()).collect();
    for key in [
        "sink.brokers[0]",
        "sink.brokers[1]",
        "sink.topic",
        "sink.delivery_timeout",
        "sink.kafka.acks",
        "sink.kafka.enable.idempotence",
        "sink.kafka.bootstrap.servers",
        "sink.kafka.transactional.id",
        "sink.kafka.linger.mss",
        "sink.kafka.sasl.password",
        "sink.kafka.ssl.key.password",
        "sink.kafka.ssl.ca.location_file",
        "sink.kafka.debug",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    let text = err.to_string();
    assert!(!text.contains("12345678"), "{text}");
    // A file sink with Kafka keys, and no brokers at all.
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "[sink]\nkind = \"file\"\npath = \"o.jsonl\"\ntopic = \"t\"\n{}",
            v2_tenant("acme")
        ),
    );
    let err = load(&path, &env()).unwrap_err();
    assert_eq!(err.key_errors()[0].path, "sink.topic", "{err}");
    let err = kafka_config("").unwrap_err();
    assert_eq!(err.key_errors()[0].path, "sink.brokers", "{err}");
}
