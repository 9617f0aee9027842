//! No configured secret appears in any log line, error message or `Debug` output, including
//! on every error path of the client (401, 403, 418, 429, 5xx, token refresh).
//!
//! The sweep (`common::assert_no_secret`) then looks at everything the binary produces, logging
//! at trace: `check` (offline and online, text and JSON), `run --once` with and without faults
//! and with wrong credentials, `status`, `reset`, `permissions`, `login`, a running daemon
//! refusing broken configurations on SIGHUP, and `check`/`run` on every kind of config
//! mistake; with the output file and the state database. Each secret is looked for whole, in
//! any 8-byte part, and encoded as it travels (form body, Basic header, JSON, base64).

mod common;

use common::*;
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_reach_logs_errors_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let mut shown = String::new();
    let demo = SimTenant::demo();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tenant = demo.clone();
            tenant.denied = vec!["Account | Logs | Read".into()];
            let sim = start_sim(SimConfig {
                tenants: vec![tenant],
                token_ttl: std::time::Duration::from_secs(1),
                ..SimConfig::default()
            })
            .await;
            for rule in [
                FaultKind::RateLimit {
                    reset_ms: Some(100),
                },
                FaultKind::RateLimit { reset_ms: None },
                FaultKind::Status(503),
                FaultKind::HtmlError(502),
                FaultKind::TruncatedJson,
                FaultKind::TokenExpired,
            ] {
                sim.inject(FaultRule {
                    path_prefix: Some(TTP_URL.into()),
                    tenant: None,
                    times: 1,
                    after: 0,
                    kind: rule,
                });
            }
            let v1 = v1_tenant(&sim, &demo);
            let v2 = v2_tenant(&sim, &demo);
            shown.push_str(&format!("{v1:?} {v2:?}"));
            for cfg in [&v1, &v2] {
                let client = client(cfg);
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
                let _ = client.post(TTP_URL, &ttp_url_body(None, 10)).await;
                let e = client
                    .post(
                        "/api/audit/get-audit-events",
                        &serde_json::json!({"data": [{}]}),
                    )
                    .await
                    .unwrap_err();
                shown.push_str(&format!("{e} {e:?}"));
            }
            let mut bad_v1 = v1.clone();
            if let mimecast_collector::config::Credentials::V1(c) = &mut bad_v1.credentials {
                c.secret_key = secrecy::SecretString::from("d3Jvbmc=");
            }
            let e = client(&bad_v1)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            let mut bad_v2 = v2.clone();
            if let mimecast_collector::config::Credentials::V2(c) = &mut bad_v2.credentials {
                c.client_secret = secrecy::SecretString::from("wrong-secret-VALUE");
            }
            let e = client(&bad_v2)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            sim.expire_binding(&demo.name);
            let e = client(&v1)
                .post(TTP_URL, &ttp_url_body(None, 10))
                .await
                .unwrap_err();
            shown.push_str(&format!("{e} {e:?}"));
            sim.shutdown().await;
        });
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying"),
        "the error paths were exercised and logged:\n{logs}"
    );
    let v1 = demo.v1.as_ref().unwrap();
    let v2 = demo.v2.as_ref().unwrap();
    for secret in [
        &v1.app_key,
        &v1.access_key,
        &v1.secret_key,
        &v2.client_secret,
        &"wrong-secret-VALUE".to_string(),
    ] {
        assert!(!logs.contains(secret.as_str()), "log shows a secret");
        assert!(
            !shown.contains(secret.as_str()),
            "an error or Debug output shows a secret: {shown}"
        );
    }
    // Bearer tokens are credentials too.
    assert!(
        !logs.to_lowercase().contains("bearer "),
        "a bearer token was logged"
    );
}

// ---------------------------------------------------------------------------------------------
// The sweep: every output of the binary, for every secret of the configs it ran with.

use base64::Engine as _;
use mimecast_sim::{LoginUser, Simulator, V1Creds, V2Creds};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "sweep-client-id";
const APP_ID: &str = "sweep-app-id";
const EMAIL: &str = "collector@sweep.example";
/// `+`, `/` and `=` make its form-urlencoded body form differ from the text.
const CLIENT_SECRET: &str = "cs+Qm7/VxZ2kLp9TfR4wYb8N=";
/// Given to the binary as `${SWEEP_APP_KEY}`.
const APP_KEY: &str = "ak-Hs3Dq8WmZt5Lc1XvJ6";
const APP_KEY_VAR: &str = "SWEEP_APP_KEY";
const ACCESS_KEY: &str = "acc-J7rKq2PwN9sVd4FhT3";
/// The secret key decoded; the config holds its base64, in a `_file`.
const SECRET_KEY_RAW: &str = "sk-Wn6Tb1Yq8Rz3Mv5Kx0Lp";
const PASSWORD: &str = "pw-Ge4Jt7Ub2Ha9Sc6Qd1&x";
const WRONG_CLIENT_SECRET: &str = "wcs-Fz8Nn2Rr5Bv3Xq7Pk";
const WRONG_SECRET_KEY_RAW: &str = "wsk-Lb4Cv7Nm1Qz9Tg2Hy";
const WRONG_PASSWORD: &str = "wpw-Vd3Ks8Pe5Ja2Wr6Zu";
/// The password of a `base_url` with user information.
const URL_PASSWORD: &str = "up-Yc5Lg8Tw3Mz6Ds1Ek";
/// A second secret value: a duplicate key's, a misnamed key's, an array's second item.
const OTHER_SECRET: &str = "os-Rt2Gh9Kw4Bn7Xc3Vm";
/// A secret written as a number (a wrong type): matched whole, its digits are common.
const NUMBER_SECRET: &str = "918273645546372819";
const EXIT_CONFIG: i32 = 78;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The simulator's account, with credentials no ordinary output could contain by chance.
fn sweep_tenant() -> SimTenant {
    SimTenant {
        name: "sweep".into(),
        v1: Some(V1Creds {
            app_id: APP_ID.into(),
            app_key: APP_KEY.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: b64(SECRET_KEY_RAW),
        }),
        v2: Some(V2Creds {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        }),
        login: Some(LoginUser {
            email: EMAIL.into(),
            password: PASSWORD.into(),
        }),
        denied: Vec::new(),
        granted: None,
        products: None,
    }
}

/// Every secret the sweep's configs and commands hold.
fn secrets() -> SecretSet {
    let mut s = SecretSet::new();
    s.add("client_secret", CLIENT_SECRET)
        .add("app_key", APP_KEY)
        .add("access_key", ACCESS_KEY)
        .add("secret_key", &b64(SECRET_KEY_RAW))
        .add("secret_key, decoded", SECRET_KEY_RAW)
        .add("the login password", PASSWORD)
        .add(
            "the login's Basic credentials",
            &b64(&format!("{EMAIL}:{PASSWORD}")),
        )
        .add("a wrong client_secret", WRONG_CLIENT_SECRET)
        .add("a wrong secret_key", &b64(WRONG_SECRET_KEY_RAW))
        .add("a wrong secret_key, decoded", WRONG_SECRET_KEY_RAW)
        .add("a wrong login password", WRONG_PASSWORD)
        .add("a base_url's password", URL_PASSWORD)
        .add("another secret value", OTHER_SECRET)
        .add_exact("a secret written as a number", NUMBER_SECRET);
    s
}

/// A simulator on its own runtime, so that the test thread can run the binary and wait for it.
struct Sim {
    rt: tokio::runtime::Runtime,
    sim: Option<Simulator>,
}

impl Sim {
    fn start() -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sim = rt.block_on(start_sim(SimConfig {
            tenants: vec![sweep_tenant()],
            ..sim_config(20)
        }));
        Sim { rt, sim: Some(sim) }
    }

    fn sim(&self) -> &Simulator {
        self.sim.as_ref().unwrap()
    }

    fn url(&self) -> String {
        self.sim().base_url()
    }

    fn inject(&self, path: &str, times: u32, kind: FaultKind) {
        self.sim().inject(FaultRule {
            path_prefix: Some(path.into()),
            tenant: None,
            times,
            after: 0,
            kind,
        });
    }

    /// Adds the credentials the collector sent (bearer tokens, signatures): they are secrets too.
    fn add_credentials_sent(&self, secrets: &mut SecretSet) -> usize {
        let mut n = 0;
        for r in self.sim().requests() {
            let Some(auth) = r.header("authorization") else {
                continue;
            };
            let credential = auth.split_once(' ').map_or(auth, |(_, c)| c);
            // API 1.0: `MC accessKey:signature`.
            let credential = credential.rsplit(':').next().unwrap_or(credential);
            secrets.add("a credential the collector sent", credential);
            n += 1;
        }
        n
    }

    fn stop(mut self) {
        let sim = self.sim.take().unwrap();
        self.rt.block_on(sim.shutdown());
    }
}

/// A config whose tenants hold every form of secret: API 2.0 inline; API 1.0 from `${VAR}`,
/// inline and from a `_file` (next to the config).
fn config_text(base_url: &str, dir: &Path) -> String {
    format!(
        r#"[collector]
state_path = {state:?}
poll_interval = "1h"

[http]
retry_initial_delay = "10ms"
retry_max_delay = "50ms"
retry_max_attempts = 10
requests_per_minute = 6000

[sink]
kind = "file"
path = {out:?}

[[tenant]]
name = "sweep-v2"
base_url = "{base_url}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
streams = ["ttp_url", "audit"]

[[tenant]]
name = "sweep-v1"
api = "v1"
base_url = "{base_url}"
app_id = "{APP_ID}"
app_key = "${{{APP_KEY_VAR}}}"
access_key = "{ACCESS_KEY}"
secret_key_file = "v1.secret"
streams = ["siem_mta", "audit"]
"#,
        state = dir.join("state.db").display().to_string(),
        out = dir.join("events.jsonl").display().to_string(),
    )
}

/// The API 2.0 secret's line in [`config_text`], for cases that change it.
fn client_secret_line() -> String {
    format!("client_secret = \"{CLIENT_SECRET}\"\n")
}

const SECRET_FILE_LINE: &str = "secret_key_file = \"v1.secret\"\n";

/// Writes `text` as `config.toml` in `dir`, with the API 1.0 secret key file beside it.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    std::fs::write(dir.join("v1.secret"), format!("{}\n", b64(SECRET_KEY_RAW))).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// What the binary printed, and what it left on disk, each with where it came from.
#[derive(Default)]
struct Outputs(Vec<(String, Vec<u8>)>);

impl Outputs {
    fn push(&mut self, what: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((what.into(), bytes.into()));
    }

    /// Every file the binary wrote in `dir` (the output, the state database and its journal);
    /// the config and the secret files, which hold the secrets on purpose, are left out.
    fn files(&mut self, what: &str, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_file() && !name.ends_with(".toml") && !name.ends_with(".secret") {
                self.push(format!("{what}: {name}"), std::fs::read(&path).unwrap());
            }
        }
    }

    fn sweep(&self, secrets: &SecretSet) {
        assert!(!self.0.is_empty());
        for (what, bytes) in &self.0 {
            assert_no_secret(what, bytes, secrets);
        }
    }
}

/// The binary logging at trace, in `dir`, with the API 1.0 app key in its environment.
fn collector(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"));
    cmd.args(["--log-level", "trace"])
        .current_dir(dir)
        .env(APP_KEY_VAR, APP_KEY)
        .env_remove("RUST_LOG");
    cmd
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn read_all(mut from: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        from.read_to_end(&mut buf).unwrap();
        buf
    })
}

/// Runs `cmd` to its end (at most a minute), `input` on its stdin, keeping its stdout and
/// stderr in `outputs` as `what`.
fn run(outputs: &mut Outputs, what: &str, cmd: &mut Command, input: Option<&str>) -> Ran {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = input {
        // Dropped at the end of the statement: the binary reads to the end of its input.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{what}: still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    outputs.push(format!("{what}: stdout"), stdout.clone());
    outputs.push(format!("{what}: stderr"), stderr.clone());
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs the binary with `args` and `--config`, expecting exit `code`.
fn expect(outputs: &mut Outputs, dir: &Path, config: &Path, args: &[&str], code: i32) -> Ran {
    let what = args.join(" ");
    let mut cmd = collector(dir);
    cmd.args(args).arg("--config").arg(config);
    let ran = run(outputs, &what, &mut cmd, None);
    assert_eq!(
        ran.code,
        Some(code),
        "{what}:\n{}\n{}",
        ran.stdout,
        tail(&ran.stderr)
    );
    ran
}

/// The end of a long log, for failure messages.
fn tail(log: &str) -> &str {
    let start = log.len().saturating_sub(4000);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(0);
    &log[start..]
}

#[test]
fn the_sweep_finds_a_secret_whole_in_part_and_encoded() {
    let mut s = SecretSet::new();
    s.add("client_secret", CLIENT_SECRET)
        .add_exact("a number", NUMBER_SECRET);
    let form = |text: &str| s.find(text.as_bytes()).map(|f| f.form);
    assert_eq!(
        form(&format!("error: {CLIENT_SECRET}.")),
        Some("as written")
    );
    assert_eq!(
        form(&format!("…{}…", &CLIENT_SECRET[5..13])),
        Some("as written"),
        "8 bytes of it"
    );
    assert_eq!(form("client_secret=cs%2BQm7%2FV"), Some("form-urlencoded"));
    assert_eq!(
        form(&format!("Basic {}", b64(CLIENT_SECRET))),
        Some("base64")
    );
    assert_eq!(
        form(&format!("value {NUMBER_SECRET} here")),
        Some("whole value")
    );
    assert_eq!(form(&NUMBER_SECRET[..12]), None, "a number only whole");
    assert_eq!(form(&CLIENT_SECRET[..7]), None, "7 bytes are not a leak");
    assert_eq!(
        form("tenant[0].client_secret: wrong type: expected a string (the value is not shown)"),
        None
    );
    let failure = std::panic::catch_unwind(|| {
        assert_no_secret("a log", format!("x\n{CLIENT_SECRET}\ny"), &s)
    })
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("a log shows the secret client_secret (as written) at byte 2: …x⏎»"),
        "{message}"
    );
}

/// Every command, working: `check` (offline and online, text and JSON), `run --once` (text
/// and JSON logs), `status`, `permissions`, `reset`; with the output file and the state.
#[test]
fn commands_show_no_secret() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write_config(d, &config_text(&sim.url(), d));
    let mut out = Outputs::default();
    expect(&mut out, d, &config, &["check", "--offline"], 0);
    expect(&mut out, d, &config, &["check", "--offline", "--json"], 0);
    let checked = expect(&mut out, d, &config, &["check"], 0);
    assert_eq!(
        checked.stdout.matches(" ok ").count(),
        4,
        "{}",
        checked.stdout
    );
    expect(&mut out, d, &config, &["check", "--json"], 0);
    let ran = expect(&mut out, d, &config, &["run", "--once"], 0);
    assert!(
        ran.stderr.contains("TRACE") && ran.stderr.contains("poll complete"),
        "logged at trace: {}",
        tail(&ran.stderr)
    );
    assert_eq!(count_lines(&d.join("events.jsonl")), 80);
    expect(&mut out, d, &config, &["status"], 0);
    expect(&mut out, d, &config, &["status", "--json"], 0);
    expect(&mut out, d, &config, &["permissions"], 0);
    let args = ["reset", "--tenant", "sweep-v2", "--stream", "audit"];
    expect(&mut out, d, &config, &args, 0);
    let args = [
        "reset", "--tenant", "sweep-v1", "--stream", "audit", "--since", "1d",
    ];
    expect(&mut out, d, &config, &args, 0);
    let args = ["--log-format", "json", "run", "--once"];
    expect(&mut out, d, &config, &args, 0);
    out.files("after the runs", d);
    let mut secrets = secrets();
    assert!(sim.add_credentials_sent(&mut secrets) > 0);
    sim.stop();
    out.sweep(&secrets);
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `run --once`, `check` and `status` on every way a poll fails: transient faults retried,
/// refusals from the token endpoint (401) and for signed calls (418, 403), redirects of
/// credential-bearing requests, credentials Mimecast does not know, and nobody listening.
#[test]
fn error_paths_show_no_secret() {
    let mut secrets = secrets();
    let mut out = Outputs::default();
    let scenario = |out: &mut Outputs,
                    secrets: &mut SecretSet,
                    what: &str,
                    faults: &[(&str, u32, FaultKind)],
                    edit: &dyn Fn(String) -> String,
                    runs: &[(&[&str], i32)]| {
        let sim = Sim::start();
        for (path, times, kind) in faults {
            sim.inject(path, *times, kind.clone());
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = write_config(d, &edit(config_text(&sim.url(), d)));
        std::fs::write(
            d.join("wrong.secret"),
            format!("{}\n", b64(WRONG_SECRET_KEY_RAW)),
        )
        .unwrap();
        let mut logs = String::new();
        for (args, code) in runs {
            let ran = expect(out, d, &config, args, *code);
            logs.push_str(&ran.stdout);
            logs.push_str(&ran.stderr);
        }
        out.files(what, d);
        sim.add_credentials_sent(secrets);
        sim.stop();
        logs
    };
    let same = |text: String| text;

    let transient = [
        FaultKind::RateLimit { reset_ms: Some(20) },
        FaultKind::RateLimit { reset_ms: None },
        FaultKind::Status(503),
        FaultKind::HtmlError(502),
        FaultKind::TruncatedJson,
        FaultKind::MalformedJson,
        FaultKind::Reset,
    ];
    // Both tenants' calls; API 2.0 alone (ttp_url) for an expired token, which it refreshes.
    let mut faults: Vec<_> = transient.into_iter().map(|k| ("/api/", 1, k)).collect();
    faults.push((TTP_URL, 1, FaultKind::TokenExpired));
    let logs = scenario(
        &mut out,
        &mut secrets,
        "transient faults",
        &faults,
        &same,
        &[(&["run", "--once"], 0), (&["status"], 0)],
    );
    assert!(logs.contains("retrying"), "{}", tail(&logs));

    let logs = scenario(
        &mut out,
        &mut secrets,
        "refusals",
        &[
            ("/oauth/token", u32::MAX, FaultKind::Status(401)),
            ("/api/audit/get-siem-logs", u32::MAX, FaultKind::KeysExpired),
            (
                "/api/audit/get-audit-events",
                u32::MAX,
                FaultKind::Forbidden,
            ),
        ],
        &same,
        &[
            (&["run", "--once"], 1),
            (&["status"], 1),
            (&["status", "--json"], 1),
            (&["check"], 1),
            (&["check", "--json"], 1),
        ],
    );
    for shown in ["HTTP 401", "Never Expire", "HTTP 403"] {
        assert!(logs.contains(shown), "{shown}: {}", tail(&logs));
    }

    let elsewhere = format!("http://127.0.0.1:{}/elsewhere", closed_port());
    let logs = scenario(
        &mut out,
        &mut secrets,
        "redirects",
        &[
            (
                "/oauth/token",
                u32::MAX,
                FaultKind::Redirect(elsewhere.clone()),
            ),
            ("/api/", u32::MAX, FaultKind::Redirect(elsewhere)),
        ],
        &same,
        &[(&["run", "--once"], 1), (&["check", "--json"], 1)],
    );
    assert!(logs.contains("was not followed"), "{}", tail(&logs));

    let logs = scenario(
        &mut out,
        &mut secrets,
        "wrong credentials",
        &[],
        &|text| {
            text.replace(
                &client_secret_line(),
                &format!("client_secret = \"{WRONG_CLIENT_SECRET}\"\n"),
            )
            .replace(SECRET_FILE_LINE, "secret_key_file = \"wrong.secret\"\n")
        },
        &[
            (&["run", "--once"], 1),
            (&["check"], 1),
            (&["check", "--json"], 1),
            (&["status", "--json"], 1),
        ],
    );
    assert!(logs.contains("credentials rejected"), "{}", tail(&logs));

    let nobody = format!("http://127.0.0.1:{}", closed_port());
    let logs = scenario(
        &mut out,
        &mut secrets,
        "nobody listening",
        &[],
        &|text| text.replace(&text_base_url(&text), &nobody),
        &[(&["check"], 1), (&["run", "--once"], 1)],
    );
    assert!(logs.contains("cannot connect"), "{}", tail(&logs));
    out.sweep(&secrets);
}

/// The `base_url` a config text points at.
fn text_base_url(text: &str) -> String {
    let line = text.lines().find(|l| l.starts_with("base_url = ")).unwrap();
    line["base_url = ".len()..].trim_matches('"').to_string()
}

/// `login` reads the password from stdin: neither it nor the keys it gets (written to
/// `--out`) show in its output, whether it succeeds, is refused, or the call fails.
#[test]
fn login_shows_no_password_and_no_key() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let snippet = d.join("tenant.toml");
    let mut out = Outputs::default();
    let mut login = |what: &str, password: &str, extra: &[&str]| {
        let mut cmd = collector(d);
        cmd.args([
            "login",
            "--email",
            EMAIL,
            "--app-id",
            APP_ID,
            "--password-stdin",
            "--name",
            "sweep",
            "--base-url",
            &sim.url(),
            "--out",
        ])
        .arg(&snippet)
        .args(extra);
        run(&mut out, what, &mut cmd, Some(&format!("{password}\n")))
    };
    let ran = login("login", PASSWORD, &[]);
    assert_eq!(ran.code, Some(0), "{}", tail(&ran.stderr));
    let keys = std::fs::read_to_string(&snippet).unwrap();
    assert!(keys.contains(ACCESS_KEY) && keys.contains(&b64(SECRET_KEY_RAW)));
    assert!(!keys.contains(PASSWORD));
    std::fs::remove_file(&snippet).unwrap();
    let ran = login("login, wrong password", WRONG_PASSWORD, &[]);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("check the email and password"));
    let ran = login("login --auth domain", WRONG_PASSWORD, &["--auth", "domain"]);
    assert_eq!(ran.code, Some(1));
    let ran = login("login, empty password", "", &[]);
    assert_eq!(ran.code, Some(2));
    sim.inject("/api/login/login", 1, FaultKind::HtmlError(502));
    let ran = login("login, server error", PASSWORD, &[]);
    assert_eq!(ran.code, Some(1));
    let elsewhere = format!("http://127.0.0.1:{}/login", closed_port());
    sim.inject("/api/login/login", 1, FaultKind::Redirect(elsewhere));
    let ran = login("login, redirected", PASSWORD, &[]);
    assert_eq!(ran.code, Some(1));
    assert!(!snippet.exists());
    let mut secrets = secrets();
    sim.add_credentials_sent(&mut secrets);
    sim.stop();
    out.sweep(&secrets);
}

/// A broken config that holds every secret, and the key its error must name.
struct Mistake {
    what: &'static str,
    text: String,
    key: &'static str,
    /// Variables to set, or (with an empty value) to unset, for this case.
    env: Vec<(&'static str, &'static str)>,
}

/// Every kind of config mistake, each in a config holding every secret (see [`config_text`]).
fn mistakes(base_url: &str, dir: &Path) -> Vec<Mistake> {
    let good = config_text(base_url, dir);
    let line = client_secret_line();
    let secret_line = |new: &str| good.replacen(&line, new, 1);
    let after_secret = |new: &str| secret_line(&format!("{line}{new}"));
    let secret_file = |new: &str| good.replacen(SECRET_FILE_LINE, new, 1);
    let v2_base_url = |url: &str| {
        good.replacen(
            &format!("base_url = \"{base_url}\"\n"),
            &format!("base_url = \"{url}\"\n"),
            1,
        )
    };
    let case = |what, text: String, key| Mistake {
        what,
        text,
        key,
        env: Vec::new(),
    };
    vec![
        case(
            "TOML syntax error on the secret's line",
            secret_line(&format!("client_secret = \"{CLIENT_SECRET}\n")),
            "client_secret",
        ),
        case(
            "junk after the secret on its line",
            secret_line(&format!(
                "client_secret = \"{CLIENT_SECRET}\" {OTHER_SECRET}\n"
            )),
            "client_secret",
        ),
        case(
            "TOML syntax error on the line after the secret",
            good.replacen(
                &format!("{line}streams = [\"ttp_url\", \"audit\"]\n"),
                &format!("{line}streams = [\"ttp_url\", \"audit\"] x\n"),
                1,
            ),
            "streams",
        ),
        case(
            "a secret written with a colon",
            secret_line(&format!("client_secret: \"{CLIENT_SECRET}\"\n")),
            "client_secret",
        ),
        case(
            "a secret without its =",
            secret_line(&format!("client_secret \"{CLIENT_SECRET}\"\n")),
            "client_secret",
        ),
        case(
            "the secret twice",
            after_secret(&format!("client_secret = \"{OTHER_SECRET}\"\n")),
            "client_secret",
        ),
        case(
            "a secret written as a number",
            secret_line(&format!("client_secret = {NUMBER_SECRET}\n")),
            "tenant[0].client_secret",
        ),
        case(
            "a secret written as an array",
            secret_line(&format!(
                "client_secret = [\"{CLIENT_SECRET}\", \"{OTHER_SECRET}\"]\n"
            )),
            "tenant[0].client_secret",
        ),
        case(
            "a secret written as a table",
            secret_line(&format!(
                "client_secret = {{ value = \"{CLIENT_SECRET}\" }}\n"
            )),
            "tenant[0].client_secret",
        ),
        case(
            "an API 1.0 secret written as an array",
            good.replacen(
                &format!("access_key = \"{ACCESS_KEY}\"\n"),
                &format!("access_key = [\"{ACCESS_KEY}\"]\n"),
                1,
            ),
            "tenant[1].access_key",
        ),
        case(
            "a multi-line secret with a syntax error on its last line",
            secret_line(&format!(
                "client_secret = \"\"\"\n{CLIENT_SECRET}\"\"\" x\n"
            )),
            "client_secret",
        ),
        case(
            "a multi-line literal secret with a syntax error on its last line",
            secret_line(&format!(
                "client_secret = '''{CLIENT_SECRET}\n{OTHER_SECRET}''' x\n"
            )),
            "client_secret",
        ),
        case(
            "a secret array over lines with a syntax error inside",
            secret_line(&format!(
                "client_secret = [\n  \"{CLIENT_SECRET}\",\n  \"{OTHER_SECRET}\" x\n]\n"
            )),
            "client_secret",
        ),
        case(
            "an unknown key named like a secret beside the secret",
            after_secret(&format!("client_secrets = \"{OTHER_SECRET}\"\n")),
            "tenant[0].client_secrets",
        ),
        case(
            "a misspelt secret key",
            secret_line(&format!("clinet_secret = \"{CLIENT_SECRET}\"\n")),
            "tenant[0].clinet_secret",
        ),
        case(
            "TOML syntax error on an unknown key named like a secret",
            after_secret(&format!("api_token = \"{OTHER_SECRET}\n")),
            "api_token",
        ),
        case(
            "a secret-named key in a table without secrets",
            good.replacen(
                "[http]\n",
                &format!("[http]\nproxy_password = \"{OTHER_SECRET}\"\n"),
                1,
            ),
            "http.proxy_password",
        ),
        case(
            "an API 1.0 secret in an API 2.0 tenant",
            after_secret(&format!("app_key = \"{OTHER_SECRET}\"\n")),
            "tenant[0].app_key",
        ),
        case(
            "a ${VAR} that is not set",
            secret_line("client_secret = \"${SWEEP_NOT_SET}\"\n"),
            "tenant[0].client_secret",
        ),
        Mistake {
            env: vec![(APP_KEY_VAR, "")],
            ..case(
                "the app key's variable unset",
                good.clone(),
                "tenant[1].app_key",
            )
        },
        case(
            "a _file that does not exist",
            secret_file("secret_key_file = \"/nonexistent/sweep.secret\"\n"),
            "tenant[1].secret_key_file",
        ),
        case(
            "a _file that is a directory",
            secret_file("secret_key_file = \".\"\n"),
            "tenant[1].secret_key_file",
        ),
        case(
            "both a secret and its _file",
            after_secret("client_secret_file = \"v1.secret\"\n"),
            "tenant[0].client_secret",
        ),
        case(
            "a secret_key that is not base64",
            secret_file(&format!("secret_key = \"{OTHER_SECRET}\"\n")),
            "tenant[1].secret_key",
        ),
        case(
            "a mistake elsewhere",
            good.replacen("[http]\n", "[http]\nconnect_timeout = \"soon\"\n", 1),
            "http.connect_timeout",
        ),
        case(
            "a base_url with a password",
            v2_base_url(&format!("https://sweep:{URL_PASSWORD}@mimecast.example")),
            "tenant[0].base_url",
        ),
        case(
            "a base_url with a password over plain http",
            v2_base_url(&format!("http://sweep:{URL_PASSWORD}@mimecast.example")),
            "tenant[0].base_url",
        ),
        case(
            "a base_url with a password and a query",
            v2_base_url(&format!(
                "https://sweep:{URL_PASSWORD}@mimecast.example/?a=b"
            )),
            "tenant[0].base_url",
        ),
        case(
            "a base_url with a password and a bad port",
            v2_base_url(&format!(
                "https://sweep:{URL_PASSWORD}@mimecast.example:99999"
            )),
            "tenant[0].base_url",
        ),
        Mistake {
            env: vec![("MIMECAST_COLLECTOR__HTTP__API_TOKEN", OTHER_SECRET)],
            ..case(
                "an environment override of a secret-named key",
                good.clone(),
                "http.api_token",
            )
        },
    ]
}

/// `check --offline` (text and JSON) and `run` refuse each broken config with exit 78, naming
/// the key, and show no secret; nor does the error's `Display` or `Debug` (what a panic on it
/// would print).
#[test]
fn config_mistakes_show_no_secret_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut out = Outputs::default();
    let secrets = secrets();
    for m in mistakes("http://127.0.0.1:9", d) {
        let config = write_config(d, &m.text);
        for args in [
            &["check", "--offline"][..],
            &["check", "--offline", "--json"],
            &["run"],
        ] {
            let what = format!("{}: {}", m.what, args.join(" "));
            let mut cmd = collector(d);
            cmd.args(args).arg("--config").arg(&config);
            for (var, value) in &m.env {
                match *value {
                    "" => cmd.env_remove(var),
                    v => cmd.env(var, v),
                };
            }
            let ran = run(&mut out, &what, &mut cmd, None);
            assert_no_secret(&what, format!("{}{}", ran.stdout, ran.stderr), &secrets);
            assert_eq!(ran.code, Some(EXIT_CONFIG), "{what}:\n{}", ran.stderr);
            assert!(
                ran.stderr.contains(m.key),
                "{what}: the error does not name {}:\n{}",
                m.key,
                ran.stderr
            );
        }
        let mut env: HashMap<String, String> =
            HashMap::from([(APP_KEY_VAR.into(), APP_KEY.into())]);
        for (var, value) in &m.env {
            match *value {
                "" => env.remove(*var),
                v => env.insert(var.to_string(), v.to_string()),
            };
        }
        let e = mimecast_collector::config::load(&config, &env).unwrap_err();
        out.push(format!("{}: Display", m.what), e.to_string());
        out.push(format!("{}: Debug", m.what), format!("{e:?} {e:#?}"));
    }
    out.sweep(&secrets);
}

/// A running daemon refusing each broken config on SIGHUP logs why (naming the key), never a
/// secret; nor does the rest of its log, from start to stop.
#[test]
fn a_refused_reload_shows_no_secret() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = config_text(&sim.url(), d);
    let config = write_config(d, &good);
    let mut daemon = collector(d)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = daemon.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let wait_for = |what: &str, done: &dyn Fn(&str) -> bool| {
        let started = Instant::now();
        while !done(&log.lock().unwrap()) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{what}; log:\n{}",
                tail(&log.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let signal = |sig: libc::c_int| {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        assert_eq!(unsafe { libc::kill(daemon.id() as libc::pid_t, sig) }, 0);
    };
    wait_for("the daemon started", &|l| l.contains("collector started"));
    // Cases that need another environment are left out: the daemon's is fixed.
    let cases: Vec<Mistake> = mistakes(&sim.url(), d)
        .into_iter()
        .filter(|m| m.env.is_empty())
        .collect();
    for (n, m) in cases.iter().enumerate() {
        let before = log.lock().unwrap().len();
        std::fs::write(&config, &m.text).unwrap();
        signal(libc::SIGHUP);
        // The refusal is one log record over several lines: its first line may be read
        // before the one that names the key.
        let named = format!("{}: a refusal naming {}", m.what, m.key);
        wait_for(&named, &|l| {
            l.matches("new configuration refused").count() == n + 1 && l[before..].contains(m.key)
        });
    }
    signal(libc::SIGTERM);
    let started = Instant::now();
    while daemon.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(log.contains("TRACE") && log.contains("collector stopped"));
    let mut out = Outputs::default();
    out.push("the daemon's log", log);
    out.files("after the daemon", d);
    let mut secrets = secrets();
    sim.add_credentials_sent(&mut secrets);
    sim.stop();
    out.sweep(&secrets);
}

/// Nothing provokes a panic from input without a test hook in the binary, and the binary
/// installs no panic hook: a panic prints its message, which is what `Debug` shows of the
/// values around it. So: what holds a secret shows none in `Debug` (the client itself has no
/// `Debug` at all).
#[test]
fn debug_output_of_what_holds_a_secret_shows_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = write_config(d, &config_text("http://127.0.0.1:9", d));
    let env = HashMap::from([(APP_KEY_VAR.to_string(), APP_KEY.to_string())]);
    let cfg = mimecast_collector::config::load(&config, &env).unwrap();
    let shown = format!("{cfg:?}");
    assert!(
        shown.contains(CLIENT_ID) && shown.contains(APP_ID),
        "{shown}"
    );
    let mut out = Outputs::default();
    out.push("Config", shown);
    out.push("Config, pretty", format!("{cfg:#?}"));
    for t in &cfg.tenants {
        match &t.credentials {
            mimecast_collector::config::Credentials::V1(c) => {
                let signer = mimecast_collector::api::auth::V1Signer::new(c).unwrap();
                out.push("V1Signer", format!("{signer:?} {signer:#?}"));
                let headers = signer.headers(
                    "/api/audit/get-audit-events",
                    time::OffsetDateTime::now_utc(),
                    "00000000-0000-0000-0000-000000000000",
                );
                out.push("signed headers", format!("{headers:?}"));
            }
            mimecast_collector::config::Credentials::V2(c) => {
                let tokens = mimecast_collector::api::auth::TokenSource::new(
                    &t.base_url,
                    c,
                    http(Duration::from_secs(5)),
                )
                .unwrap();
                out.push("TokenSource", format!("{tokens:?} {tokens:#?}"));
            }
        }
    }
    out.push(
        "SecretString",
        format!("{:?}", secrecy::SecretString::from(CLIENT_SECRET)),
    );
    out.sweep(&secrets());
}
