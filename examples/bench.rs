//! Whole-process benchmark: the release daemon draining the simulator on loopback, beside the
//! least work any collector must do per record ("the limit") and a Python collector of the kind
//! users would otherwise run. Prints a Markdown table (README "Performance").
//!
//! WHY a separate process per measured program: the daemon's CPU seconds and peak RSS come from
//! `wait4`'s rusage of that process alone, so the simulator (which runs in this process, on its
//! own runtime) is never counted against the collector; it does share the machine's cores, as a
//! real network peer would not, which makes the wall-clock figures conservative.
//!
//! Run it with `scripts/bench.sh` (builds the release binary first, sets up Python's
//! `requests`), or: `cargo build --release && cargo run --release --example bench -- --help`.

use mimecast_sim::{SimConfig, SimTenant, Simulator};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Args {
    records: u64,
    runs: usize,
    idle_tenants: usize,
    idle_seconds: u64,
    python: Option<String>,
    bin: PathBuf,
    only: Vec<String>,
    threats: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench [--records N] [--runs R] [--idle-tenants T] [--idle-seconds S] \
         [--python PATH|--no-python] [--bin PATH] [--threats N] \
         [--only drain|limit|python|idle|limiter|threats|pace|siem-pace|siem10|formats]...\n\
         (formats runs only when named)"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        records: 1_000_000,
        runs: 3,
        idle_tenants: 500,
        idle_seconds: 60,
        python: Some("python3".into()),
        bin: root.join("target/release/mimecast-collector"),
        only: Vec::new(),
        threats: 20_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--records" => a.records = val().parse().unwrap_or_else(|_| usage()),
            "--runs" => a.runs = val().parse().unwrap_or_else(|_| usage()),
            "--idle-tenants" => a.idle_tenants = val().parse().unwrap_or_else(|_| usage()),
            "--idle-seconds" => a.idle_seconds = val().parse().unwrap_or_else(|_| usage()),
            "--python" => a.python = Some(val()),
            "--no-python" => a.python = None,
            "--bin" => a.bin = PathBuf::from(val()),
            "--only" => a.only.push(val()),
            "--threats" => a.threats = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if a.runs == 0 || a.records == 0 {
        usage()
    }
    a
}

/// What one child process cost, from `wait4`.
#[derive(Debug, Clone, Copy)]
struct Usage {
    wall: f64,
    cpu: f64,
    max_rss_mib: f64,
    ok: bool,
}

/// Runs `cmd` to its end. CPU time comes from `wait4`; peak RSS from sampling the child's own
/// `VmHWM` (a high-water mark, so the last sample is the peak), because `ru_maxrss` of a child
/// starts from the parent's RSS at fork (Linux keeps the larger of the pre-exec and new image).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which std does not know about
fn measured(cmd: &mut Command) -> Usage {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut hwm = 0.0f64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                hwm = hwm.max(proc_status_mib(pid, "VmHWM:"));
                std::thread::sleep(Duration::from_millis(10));
            }
            hwm
        })
    };
    let mut status = 0;
    // SAFETY: plain syscall on our own child with valid out-pointers; `child` is never waited
    // on by std afterwards (dropping a Child does not wait).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    assert_eq!(
        r,
        pid as libc::pid_t,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let wall = start.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_rss_mib = sampler.join().unwrap_or(0.0);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_mib,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn thread_cpu() -> f64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds of this process so far (the simulator and the harness).
fn self_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn count_lines(path: &Path) -> u64 {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut n = 0;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    loop {
        let buf = r.fill_buf().expect("read output");
        if buf.is_empty() {
            break;
        }
        n += buf.iter().filter(|b| **b == b'\n').count() as u64;
        let len = buf.len();
        r.consume(len);
    }
    n
}

/// The simulator for one scenario, on its own runtime (two workers, like a server would have).
struct Sim {
    rt: tokio::runtime::Runtime,
    sim: Option<Simulator>,
}

impl Sim {
    fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(Simulator::bind(config, "127.0.0.1:0".parse().unwrap()))
            .expect("bind simulator");
        Sim { rt, sim: Some(sim) }
    }

    fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("running")
    }

    /// Requests the simulator answered, by status, and by path for 2xx.
    fn requests(&self) -> (BTreeMap<u16, u64>, BTreeMap<String, u64>) {
        let mut status = BTreeMap::new();
        let mut paths = BTreeMap::new();
        for r in self.sim().requests() {
            *status.entry(r.status).or_insert(0) += 1;
            if (200..300).contains(&r.status) {
                let p = if r.path.starts_with("/storage/") {
                    "/storage/*".to_string()
                } else {
                    r.path.clone()
                };
                *paths.entry(p).or_insert(0) += 1;
            }
        }
        (status, paths)
    }

    fn clear(&self) {
        self.sim().clear_requests();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn sim_config(records: u64, tenants: Vec<SimTenant>, quota: u32) -> SimConfig {
    SimConfig {
        seed: 7,
        tenants,
        records_per_stream: records,
        quota_per_minute: quota,
        // Everything older than the collector's settle delay, so one `run --once` drains it all.
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(2)),
        siem_cg_records_per_file: 10_000,
        max_recorded_requests: 1_000_000,
        // Generated once (in a warm-up drain), then served from memory: the simulator shares
        // the two cores with the collector and should cost as little of them as it can.
        cache_bodies: true,
        ..SimConfig::default()
    }
}

struct Stream {
    name: &'static str,
    settings: &'static str,
}

const TTP_URL: Stream = Stream {
    name: "ttp_url",
    settings: "page_size = 500",
};
const SIEM_CG: Stream = Stream {
    name: "siem_cg",
    settings: "types = [\"receipt\"]",
};
const THREATS: Stream = Stream {
    name: "threats",
    settings: "page_size = 100",
};

fn tenant_toml(name: &str, base_url: &str, id: &str, secret: &str, streams: &[&Stream]) -> String {
    let mut s = format!(
        "[[tenant]]\nname = {name:?}\napi = \"v2\"\nbase_url = {base_url:?}\nclient_id = {id:?}\n\
         client_secret = {secret:?}\nstreams = [{}]\n",
        streams
            .iter()
            .map(|s| format!("{:?}", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for st in streams {
        s.push_str(&format!("[tenant.stream.{}]\n{}\n", st.name, st.settings));
    }
    s
}

fn write_config(dir: &Path, http: &str, tenants: &str) -> PathBuf {
    write_config_as(dir, http, tenants, "native")
}

fn write_config_as(dir: &Path, http: &str, tenants: &str, format: &str) -> PathBuf {
    let text = format!(
        "[collector]\nstate_path = {:?}\ninitial_lookback = \"24h\"\n\n[http]\n{http}\n\n\
         [sink]\nkind = \"file\"\nformat = {format:?}\npath = {:?}\n\n{tenants}",
        dir.join("state.db"),
        dir.join("events.jsonl"),
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn demo_creds() -> (String, String) {
    let d = SimTenant::demo();
    let v2 = d.v2.expect("demo has v2");
    (v2.client_id, v2.client_secret)
}

struct DrainResult {
    usage: Vec<Usage>,
    records: u64,
    requests: BTreeMap<String, u64>,
    statuses: BTreeMap<u16, u64>,
    sample_output: PathBuf,
}

/// `run --once` on a fresh state, `runs` times; the rate limiter is opened wide (the drain
/// measures the collector, not the quota; the limiter scenario measures the quota).
fn drain(args: &Args, sim: &Sim, stream: &Stream, keep: &Path) -> DrainResult {
    drain_as(args, sim, stream, keep, "native")
}

fn drain_as(args: &Args, sim: &Sim, stream: &Stream, keep: &Path, format: &str) -> DrainResult {
    drain_streams(args, sim, &[stream], keep, format, &[])
}

/// `run --once` of `streams` (one tenant), `args.runs` times after a warm-up; `prefix` is a
/// command the daemon runs under (`strace`), if any.
fn drain_streams(
    args: &Args,
    sim: &Sim,
    streams: &[&Stream],
    keep: &Path,
    format: &str,
    prefix: &[String],
) -> DrainResult {
    let name = streams.iter().map(|s| s.name).collect::<Vec<_>>().join("+");
    let (id, secret) = demo_creds();
    let mut usage = Vec::new();
    let mut records = 0;
    let mut requests = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    // Run 0 is the warm-up that fills the simulator's cache; it is not counted.
    for run in 0..=args.runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let tenants = tenant_toml("demo", &sim.sim().base_url(), &id, &secret, streams);
        let cfg = write_config_as(dir.path(), "requests_per_minute = 100000", &tenants, format);
        sim.clear();
        let sim_cpu = self_cpu();
        let mut cmd = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&args.bin);
                c
            }
            None => Command::new(&args.bin),
        };
        let u = measured(
            cmd.args(["run", "--once", "--config"])
                .arg(&cfg)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null()),
        );
        let sim_cpu = self_cpu() - sim_cpu;
        assert!(u.ok, "{name} drain run {run} failed");
        let out = dir.path().join("events.jsonl");
        records = count_lines(&out);
        eprintln!(
            "  {name} {format} {}: {} records in {:.2} s, {:.2} CPU-s, {:.1} MiB (simulator: {:.2} CPU-s)",
            if run == 0 {
                "warm-up".to_string()
            } else {
                format!("run {run}")
            },
            records,
            u.wall,
            u.cpu,
            u.max_rss_mib,
            sim_cpu
        );
        if run == 0 {
            continue;
        }
        usage.push(u);
        (statuses, requests) = sim.requests();
        if run == args.runs {
            std::fs::rename(&out, keep).expect("keep output");
        }
    }
    DrainResult {
        usage,
        records,
        requests,
        statuses,
        sample_output: keep.to_path_buf(),
    }
}

/// The raw Mimecast records of a drain's output, in order.
fn raw_records(output: &Path) -> Vec<String> {
    #[derive(Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        raw: &'a RawValue,
    }
    let f = std::fs::File::open(output).expect("open output");
    std::io::BufReader::new(f)
        .lines()
        .map(|l| {
            let l = l.expect("read output");
            let line: Line = serde_json::from_str(&l).expect("output line has raw");
            line.raw.get().to_string()
        })
        .collect()
}

// --- the limit: the least work per record ------------------------------------------------------

#[derive(Deserialize)]
struct LimitPage<'a> {
    #[serde(borrow)]
    data: Vec<LimitData<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitData<'a> {
    #[serde(borrow)]
    click_logs: Vec<&'a RawValue>,
}

/// The fields the output needs from a TTP URL click log.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitClick<'a> {
    #[serde(borrow)]
    date: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    scan_result: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_email_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from_user_email_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sending_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    route: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
}

/// The fields the output needs from a SIEM CG record.
#[derive(Deserialize)]
struct LimitSiem<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "senderEnvelope")]
    sender: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "recipients")]
    recipients: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "subject")]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "senderIp")]
    source_ip: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "messageId")]
    message_id: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct LimitLine<'a> {
    id: &'a str,
    tenant: &'a str,
    stream: &'a str,
    kind: &'a str,
    time: &'a str,
    collected_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    recipients: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    raw: &'a RawValue,
}

const COLLECTED: &str = "2026-11-23T10:00:00Z";

fn limit_ttp_page(page: &str, out: &mut Vec<u8>) -> u64 {
    let p: LimitPage = serde_json::from_str(page).expect("limit page");
    let mut n = 0;
    for d in &p.data {
        for raw in &d.click_logs {
            let r: LimitClick = serde_json::from_str(raw.get()).expect("limit record");
            let id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(raw.get().as_bytes()));
            let line = LimitLine {
                id: &id,
                tenant: "demo",
                stream: "ttp_url",
                kind: "threat",
                time: r.date.as_deref().unwrap_or(COLLECTED),
                collected_at: COLLECTED,
                action: r.action.as_deref(),
                severity: r.scan_result.as_deref(),
                sender: r.from_user_email_address.as_deref(),
                recipients: r.user_email_address.as_deref().into_iter().collect(),
                subject: r.subject.as_deref(),
                url: r.url.as_deref(),
                message_id: r.message_id.as_deref(),
                source_ip: r.sending_ip.as_deref(),
                direction: r.route.as_deref(),
                category: r.category.as_deref(),
                raw,
            };
            serde_json::to_writer(&mut *out, &line).expect("to memory");
            out.push(b'\n');
            n += 1;
        }
    }
    n
}

fn limit_siem_lines(lines: &str, out: &mut Vec<u8>) -> u64 {
    let mut n = 0;
    for l in lines.lines() {
        let raw: &RawValue = serde_json::from_str(l).expect("limit line");
        let r: LimitSiem = serde_json::from_str(l).expect("limit record");
        let id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(l.as_bytes()));
        let line = LimitLine {
            id: &id,
            tenant: "demo",
            stream: "siem_cg",
            kind: "email",
            time: r.timestamp.map_or(COLLECTED, |t| t.get().trim_matches('"')),
            collected_at: COLLECTED,
            action: r.action.as_deref(),
            severity: None,
            sender: r.sender.as_deref(),
            recipients: r.recipients.as_deref().into_iter().collect(),
            subject: r.subject.as_deref(),
            url: None,
            message_id: r.message_id.as_deref(),
            source_ip: r.source_ip.as_deref(),
            direction: None,
            category: r.kind.as_deref(),
            raw,
        };
        serde_json::to_writer(&mut *out, &line).expect("to memory");
        out.push(b'\n');
        n += 1;
    }
    n
}

struct Limit {
    seconds: f64,
    cpu: f64,
    records: u64,
}

/// The same record bytes, from memory, in one thread; median of `runs`.
fn limit(records: &[String], stream: &str, runs: usize) -> Limit {
    // Inputs as the daemon receives them: 500-record envelope pages, or NDJSON file text.
    let inputs: Vec<String> = match stream {
        "ttp_url" => records
            .chunks(500)
            .map(|c| {
                format!(
                    r#"{{"meta":{{"status":200,"pagination":{{"pageSize":500,"next":"token"}}}},"data":[{{"clickLogs":[{}]}}],"fail":[]}}"#,
                    c.join(",")
                )
            })
            .collect(),
        _ => records.chunks(10_000).map(|c| c.join("\n")).collect(),
    };
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    let mut n = 0;
    let mut out = Vec::with_capacity(8 << 20);
    for _ in 0..runs.max(3) {
        let (t0, c0) = (Instant::now(), thread_cpu());
        n = 0;
        for input in &inputs {
            out.clear();
            n += match stream {
                "ttp_url" => limit_ttp_page(input, &mut out),
                _ => limit_siem_lines(input, &mut out),
            };
            std::hint::black_box(&out);
        }
        wall.push(t0.elapsed().as_secs_f64());
        cpu.push(thread_cpu() - c0);
    }
    assert_eq!(n as usize, records.len(), "limit read every record");
    Limit {
        seconds: median(wall),
        cpu: median(cpu),
        records: n,
    }
}

// --- the Python baseline -----------------------------------------------------------------------

fn python(args: &Args, sim: &Sim, stream: &Stream, extra: &[&str]) -> Option<(Vec<Usage>, u64)> {
    let py = args.python.as_ref()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_baseline.py");
    let (id, secret) = demo_creds();
    let mut usage = Vec::new();
    let mut records = 0;
    for run in 0..args.runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("python.jsonl");
        let u = measured(
            Command::new(py)
                .arg(&script)
                .args(["--base-url", &sim.sim().base_url()])
                .args(["--client-id", &id, "--client-secret", &secret])
                .args(["--stream", stream.name, "--types", "receipt"])
                .args(extra)
                .arg("--out")
                .arg(&out)
                .stdout(Stdio::null()),
        );
        if !u.ok {
            eprintln!("  python baseline failed (is `requests` installed?); skipped");
            return None;
        }
        records = count_lines(&out);
        eprintln!(
            "  python {} run {}: {} records in {:.2} s, {:.2} CPU-s, {:.1} MiB",
            stream.name,
            run + 1,
            records,
            u.wall,
            u.cpu,
            u.max_rss_mib
        );
        usage.push(u);
    }
    Some((usage, records))
}

// --- at Mimecast's pace: latency on every request, small pages and small files ---------------

/// Records of the small-page scenario: 200 pages of 100.
const PACE_RECORDS: u64 = 20_000;

fn spread(v: &[f64]) -> (f64, f64, f64) {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    (median(v.to_vec()), lo, hi)
}

fn data_requests(d: &DrainResult) -> u64 {
    d.requests
        .iter()
        .filter(|(p, _)| p.as_str() != "/oauth/token")
        .map(|(_, n)| n)
        .sum()
}

/// Pages of 100 records, every page answered after 50 ms (Mimecast answers in tens to hundreds
/// of milliseconds): CPU per record of the daemon against the Python baseline, the same pages
/// from the same simulator. Then four such streams of one tenant at once under `strace -f -c`:
/// system calls per page, `fdatasync` among them (one per commit; a commit carries the pages of
/// every stream ready at that moment).
fn pace(args: &Args, keep: &tempfile::TempDir, table: &mut Vec<String>, notes: &mut Vec<String>) {
    const TTP_100: Stream = Stream {
        name: "ttp_url",
        settings: "page_size = 100",
    };
    eprintln!(
        "pace: ttp_url, {PACE_RECORDS} records in pages of 100, 50 ms per page, {} runs",
        args.runs
    );
    let mut cfg = sim_config(PACE_RECORDS, vec![SimTenant::demo()], 0);
    cfg.faults = mimecast_sim::parse_fault_specs("delay=50msx*@/api/").expect("fault spec");
    let sim = Sim::start(cfg.clone());
    let d = drain(args, &sim, &TTP_100, &keep.path().join("pace.jsonl"));
    let (wall, wlo, whi) = spread(&d.usage.iter().map(|u| u.wall).collect::<Vec<_>>());
    let (cpu, clo, chi) = spread(&d.usage.iter().map(|u| u.cpu).collect::<Vec<_>>());
    let rss = median(d.usage.iter().map(|u| u.max_rss_mib).collect());
    let per_m = 1e6 / d.records as f64;
    table.push(format!(
        "| ttp_url, pages of 100 at 50 ms each (daemon) | {} | {wall:.2} s ({wlo:.2}-{whi:.2}) | {:.0} | {:.2} ({:.2}-{:.2}) | {rss:.1} MiB | {} requests |",
        d.records,
        d.records as f64 / wall,
        cpu * per_m,
        clo * per_m,
        chi * per_m,
        data_requests(&d)
    ));
    if let Some((pu, pn)) = python(args, &sim, &TTP_100, &["--page-size", "100"]) {
        let (pwall, _, _) = spread(&pu.iter().map(|u| u.wall).collect::<Vec<_>>());
        let pcpus: Vec<f64> = pu.iter().map(|u| u.cpu * 1e6 / pn as f64).collect();
        let (pcpu, plo, phi) = spread(&pcpus);
        let prss = median(pu.iter().map(|u| u.max_rss_mib).collect());
        // Each Python run against each daemon run's median: the range of the ratio.
        let ratios: Vec<f64> = pcpus.iter().map(|p| p / (cpu * per_m)).collect();
        let (ratio, rlo, rhi) = spread(&ratios);
        table.push(format!(
            "| ttp_url, pages of 100 at 50 ms each (Python baseline) | {pn} | {pwall:.2} s | {:.0} | {pcpu:.2} ({plo:.2}-{phi:.2}) | {prss:.1} MiB | daemon: {ratio:.1}x ({rlo:.1}-{rhi:.1}x) less CPU per record |",
            pn as f64 / pwall,
        ));
    }
    drop(sim);
    if Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        let streams: [&Stream; 4] = [
            &TTP_100,
            &Stream {
                name: "ttp_attachment",
                settings: "page_size = 100",
            },
            &Stream {
                name: "ttp_impersonation",
                settings: "page_size = 100",
            },
            &Stream {
                name: "audit",
                settings: "page_size = 100",
            },
        ];
        let mut cfg = cfg;
        cfg.records_per_stream = PACE_RECORDS / 4;
        let sim = Sim::start(cfg);
        let counts = keep.path().join("strace.txt");
        let once = Args {
            runs: 1,
            ..args.clone()
        };
        let d = drain_streams(
            &once,
            &sim,
            &streams,
            &keep.path().join("pace4.jsonl"),
            "native",
            &[
                "strace".into(),
                "-f".into(),
                "-c".into(),
                "-o".into(),
                counts.display().to_string(),
            ],
        );
        let pages = data_requests(&d);
        match strace_counts(&counts) {
            Some((total, by)) => {
                let per = |name: &str| by.get(name).copied().unwrap_or(0) as f64 / pages as f64;
                notes.push(format!(
                    "pace, 4 streams of one tenant at once, pages of 100 at 50 ms (`strace -f -c`, one run): {} records, {pages} pages, {:.1} system calls per page; fdatasync {:.2} per page, pwrite64 {:.2}, write {:.2}, futex {:.1}, epoll_wait {:.1}",
                    d.records,
                    total as f64 / pages as f64,
                    per("fdatasync"),
                    per("pwrite64"),
                    per("write"),
                    per("futex"),
                    per("epoll_wait"),
                ));
            }
            None => notes.push("pace: strace printed no counts".into()),
        }
    }
}

/// `strace -c`'s summary: calls in all, and by system call.
fn strace_counts(path: &Path) -> Option<(u64, BTreeMap<String, u64>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut by = BTreeMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        // "% time seconds usecs/call calls [errors] syscall"; the header, rules and total skipped.
        if t.len() < 5 || t[0].starts_with('%') || t[0].starts_with('-') {
            continue;
        }
        let name = t[t.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(n) = t[3].parse::<u64>() {
            by.insert(name.to_string(), n);
        }
    }
    let total = by.values().sum();
    (total > 0).then_some((total, by))
}

/// SIEM at Mimecast's pace: `siem_cg`, 1,000 records in 50 files of 20, the listing and every
/// file answered after 100 ms. With files downloaded 4 at a time (the default), the drain should
/// take well under the sum of its requests' latencies.
fn siem_pace(args: &Args, keep: &tempfile::TempDir, table: &mut Vec<String>) {
    eprintln!(
        "siem-pace: siem_cg, 1,000 records in files of 20, 100 ms per request, {} runs",
        args.runs
    );
    let mut cfg = sim_config(1_000, vec![SimTenant::demo()], 0);
    cfg.siem_cg_records_per_file = 20;
    cfg.faults = mimecast_sim::parse_fault_specs("delay=100msx*@/siem/,delay=100msx*@/storage/")
        .expect("fault spec");
    let sim = Sim::start(cfg);
    let d = drain(args, &sim, &SIEM_CG, &keep.path().join("siem-pace.jsonl"));
    let (wall, lo, hi) = spread(&d.usage.iter().map(|u| u.wall).collect::<Vec<_>>());
    let cpu = median(d.usage.iter().map(|u| u.cpu).collect());
    let rss = median(d.usage.iter().map(|u| u.max_rss_mib).collect());
    let requests = data_requests(&d);
    let latency = requests as f64 * 0.1;
    table.push(format!(
        "| siem_cg, files of 20 at 100 ms per request (daemon, 4 downloads at a time) | {} | {wall:.2} s ({lo:.2}-{hi:.2}) | {:.0} | {:.2} | {rss:.1} MiB | wall = {:.2}x ({:.2}-{:.2}x) the {latency:.1} s of its {requests} requests' latencies |",
        d.records,
        d.records as f64 / wall,
        cpu * 1e6 / d.records as f64,
        wall / latency,
        lo / latency,
        hi / latency,
    ));
}

/// All ten SIEM event types of one tenant at once: memory with every type's stream in flight.
fn siem10(args: &Args, keep: &tempfile::TempDir, table: &mut Vec<String>) {
    let per_type = (args.records / 10).max(1);
    eprintln!(
        "siem10: siem_cg, 10 types x {per_type} records, {} runs",
        args.runs
    );
    let sim = Sim::start(sim_config(per_type, vec![SimTenant::demo()], 0));
    let settings: &'static str =
        Box::leak(format!("types = {:?}", mimecast_sim::data::siem_cg::TYPES).into_boxed_str());
    let all = Stream {
        name: "siem_cg",
        settings,
    };
    let d = drain(args, &sim, &all, &keep.path().join("siem10.jsonl"));
    let (wall, _, _) = spread(&d.usage.iter().map(|u| u.wall).collect::<Vec<_>>());
    let cpu = median(d.usage.iter().map(|u| u.cpu).collect());
    let (rss, lo, hi) = spread(&d.usage.iter().map(|u| u.max_rss_mib).collect::<Vec<_>>());
    table.push(format!(
        "| siem_cg drain, all ten types (daemon, file sink) | {} | {wall:.2} s | {:.0} | {:.2} | {rss:.1} MiB ({lo:.1}-{hi:.1}) | |",
        d.records,
        d.records as f64 / wall,
        cpu * 1e6 / d.records as f64,
    ));
}

// --- idle at scale -----------------------------------------------------------------------------

struct Idle {
    tenants: usize,
    streams: usize,
    rss_mib: f64,
    hwm_mib: f64,
    cpu_per_min: f64,
    requests_per_min: f64,
}

fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("stat shape") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn proc_status_mib(pid: u32, key: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn idle(args: &Args) -> Idle {
    const STREAMS: [&Stream; 4] = [
        &TTP_URL,
        &Stream {
            name: "ttp_attachment",
            settings: "",
        },
        &Stream {
            name: "audit",
            settings: "",
        },
        &Stream {
            name: "dashboard",
            settings: "",
        },
    ];
    let tenants: Vec<SimTenant> = (0..args.idle_tenants)
        .map(|i| SimTenant::named(&format!("t{i:04}")))
        .collect();
    let sim = Sim::start(sim_config(20, tenants.clone(), 600));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut toml = String::new();
    for t in &tenants {
        let v2 = t.v2.as_ref().expect("named tenants have v2");
        toml.push_str(&tenant_toml(
            &t.name,
            &sim.sim().base_url(),
            &v2.client_id,
            &v2.client_secret,
            &STREAMS,
        ));
    }
    let cfg = write_config(dir.path(), "", &toml);
    let mut child = Command::new(&args.bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start daemon");
    let pid = child.id();
    // Warm-up: every stream has made its first poll (backlog drained, tokens issued).
    let expected = (args.idle_tenants * 3 * 20) as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let out = dir.path().join("events.jsonl");
    while Instant::now() < deadline {
        if out.exists() && count_lines(&out) >= expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(5));
    sim.clear();
    let (c0, t0) = (proc_cpu_seconds(pid), Instant::now());
    let mut rss = Vec::new();
    while t0.elapsed() < Duration::from_secs(args.idle_seconds) {
        std::thread::sleep(Duration::from_secs(1));
        rss.push(proc_status_mib(pid, "VmRSS:"));
    }
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    let cpu = proc_cpu_seconds(pid) - c0;
    let hwm = proc_status_mib(pid, "VmHWM:");
    let (_, paths) = sim.requests();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    Idle {
        tenants: args.idle_tenants,
        streams: STREAMS.len(),
        rss_mib: median(rss),
        hwm_mib: hwm,
        cpu_per_min: cpu / minutes,
        requests_per_min: paths.values().sum::<u64>() as f64 / minutes,
    }
}

// --- the default limiter against the simulator's default quota --------------------------------

fn limiter(args: &Args) -> (Usage, u64, BTreeMap<u16, u64>) {
    // 3 x 120 pages of 100: more than a minute's 240 requests, so the limiter has to pace them.
    let sim = Sim::start(sim_config(12_000, vec![SimTenant::demo()], 600));
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, secret) = demo_creds();
    let streams = [
        &Stream {
            name: "ttp_url",
            settings: "page_size = 100",
        },
        &Stream {
            name: "ttp_attachment",
            settings: "page_size = 100",
        },
        &Stream {
            name: "audit",
            settings: "page_size = 100",
        },
    ];
    let toml = tenant_toml("demo", &sim.sim().base_url(), &id, &secret, &streams);
    let cfg = write_config(dir.path(), "", &toml);
    let u = measured(
        Command::new(&args.bin)
            .args(["run", "--once", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null()),
    );
    let (status, _) = sim.requests();
    (u, count_lines(&dir.path().join("events.jsonl")), status)
}

fn main() {
    let args = parse_args();
    if !args.bin.exists() {
        eprintln!(
            "{} not found: run `cargo build --release` first (scripts/bench.sh does)",
            args.bin.display()
        );
        std::process::exit(2);
    }
    let want = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let mut table = Vec::new();
    let mut notes = Vec::new();
    let keep = tempfile::tempdir().expect("tempdir");
    for stream in [&TTP_URL, &SIEM_CG] {
        if !(want("drain") || want("limit") || want("python")) {
            break;
        }
        eprintln!(
            "{}: {} records, {} runs",
            stream.name, args.records, args.runs
        );
        let sim = Sim::start(sim_config(args.records, vec![SimTenant::demo()], 0));
        let d = drain(
            &args,
            &sim,
            stream,
            &keep.path().join(format!("{}.jsonl", stream.name)),
        );
        let wall = median(d.usage.iter().map(|u| u.wall).collect());
        let cpu = median(d.usage.iter().map(|u| u.cpu).collect());
        let rss = median(d.usage.iter().map(|u| u.max_rss_mib).collect());
        let per_m = 1e6 / d.records as f64;
        let rate = d.records as f64 / wall;
        table.push(format!(
            "| {} drain (daemon, file sink) | {} | {:.2} s | {:.0} | {:.2} | {:.1} MiB | |",
            stream.name,
            d.records,
            wall,
            rate,
            cpu * per_m,
            rss
        ));
        let records = raw_records(&d.sample_output);
        let l = limit(&records, stream.name, args.runs);
        let l_rate = l.records as f64 / l.seconds;
        table.push(format!(
            "| {} limit (memory, 1 thread) | {} | {:.2} s | {:.0} | {:.2} | | drain = {:.0}% of limit rate, {:.2}x its CPU |",
            stream.name,
            l.records,
            l.seconds,
            l_rate,
            l.cpu * 1e6 / l.records as f64,
            100.0 * rate / l_rate,
            cpu / l.cpu * l.records as f64 / d.records as f64
        ));
        if want("python") {
            if let Some((pu, pn)) = python(&args, &sim, stream, &[]) {
                let pwall = median(pu.iter().map(|u| u.wall).collect());
                let pcpu = median(pu.iter().map(|u| u.cpu).collect());
                let prss = median(pu.iter().map(|u| u.max_rss_mib).collect());
                let prate = pn as f64 / pwall;
                table.push(format!(
                    "| {} Python baseline (requests + json) | {} | {:.2} s | {:.0} | {:.2} | {:.1} MiB | drain = {:.1}x Python |",
                    stream.name,
                    pn,
                    pwall,
                    prate,
                    pcpu * 1e6 / pn as f64,
                    prss,
                    rate / prate
                ));
            }
        }
        let data_requests: u64 = d
            .requests
            .iter()
            .filter(|(p, _)| p.as_str() != "/oauth/token")
            .map(|(_, n)| n)
            .sum();
        let minimum = match stream.name {
            // One page per 500 records; the last page carries no next token.
            "ttp_url" => d.records.div_ceil(500),
            // One listing page per 100 files plus one download per file.
            _ => {
                let files = d.records.div_ceil(10_000);
                files + files.div_ceil(100)
            }
        };
        notes.push(format!(
            "{}: {} API/file requests for {} records (minimum {}), {} token requests, responses by status {:?}",
            stream.name,
            data_requests,
            d.records,
            minimum,
            d.requests.get("/oauth/token").copied().unwrap_or(0),
            d.statuses
        ));
    }
    if want("threats") {
        // Each threat costs a details call: a drain of its own size, without a limit or
        // Python row (no other collector reads this route).
        eprintln!(
            "threats: {} threats with details, {} runs",
            args.threats, args.runs
        );
        let sim = Sim::start(sim_config(args.threats, vec![SimTenant::demo()], 0));
        let d = drain(&args, &sim, &THREATS, &keep.path().join("threats.jsonl"));
        let wall = median(d.usage.iter().map(|u| u.wall).collect());
        let cpu = median(d.usage.iter().map(|u| u.cpu).collect());
        let rss = median(d.usage.iter().map(|u| u.max_rss_mib).collect());
        table.push(format!(
            "| threats drain with details (daemon, file sink) | {} | {:.2} s | {:.0} | {:.2} | {:.1} MiB | |",
            d.records,
            wall,
            d.records as f64 / wall,
            cpu * 1e6 / d.records as f64,
            rss
        ));
        let count = |p: &dyn Fn(&str) -> bool| -> u64 {
            d.requests
                .iter()
                .filter(|(k, _)| p(k))
                .map(|(_, n)| n)
                .sum()
        };
        notes.push(format!(
            "threats: {} listing requests and {} details requests for {} threats (a window over the route's limit of 1,000 is read again in halves), responses by status {:?}",
            count(&|p| p == "/threats/v1/events"),
            count(&|p| p.starts_with("/threats/v1/events/")),
            d.records,
            d.statuses
        ));
    }
    if want("pace") {
        pace(&args, &keep, &mut table, &mut notes);
    }
    if want("siem-pace") {
        siem_pace(&args, &keep, &mut table);
    }
    if want("siem10") {
        siem10(&args, &keep, &mut table);
    }
    if args.only.iter().any(|o| o == "formats") {
        // Every format drains the same records in one invocation, one run of each in turn, so
        // the machine's noise falls on all of them alike; the ratio is what the README quotes.
        for stream in [&TTP_URL, &SIEM_CG] {
            eprintln!(
                "formats: {} x {} records, {} runs per format",
                stream.name, args.records, args.runs
            );
            let sim = Sim::start(sim_config(args.records, vec![SimTenant::demo()], 0));
            let formats = ["native", "ocsf", "ecs"];
            let mut runs: BTreeMap<&str, Vec<Usage>> = BTreeMap::new();
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            let one = Args {
                runs: 1,
                only: Vec::new(),
                python: None,
                bin: args.bin.clone(),
                records: args.records,
                idle_tenants: args.idle_tenants,
                idle_seconds: args.idle_seconds,
                threats: args.threats,
            };
            for _ in 0..args.runs {
                for format in formats {
                    let d = drain_as(
                        &one,
                        &sim,
                        stream,
                        &keep.path().join(format!("{}.{format}.jsonl", stream.name)),
                        format,
                    );
                    runs.entry(format).or_default().extend(d.usage);
                    counts.insert(format, d.records);
                }
            }
            let native_cpu = median(runs["native"].iter().map(|u| u.cpu).collect());
            let native_wall = median(runs["native"].iter().map(|u| u.wall).collect());
            for format in formats {
                let u = &runs[format];
                let walls: Vec<f64> = u.iter().map(|u| u.wall).collect();
                let (lo, hi) = walls
                    .iter()
                    .fold((f64::MAX, 0f64), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
                let wall = median(walls);
                let cpu = median(u.iter().map(|u| u.cpu).collect());
                let rss = median(u.iter().map(|u| u.max_rss_mib).collect());
                let n = counts[format];
                table.push(format!(
                    "| {} drain, format {format} | {n} | {wall:.2} s ({lo:.2}-{hi:.2}) | {:.0} | {:.2} | {rss:.1} MiB | {:.2}x native wall, {:.2}x native CPU |",
                    stream.name,
                    n as f64 / wall,
                    cpu * 1e6 / n as f64,
                    wall / native_wall,
                    cpu / native_cpu
                ));
            }
        }
    }
    if want("limiter") {
        eprintln!("default limiter against the simulator's default quota");
        let (u, n, status) = limiter(&args);
        notes.push(format!(
            "default limiter (240/min) vs simulator quota (600/min): 3 streams, {} records in {:.1} s, responses by status {:?} ({} x 429)",
            n,
            u.wall,
            status,
            status.get(&429).copied().unwrap_or(0)
        ));
    }
    if want("idle") {
        eprintln!(
            "idle: {} tenants x 4 streams for {} s",
            args.idle_tenants, args.idle_seconds
        );
        let i = idle(&args);
        notes.push(format!(
            "idle: {} tenants x {} streams: RSS {:.1} MiB (peak {:.1} MiB), {:.2} CPU-s per minute, {:.0} requests per minute",
            i.tenants, i.streams, i.rss_mib, i.hwm_mib, i.cpu_per_min, i.requests_per_min
        ));
    }
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let _ = writeln!(
        o,
        "| scenario | records | wall (median) | records/s | CPU-s per M | peak RSS | ratio |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for row in &table {
        let _ = writeln!(o, "{row}");
    }
    let _ = writeln!(o);
    for n in &notes {
        let _ = writeln!(o, "- {n}");
    }
}
