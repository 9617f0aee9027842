//! Tenant sharding end to end, through the binary as the systemd template runs it: one config,
//! each shard with `--shard K/N` and its own state database and output file (set through the
//! environment, as `mimecast-collector@.service` does). Every tenant is collected by exactly
//! one shard; `status`, `check` and `reset` keep to their shard; a reload stays sharded.

mod common;
use mimecast_sim::{SimConfig, SimTenant};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STATE_ENV: &str = "MIMECAST_COLLECTOR__COLLECTOR__STATE_PATH";
const SINK_ENV: &str = "MIMECAST_COLLECTOR__SINK__PATH";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
}

/// One shard's own files, as the template unit lays them out (`/var/lib/mimecast-collector/%i`).
struct ShardDir {
    spec: String,
    state: PathBuf,
    out: PathBuf,
}

impl ShardDir {
    fn new(root: &Path, k: u32, n: u32) -> ShardDir {
        let dir = root.join(format!("{k}-{n}"));
        ShardDir {
            spec: format!("{k}/{n}"),
            state: dir.join("state.db"),
            out: dir.join("events.jsonl"),
        }
    }

    /// `mimecast-collector ARGS --config CONFIG --shard K/N` with this shard's paths.
    fn command(&self, args: &[&str], config: &Path) -> Command {
        let mut cmd = bin();
        cmd.args(args)
            .arg("--config")
            .arg(config)
            .args(["--shard", &self.spec])
            .env(STATE_ENV, &self.state)
            .env(SINK_ENV, &self.out);
        cmd
    }

    fn run(&self, args: &[&str], config: &Path) -> Output {
        self.command(args, config).output().unwrap()
    }
}

fn tenant_toml(name: &str, base_url: &str, t: &SimTenant) -> String {
    let c = t.v2.as_ref().unwrap();
    format!("[[tenant]]\nname = {name:?}\nbase_url = {base_url:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"ttp_url\"]\n", c.client_id, c.client_secret)
}

/// The config every shard shares: a file sink at a path each shard overrides.
fn head(dir: &Path, extra: &str) -> String {
    format!(
        "[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n{extra}[sink]\nkind = \"file\"\npath = {:?}\n",
        dir.join("unsharded.db").display().to_string(),
        dir.join("unsharded.jsonl").display().to_string(),
    )
}

fn tenants_in(path: &Path) -> BTreeSet<String> {
    common::read_events(path)
        .iter()
        .map(|e| e["tenant"].as_str().unwrap().to_string())
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The acceptance test of issue #15 item 4: with 4 shards over one config of 40 tenants, every
/// tenant is collected by exactly one shard, and each shard collects what `check` says it owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_tenants_over_four_shards_are_each_collected_exactly_once() {
    const RECORDS: u64 = 3;
    let names: Vec<String> = (1..=40).map(|i| format!("tenant-{i:02}")).collect();
    let sims: Vec<SimTenant> = names.iter().map(|n| SimTenant::named(n)).collect();
    let sim = common::start_sim(SimConfig {
        tenants: sims.clone(),
        ..common::sim_config(RECORDS)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let mut text_cfg = head(dir.path(), "");
    for (name, t) in names.iter().zip(&sims) {
        text_cfg.push_str(&tenant_toml(name, &sim.base_url(), t));
    }
    std::fs::write(&config, text_cfg).unwrap();
    let shards: Vec<ShardDir> = (1..=4).map(|k| ShardDir::new(dir.path(), k, 4)).collect();

    // The four shards at once, as on four machines: no lock, file or tenant in common.
    let runs: Vec<_> = shards
        .iter()
        .map(|s| {
            let mut cmd = s.command(&["run", "--once"], &config);
            cmd.stdout(Stdio::null());
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
        })
        .collect();
    let mut logs = Vec::new();
    for (s, run) in shards.iter().zip(runs) {
        let o = run.await.unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "shard {}: {err}", s.spec);
        logs.push(err);
    }

    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut all_text = String::new();
    for (s, log) in shards.iter().zip(&logs) {
        let got = tenants_in(&s.out);
        assert!(
            !got.is_empty(),
            "shard {} collected nothing: the split is degenerate",
            s.spec
        );
        for t in &got {
            if let Some(other) = owner.insert(t.clone(), s.spec.clone()) {
                panic!("{t} was collected by shard {other} and by shard {}", s.spec);
            }
        }
        // The start-up line names the shard and its count.
        assert!(
            log.lines()
                .any(|l| l.contains("this shard collects its own tenants")
                    && l.contains(&format!("shard={}", s.spec))
                    && l.contains(&format!("tenants={}", got.len()))
                    && l.contains("configured=40")),
            "shard {}: {log}",
            s.spec
        );
        // What the shard collected is what `check` says it owns.
        let o = s.run(&["check", "--offline", "--json"], &config);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let owned: BTreeSet<String> = report["shard"]["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(owned, got, "shard {}", s.spec);
        assert_eq!(report["shard"]["shard"], s.spec.as_str());
        assert_eq!(report["shard"]["tenants_configured"], 40);
        all_text.push_str(&std::fs::read_to_string(&s.out).unwrap());
    }
    assert_eq!(
        owner.keys().cloned().collect::<Vec<_>>(),
        names,
        "every tenant is collected"
    );
    // And each one completely, none of its records twice.
    let streams: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "ttp_url")).collect();
    common::assert_exactly_once(&sim, &all_text, &streams, "four shards");

    // `status` and `check` say which shard this is and which tenants it owns; a tenant of
    // another shard is refused by `check --tenant` and `reset`, naming its shard.
    let second = &shards[1];
    let mine: Vec<&str> = owner
        .iter()
        .filter(|(_, s)| *s == "2/4")
        .map(|(t, _)| t.as_str())
        .collect();
    let theirs = owner.iter().find(|(_, s)| *s == "1/4").unwrap().0;
    let line = format!(
        "shard 2/4: {} of 40 tenants: {}; the other {} are left to the other shards",
        mine.len(),
        mine.join(", "),
        40 - mine.len()
    );
    let o = second.run(&["status"], &config);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert_eq!(table.lines().next(), Some(line.as_str()), "{table}");
    let rows: BTreeSet<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("TENANT"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(rows, mine.iter().copied().collect(), "{table}");
    let o = second.run(&["status", "--json"], &config);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["shard"]["shard"], "2/4");
    assert_eq!(report["streams"].as_array().unwrap().len(), mine.len());
    let o = second.run(&["check", "--offline"], &config);
    assert_eq!(
        text(&o.stdout),
        format!("configuration ok: 40 tenant(s), 40 stream(s)\n{line}\n")
    );

    let o = second.run(&["check", "--tenant", theirs], &config);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!(
            "tenant {theirs:?} is collected by shard 1/4, not by this one (2/4)"
        )),
        "{}",
        text(&o.stderr)
    );
    let o = second.run(
        &["reset", "--tenant", theirs, "--stream", "ttp_url"],
        &config,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("is collected by shard 1/4"),
        "{}",
        text(&o.stderr)
    );
    let o = second.run(
        &["reset", "--tenant", mine[0], "--stream", "ttp_url"],
        &config,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    sim.shutdown().await;
}

/// `--shard` wins over `collector.shard`, also when SIGHUP reloads the file: tenants added to
/// the config start only on the shard that owns them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_command_line_shard() {
    // Pinned in src/config/shard.rs, among 2 shards: acme and umbrella are shard 1, globex and
    // initech shard 2.
    let names = ["acme", "globex", "initech", "umbrella"];
    let sims: Vec<SimTenant> = names.iter().map(|n| SimTenant::named(n)).collect();
    let sim = common::start_sim(SimConfig {
        tenants: sims.clone(),
        ..common::sim_config(5)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // The file says shard 2; the command line says shard 1, and holds.
    let write = |which: &[usize]| {
        let mut t = head(dir.path(), "shard = \"2/2\"\n");
        for &i in which {
            t.push_str(&tenant_toml(names[i], &sim.base_url(), &sims[i]));
        }
        std::fs::write(&config, t).unwrap();
    };
    write(&[0, 1]);
    let first = ShardDir::new(dir.path(), 1, 2);
    let mut daemon = first
        .command(&["run"], &config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let stderr = daemon.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let wait_for = |what: &dyn Fn() -> bool, why: &str| {
        let started = Instant::now();
        while !what() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{why}; log:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    tokio::task::block_in_place(|| {
        wait_for(&|| common::count_lines(&first.out) == 5, "acme drained");
        write(&[0, 1, 2, 3]);
        assert!(Command::new("kill")
            .args(["-HUP", &daemon.id().to_string()])
            .status()
            .unwrap()
            .success());
        wait_for(
            &|| common::count_lines(&first.out) == 10,
            "umbrella drained after the reload",
        );
        wait_for(
            &|| log.lock().unwrap().contains("configuration reloaded"),
            "the reload is logged",
        );
        // One more moment for anything that should not be there.
        std::thread::sleep(Duration::from_millis(500));
    });
    assert!(Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || daemon.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{}", log.lock().unwrap());
    assert_eq!(
        tenants_in(&first.out),
        BTreeSet::from(["acme".to_string(), "umbrella".to_string()])
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.matches("shard=1/2 tenants=2 configured=4").count(),
        1,
        "the reload names the shard again: {log}"
    );
    sim.shutdown().await;
}

/// With more shards than tenants a shard may own none: it runs (idle), says so, and `check`
/// says so too. Bad `--shard` values are usage errors.
#[test]
fn a_shard_with_no_tenant_runs_idle_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // acme is shard 1 of 4 (pinned); nothing listens at this base_url, and nothing asks it.
    std::fs::write(
        &config,
        format!(
            "{}[[tenant]]\nname = \"acme\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"id\"\nclient_secret = \"secret\"\nstreams = [\"ttp_url\"]\n",
            head(dir.path(), "")
        ),
    )
    .unwrap();
    let empty = ShardDir::new(dir.path(), 2, 4);
    let o = empty.run(&["run", "--once"], &config);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("WARN") && l.contains("owns none") && l.contains("shard=2/4")),
        "{err}"
    );
    assert_eq!(common::count_lines(&empty.out), 0);
    let o = empty.run(&["check", "--offline"], &config);
    assert!(
        text(&o.stdout).contains("shard 2/4: 0 of 1 tenants: this shard has nothing to collect"),
        "{}",
        text(&o.stdout)
    );
    let o = empty.run(&["check"], &config);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("0 check(s), 0 failed"));

    for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
        for verb in ["run", "check", "status", "reset"] {
            let mut cmd = bin();
            cmd.args([verb, "--shard", bad, "--config"]).arg(&config);
            if verb == "reset" {
                cmd.args(["--tenant", "acme", "--stream", "ttp_url"]);
            }
            let o = cmd.output().unwrap();
            assert_eq!(o.status.code(), Some(2), "{verb} --shard {bad}");
            assert!(
                text(&o.stderr).contains("--shard"),
                "{verb} --shard {bad}: {}",
                text(&o.stderr)
            );
        }
    }
}
