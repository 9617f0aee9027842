//! The syslog sink against a real rsyslog (Debian's package) on loopback, started by each test
//! with a config of its own: imtcp (octet-counted framing, which it takes by default), every
//! message written to a file as JSON (`option.jsonf`), the header fields apart. Nothing of the
//! system's rsyslog is touched (`-f`, its own work directory, no imuxsock or imklog).
//!
//! A missing rsyslogd fails the tests, naming the package: a test that skipped would prove
//! nothing (`scripts/test.sh` and `.ci/run` install it).

mod common;
use mimecast_collector::config::{SinkKind, SyslogConfig, SyslogTls, TenantConfig};
use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant, Simulator};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rsyslogd() -> PathBuf {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("rsyslogd"))
                    .find(|p| p.exists())
            })
        })
        .unwrap_or_else(|| {
            panic!("rsyslogd is not installed: the syslog tests need a real rsyslog (Debian: apt-get install rsyslog rsyslog-gnutls; scripts/test.sh installs them)")
        })
}

fn tls_fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("tls").join(name)
}

/// One rsyslogd, killed when dropped.
struct Rsyslog {
    dir: PathBuf,
    port: u16,
    tls: bool,
    child: Option<Child>,
}

impl Rsyslog {
    fn start(dir: &Path, tls: bool) -> Rsyslog {
        let mut r = Rsyslog {
            dir: dir.to_path_buf(),
            port: common::free_port(),
            tls,
            child: None,
        };
        r.spawn();
        r
    }

    fn out(&self) -> PathBuf {
        self.dir.join("received.jsonl")
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let work = self.dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).unwrap();
        let (tls_global, tls_module) = if self.tls {
            (
                format!(
                    " DefaultNetstreamDriverCAFile={:?} DefaultNetstreamDriverCertFile={:?} DefaultNetstreamDriverKeyFile={:?}",
                    tls_fixture("syslog-ca.pem"),
                    tls_fixture("syslog-server.pem"),
                    tls_fixture("syslog-server.key")
                ),
                " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\"",
            )
        } else {
            (String::new(), "")
        };
        let conf = format!(
            r#"global(workDirectory={work:?} maxMessageSize="1m"{tls_global})
module(load="imtcp"{tls_module})
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="collector")
template(name="fields" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="collector") {{ action(type="omfile" file={out:?} template="fields") }}
"#,
            port = self.port,
            out = self.out(),
        );
        let conf_path = self.dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("rsyslogd.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Listening once a connection is taken (the probe sends nothing, so nothing is logged).
        let started = Instant::now();
        while std::net::TcpStream::connect(self.address()).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "rsyslogd exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "rsyslogd does not listen on {}",
                self.address()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A clean stop (SIGTERM): rsyslog closes its connections and writes what it took.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "rsyslogd did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The messages received so far, each as rsyslog parsed it (a line rsyslog is still
    /// writing is left for the next look).
    fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.out()).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("rsyslog wrote {l:?}: {e}")))
            .collect()
    }

    /// Waits until rsyslog has written at least `n` messages.
    async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < deadline,
                "rsyslog received {} of {n} messages in {deadline:?}; its log: {}",
                got.len(),
                std::fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn syslog_sink(address: String, tls: Option<SyslogTls>) -> SinkKind {
    SinkKind::Syslog(SyslogConfig {
        address,
        tls,
        app_name: "mimecast-collector".into(),
        hostname: Some("collector-test".into()),
        facility: 16,
    })
}

fn tenants(sim: &Simulator, names: &[&SimTenant]) -> Vec<TenantConfig> {
    use mimecast_collector::config::StreamKind;
    names
        .iter()
        .map(|t| {
            let mut t = common::with_streams(
                common::v2_tenant(sim, t),
                &[StreamKind::TtpUrl, StreamKind::Audit],
            );
            for s in &mut t.streams {
                s.poll_interval = Duration::from_millis(500);
            }
            t
        })
        .collect()
}

const STREAMS: [&str; 2] = ["ttp_url", "audit"];

fn expected(sim: &Simulator, names: &[&str]) -> usize {
    names
        .iter()
        .flat_map(|t| STREAMS.iter().map(move |s| (*t, *s)))
        .map(|(t, s)| sim.expected_records(t, s).len())
        .sum()
}

/// Checks every header field rsyslog parsed, and returns the events (the messages' JSON) as
/// JSON lines.
fn events_of(received: &[Value]) -> String {
    let pid = std::process::id().to_string();
    let mut lines = String::new();
    for m in received {
        let msg = m["msg"].as_str().unwrap();
        let event: Value = serde_json::from_str(msg)
            .unwrap_or_else(|e| panic!("the message is not the event's JSON ({e}): {msg:?}"));
        let (tenant, stream) = (
            event["tenant"].as_str().unwrap(),
            event["stream"].as_str().unwrap(),
        );
        assert_eq!(m["pri"], "134", "local0.info: {m}");
        assert_eq!(m["hostname"], "collector-test", "{m}");
        assert_eq!(m["app"], "mimecast-collector", "{m}");
        assert_eq!(m["procid"], pid.as_str(), "{m}");
        assert_eq!(m["msgid"], stream, "{m}");
        assert_eq!(
            m["sd"],
            format!("[mimecast@32473 tenant=\"{tenant}\" stream=\"{stream}\"]"),
            "{m}"
        );
        let stamp = time::OffsetDateTime::parse(
            m["timestamp"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(
            (time::OffsetDateTime::now_utc() - stamp).abs() < time::Duration::minutes(5),
            "the header's time is when the message was made: {m}"
        );
        assert!(event["id"].as_str().is_some_and(|id| !id.is_empty()), "{m}");
        lines.push_str(msg);
        lines.push('\n');
    }
    lines
}

/// Two tenants drained into rsyslog: every record arrives once, as the JSON line the file sink
/// would write, with its tenant and stream in the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_rsyslog_once_with_its_tenant_and_stream() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path(), false);
    let (acme, globex) = (SimTenant::named("acme"), SimTenant::named("globex"));
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        ..common::sim_config(250)
    })
    .await;
    let config = common::collector_config(
        tenants(&sim, &[&acme, &globex]),
        &dir.path().join("state.db"),
        syslog_sink(rsyslog.address(), None),
    );
    common::run_once(config).await;
    let total = expected(&sim, &["acme", "globex"]);
    assert_eq!(total, 1000, "250 records of each stream of each tenant");
    rsyslog.wait_for(total, Duration::from_secs(20)).await;
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = rsyslog.received();
    let text = events_of(&received);
    let streams: Vec<(&str, &str)> = ["acme", "globex"]
        .iter()
        .flat_map(|t| STREAMS.iter().map(move |s| (*t, *s)))
        .collect();
    common::assert_exactly_once(&sim, &text, &streams, "syslog");
    assert_eq!(received.len(), total);
}

/// rsyslog stopped in the middle of a drain and started again: the batches it did not take
/// are sent again once it is back. Nothing is lost; what is repeated is bounded by the batches
/// in flight when it went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_restarted_mid_drain_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::start(dir.path(), false);
    let acme = SimTenant::named("acme");
    // Slow pages, so that the drain is still going when rsyslog stops.
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        faults: vec![FaultRule {
            times: u32::MAX,
            ..FaultRule::once(FaultKind::Delay(Duration::from_millis(60)))
        }],
        ..common::sim_config(3000)
    })
    .await;
    let config = common::collector_config(
        tenants(&sim, &[&acme]),
        &dir.path().join("state.db"),
        syslog_sink(rsyslog.address(), None),
    );
    let total = expected(&sim, &["acme"]);
    let daemon = common::spawn_daemon(config, Duration::from_secs(5));
    rsyslog.wait_for(500, Duration::from_secs(30)).await;
    rsyslog.stop();
    let at_stop = rsyslog.received().len();
    assert!(
        at_stop < total,
        "the drain ended ({at_stop} of {total}) before rsyslog stopped"
    );
    // Down for a few of the streams' retries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rsyslog.spawn();
    let received = rsyslog.wait_for(total, Duration::from_secs(60)).await;
    // Wait for the rest: a repeated record may have filled the count before the last new one.
    let started = Instant::now();
    let mut received = received;
    loop {
        let missing: Vec<(&str, usize)> = STREAMS
            .iter()
            .map(|s| {
                let have = received
                    .iter()
                    .filter_map(|m| serde_json::from_str::<Value>(m["msg"].as_str()?).ok())
                    .filter(|e| e["stream"] == *s)
                    .map(|e| e["raw"].to_string())
                    .collect::<std::collections::HashSet<_>>();
                let want = sim.expected_records("acme", s);
                (
                    *s,
                    want.iter()
                        .filter(|r| !have.contains(&r.to_string()))
                        .count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "records never received after the restart: {missing:?} ({} messages)",
            received.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        received = rsyslog.received();
    }
    daemon.settle_and_stop().await;
    let received = rsyslog.received();
    let text = events_of(&received);
    let mut count: HashMap<String, usize> = HashMap::new();
    for event in text.lines() {
        let event: Value = serde_json::from_str(event).unwrap();
        *count
            .entry(format!("{}/{}", event["stream"], event["raw"]))
            .or_default() += 1;
    }
    assert_eq!(count.len(), total, "distinct records");
    let repeated = received.len() - total;
    eprintln!(
        "rsyslog stopped at {at_stop} of {total} messages; {repeated} repeated after its restart"
    );
    // At most what was in flight: the writer's group (64 batches of 100) per stream, and
    // never the whole drain again.
    assert!(
        repeated <= 2 * 64 * 100 && repeated < total / 2,
        "{repeated} repeated of {total}"
    );
}

/// TLS to rsyslog's gtls driver, trusting the test CA through ca_file; the server's name is
/// checked against its certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_rsyslog_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(dir.path(), true);
    let (acme, sim) = common::start_acme_sim(120).await;
    let ca = std::fs::read(tls_fixture("syslog-ca.pem")).unwrap();
    let config = common::collector_config(
        tenants(&sim, &[&acme]),
        &dir.path().join("state.db"),
        syslog_sink(
            format!("localhost:{}", rsyslog.port),
            Some(SyslogTls {
                server_name: "localhost".into(),
                extra_ca_pem: Some(ca),
            }),
        ),
    );
    common::run_once(config).await;
    let total = expected(&sim, &["acme"]);
    let received = rsyslog.wait_for(total, Duration::from_secs(20)).await;
    let streams: Vec<(&str, &str)> = STREAMS.iter().map(|s| ("acme", *s)).collect();
    common::assert_exactly_once(&sim, &events_of(&received), &streams, "syslog over TLS");
}

fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `check` connects to the syslog server as the sink will (TLS handshake included), and says
/// what to look at when it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_the_syslog_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain = Rsyslog::start(&dir.path().join("plain"), false);
    let tls = Rsyslog::start(&dir.path().join("tls"), true);
    let (acme, sim) = common::start_acme_sim(10).await;
    let v2 = acme.v2.as_ref().unwrap();
    let write = |name: &str, sink: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[collector]\nstate_path = {:?}\n[sink]\nkind = \"syslog\"\n{sink}\n[[tenant]]\nname = \"acme\"\nbase_url = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"audit\"]\n",
                dir.path().join("state.db").display().to_string(),
                sim.base_url(),
                v2.client_id,
                v2.client_secret
            ),
        )
        .unwrap();
        path
    };
    let ca = tls_fixture("syslog-ca.pem").display().to_string();
    let plain_cfg = write("plain.toml", &format!("address = {:?}", plain.address()));
    let tls_cfg = write(
        "tls.toml",
        &format!(
            "address = \"localhost:{}\"\ntls = true\nca_file = {ca:?}",
            tls.port
        ),
    );
    let untrusted = write(
        "untrusted.toml",
        &format!("address = \"localhost:{}\"\ntls = true", tls.port),
    );
    let wrong_name = write(
        "wrong-name.toml",
        &format!(
            "address = \"127.0.0.1:{}\"\ntls = true\nca_file = {ca:?}\nserver_name = \"siem.example.com\"",
            tls.port
        ),
    );

    for cfg in [&plain_cfg, &tls_cfg] {
        let (ok, text) = check(cfg);
        assert!(ok, "{text}");
        assert!(text.contains("[sink]") && text.contains("syslog"), "{text}");
    }
    for cfg in [&untrusted, &wrong_name] {
        let (ok, text) = check(cfg);
        assert!(!ok, "{text}");
        assert!(text.contains("TLS handshake failed"), "{text}");
        assert!(
            text.contains("server_name") && text.contains("ca_file"),
            "{text}"
        );
    }
    plain.stop();
    let (ok, text) = check(&plain_cfg);
    assert!(!ok, "{text}");
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("check [sink] address"), "{text}");
}
