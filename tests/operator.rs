//! Operator commands against real state: `status` (also while the daemon runs) and `reset`
//! (refused under a running daemon unless forced; a cleared stream is read again).

mod common;
use mimecast_sim::{SimConfig, SimTenant};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
}

fn run(args: &[&str], config: &Path) -> Output {
    let mut cmd = bin();
    cmd.args(args).arg("--config").arg(config);
    cmd.output().unwrap()
}

/// SIGTERM, then wait (at most 20 s) for the daemon to exit.
async fn stop(daemon: &mut std::process::Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    while daemon.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the daemon did not stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_reset_with_and_without_a_running_daemon() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 120,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let config = dir.path().join("config.toml");
    let v2 = acme.v2.as_ref().unwrap();
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n[sink]\nkind = \"file\"\npath = {:?}\n[[tenant]]\nname = \"acme\"\nbase_url = {:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = [\"ttp_url\", \"audit\"]\n",
            dir.path().join("state.db").display().to_string(),
            out.display().to_string(),
            sim.base_url(),
            v2.client_id,
            v2.client_secret
        ),
    )
    .unwrap();

    // Before any run: every configured stream is "never polled", and behind for --max-lag.
    let o = run(&["status"], &config);
    assert!(String::from_utf8_lossy(&o.stdout).contains("never polled"));
    assert_eq!(
        run(&["status", "--max-lag", "1h"], &config).status.code(),
        Some(1)
    );

    assert_eq!(run(&["run", "--once"], &config).status.code(), Some(0));
    assert_eq!(lines(&out), 240);
    let o = run(&["status", "--json"], &config);
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    for s in streams {
        assert_eq!(s["events_total"], 120, "{s}");
        assert!(s["last_error"].is_null());
        assert!(s["lag_seconds"].as_u64().unwrap() < 3600);
        assert!(s["covered_until"].is_string());
    }
    assert_eq!(
        run(&["status", "--max-lag", "1h"], &config).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["status", "--max-lag", "1s"], &config).status.code(),
        Some(1),
        "30 s settle delay is more than 1 s of lag"
    );
    let table = String::from_utf8(run(&["status"], &config).stdout).unwrap();
    assert!(
        table.contains("acme") && table.contains("ttp_url") && table.contains("until "),
        "{table}"
    );

    // A running daemon holds the state: reset refuses, --force goes ahead, status still reads.
    let mut daemon = bin()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = daemon.stderr.take().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("collector started") {
                let _ = started_tx.send(());
            }
        }
    });
    started_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the daemon started");
    let refused = run(
        &[
            "reset", "--tenant", "acme", "--stream", "audit", "--since", "1d",
        ],
        &config,
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another mimecast-collector is running")
    );
    assert_eq!(
        run(&["status"], &config).status.code(),
        Some(0),
        "status works while the daemon runs"
    );
    let forced = run(
        &[
            "reset", "--tenant", "acme", "--stream", "audit", "--since", "1d", "--force",
        ],
        &config,
    );
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(String::from_utf8_lossy(&forced.stdout).contains("acme/audit: checkpoint moved to"));
    stop(&mut daemon).await;

    // Without a daemon: clearing a checkpoint makes the next run read that stream again.
    let before = lines(&out);
    let o = run(
        &["reset", "--tenant", "acme", "--stream", "ttp_url"],
        &config,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("acme/ttp_url: checkpoint cleared"));
    assert_eq!(run(&["run", "--once"], &config).status.code(), Some(0));
    assert!(
        lines(&out) >= before + 120,
        "the cleared stream was read again ({} -> {})",
        before,
        lines(&out)
    );
    // Mistakes are usage errors.
    assert_eq!(
        run(
            &["reset", "--tenant", "nobody", "--stream", "audit"],
            &config
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(
            &["reset", "--tenant", "acme", "--stream", "audit", "--since", "soon"],
            &config
        )
        .status
        .code(),
        Some(2)
    );
    // A bare number is refused like the config refuses it, not read as 1970.
    let bare = run(
        &[
            "reset", "--tenant", "acme", "--stream", "audit", "--since", "3",
        ],
        &config,
    );
    assert_eq!(bare.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bare.stderr).contains("bare number"));
    sim.shutdown().await;
}

fn tenant_toml(name: &str, base_url: &str, t: &SimTenant, v1: bool, streams: &str) -> String {
    if v1 {
        let c = t.v1.as_ref().unwrap();
        format!("[[tenant]]\nname = {name:?}\napi = \"v1\"\nbase_url = {base_url:?}\napp_id = {:?}\napp_key = {:?}\naccess_key = {:?}\nsecret_key = {:?}\nstreams = {streams}\n", c.app_id, c.app_key, c.access_key, c.secret_key)
    } else {
        let c = t.v2.as_ref().unwrap();
        format!("[[tenant]]\nname = {name:?}\nbase_url = {base_url:?}\nclient_id = {:?}\nclient_secret = {:?}\nstreams = {streams}\n", c.client_id, c.client_secret)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_every_stream_and_names_what_is_missing() {
    let good = SimTenant::named("good");
    let mut limited = SimTenant::named("limited");
    limited.denied = vec!["Monitoring | URL Protection | Read".into()];
    let sim = common::start_sim(SimConfig {
        tenants: vec![good.clone(), limited.clone()],
        records_per_stream: 20,
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let all_v2 = r#"["siem_cg", "ttp_url", "ttp_attachment", "ttp_impersonation", "threat_intel", "audit", "archive_search", "archive_search_logs", "message_tracking", "dashboard", "directory"]"#;
    let text = format!(
        "[collector]\nstate_path = {:?}\n{}{}{}",
        dir.path().join("state.db").display().to_string(),
        tenant_toml("good", &sim.base_url(), &good, false, all_v2),
        tenant_toml(
            "good-legacy",
            &sim.base_url(),
            &good,
            true,
            r#"["siem_mta", "ttp_url", "audit"]"#
        ),
        tenant_toml(
            "limited",
            &sim.base_url(),
            &limited,
            true,
            r#"["audit", "ttp_url"]"#
        ),
    );
    std::fs::write(&config, text).unwrap();

    let o = run(&["check", "--tenant", "good"], &config);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        out.lines().filter(|l| l.contains(" ok ")).count(),
        11,
        "{out}"
    );

    let o = run(&["check"], &config);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "one stream lacks its permission: {out}"
    );
    let failed: Vec<&str> = out.lines().filter(|l| l.contains("FAILED")).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0].starts_with("limited") && failed[0].contains("ttp_url"),
        "{out}"
    );
    assert!(
        failed[0].contains(
            "grant the service user's role the permission \"Monitoring | URL Protection | Read\""
        ),
        "{out}"
    );

    sim.expire_binding("good");
    let o = run(&["check", "--tenant", "good-legacy", "--json"], &config);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["ok"], false);
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], false);
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("Authentication Cache TTL to Never Expire"),
            "{c}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_gets_keys_that_work_and_never_writes_the_password() {
    let demo = SimTenant::demo();
    let user = demo.login.clone().unwrap();
    let sim = common::start_sim(SimConfig {
        tenants: vec![demo.clone()],
        records_per_stream: 5,
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let snippet = dir.path().join("tenant.toml");
    let login = |password: &str, out: &Path| {
        let mut child = bin()
            .args([
                "login",
                "--email",
                &user.email,
                "--base-url",
                &sim.base_url(),
                "--app-id",
                &demo.v1.as_ref().unwrap().app_id,
                "--password-stdin",
                "--name",
                "demo",
                "--out",
            ])
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            format!("{password}\n").as_bytes(),
        )
        .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = tokio::task::block_in_place(|| login(&user.password, &snippet));
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let text = std::fs::read_to_string(&snippet).unwrap();
    let v1 = demo.v1.as_ref().unwrap();
    assert!(
        text.contains(&format!("access_key = \"{}\"", v1.access_key)),
        "{text}"
    );
    assert!(text.contains(&format!("secret_key = \"{}\"", v1.secret_key)));
    assert!(
        !text.contains(&user.password)
            && !stderr.contains(&user.password)
            && !String::from_utf8_lossy(&o.stdout).contains(&user.password)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&snippet).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The snippet is a working tenant: with the app key supplied, check passes.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\n{text}",
            dir.path().join("s.db").display().to_string()
        ),
    )
    .unwrap();
    let o = bin()
        .args(["check", "--config"])
        .arg(&config)
        .env("MIMECAST_APP_KEY", &v1.app_key)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A wrong password: exit 1, a message saying what to check, no file.
    let missing = dir.path().join("never.toml");
    let o = tokio::task::block_in_place(|| login("not-the-password", &missing));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("check the email and password"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!missing.exists());
    sim.shutdown().await;
}

/// Reads every datagram systemd would have received.
fn notifications(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    out
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_and_systemd_is_notified() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 120,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n[sink]\nkind = \"file\"\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n{}",
            dir.path().join("state.db").display().to_string(),
            dir.path().join("events.jsonl").display().to_string(),
            tenant_toml("acme", &sim.base_url(), &acme, false, r#"["ttp_url", "audit"]"#)
        ),
    )
    .unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut daemon = bin()
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let started = Instant::now();
    let text = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "metrics never showed the drained streams"
        );
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            let text = r.text().await.unwrap();
            if text.contains(
                "mimecast_collector_events_total{tenant=\"acme\",stream=\"audit\",part=\"\"} 120",
            ) && text.contains("stream=\"ttp_url\",part=\"\"} 120")
            {
                break text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Parse the exposition: every sample line is `name{labels} number`.
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.rsplit_once(' ').unwrap();
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        samples.insert(name.to_string(), v);
    }
    assert_eq!(
        samples["mimecast_collector_stream_up{tenant=\"acme\",stream=\"audit\",part=\"\"}"],
        1.0
    );
    assert!(samples["mimecast_collector_requests_total{tenant=\"acme\",status=\"200\"}"] >= 4.0);
    assert_eq!(
        samples["mimecast_collector_token_refreshes_total{tenant=\"acme\"}"],
        1.0
    );
    assert!(samples["mimecast_collector_sink_bytes_total"] > 0.0);
    assert!(samples.contains_key(
        "mimecast_collector_lag_seconds{tenant=\"acme\",stream=\"ttp_url\",part=\"\"}"
    ));
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    stop(&mut daemon).await;
    let messages = notifications(&notify).join("\n");
    assert!(messages.contains("READY=1"), "{messages}");
    assert!(messages.contains("STATUS=2 streams"), "{messages}");
    assert!(messages.contains("STOPPING=1"), "{messages}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration_and_keeps_checkpoints() {
    let (acme, globex, initech) = (
        SimTenant::named("acme"),
        SimTenant::named("globex"),
        SimTenant::named("initech"),
    );
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone(), initech.clone()],
        records_per_stream: 80,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let config = dir.path().join("config.toml");
    let head = format!("[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n[sink]\nkind = \"file\"\npath = {:?}\n", dir.path().join("state.db").display().to_string(), out.display().to_string());
    let base = sim.base_url();
    let write = |tenants: &[String]| {
        std::fs::write(&config, format!("{head}{}", tenants.concat())).unwrap()
    };
    write(&[
        tenant_toml("acme", &base, &acme, false, r#"["ttp_url"]"#),
        tenant_toml("globex", &base, &globex, true, r#"["audit"]"#),
    ]);

    let mut daemon = bin()
        .args(["run", "--config"])
        .arg(&config)
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
    let pid = daemon.id().to_string();
    let hup = || {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success())
    };
    tokio::task::block_in_place(|| {
        wait_for(&|| lines(&out) == 160, "first drain");
        // Add a stream to acme, remove globex, add initech; ask for another format, which
        // waits for the restart: one output file holds one format.
        std::fs::write(
            &config,
            format!(
                "{}{}{}",
                head.replace("[sink]\n", "[sink]\nformat = \"ocsf\"\n"),
                tenant_toml("acme", &base, &acme, false, r#"["ttp_url", "audit"]"#),
                tenant_toml("initech", &base, &initech, false, r#"["ttp_url"]"#),
            ),
        )
        .unwrap();
        hup();
        wait_for(
            &|| lines(&out) == 320,
            "acme/audit and initech/ttp_url after the reload",
        );
        assert!(log.lock().unwrap().contains("configuration reloaded"));
        assert!(log
            .lock()
            .unwrap()
            .contains("take effect at the next restart"));
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.lines().all(|l| l.starts_with("{\"id\":")),
            "every line is still native after a reload asking for ocsf"
        );
        // A broken file is refused; the daemon keeps running the last good configuration.
        std::fs::write(
            &config,
            format!("{head}[[tenant]]\nname = \"broken\"\napi = \"v1\"\nregion = \"mars\"\n"),
        )
        .unwrap();
        hup();
        wait_for(
            &|| log.lock().unwrap().contains("new configuration refused"),
            "the bad config is refused",
        );
        assert!(
            log.lock().unwrap().contains("tenant[0].region"),
            "the refusal names the key"
        );
        assert!(daemon.try_wait().unwrap().is_none(), "still running");
        // globex comes back: its checkpoint was kept, so it finds nothing new.
        write(&[
            tenant_toml("acme", &base, &acme, false, r#"["ttp_url", "audit"]"#),
            tenant_toml("initech", &base, &initech, false, r#"["ttp_url"]"#),
            tenant_toml("globex", &base, &globex, true, r#"["audit"]"#),
        ]);
        hup();
        wait_for(
            &|| {
                log.lock()
                    .unwrap()
                    .matches("stream{tenant=globex stream=audit}: poll complete")
                    .count()
                    == 2
            },
            "globex polled again",
        );
    });
    assert!(
        log.lock()
            .unwrap()
            .contains("stream{tenant=globex stream=audit}: poll complete records=0"),
        "{}",
        log.lock().unwrap()
    );
    assert_eq!(lines(&out), 320, "nothing was written twice");
    stop(&mut daemon).await;
    sim.shutdown().await;
}

/// After a reload that rebuilds a tenant's client (new rate) and removes another tenant, each
/// series is rendered once, the rebuilt tenant's request counters go on from where they were,
/// and the removed tenant's series are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_reload_have_one_series_each_and_none_for_removed_tenants() {
    let (acme, globex) = (SimTenant::named("acme"), SimTenant::named("globex"));
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        records_per_stream: 40,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(5)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let config = dir.path().join("config.toml");
    let head = format!(
        "[collector]\nstate_path = {:?}\npoll_interval = \"1h\"\n[sink]\nkind = \"file\"\npath = {:?}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        dir.path().join("state.db").display().to_string(),
        dir.path().join("events.jsonl").display().to_string(),
    );
    let base = sim.base_url();
    std::fs::write(
        &config,
        format!(
            "{head}{}{}",
            tenant_toml("acme", &base, &acme, false, r#"["ttp_url"]"#),
            tenant_toml("globex", &base, &globex, true, r#"["audit"]"#),
        ),
    )
    .unwrap();
    let mut daemon = bin()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let scrape_until = |what: &'static str, done: fn(&str) -> bool| {
        let http = http.clone();
        async move {
            let started = Instant::now();
            loop {
                assert!(started.elapsed() < Duration::from_secs(20), "{what}");
                if let Ok(r) = http
                    .get(format!("http://127.0.0.1:{port}/metrics"))
                    .send()
                    .await
                {
                    let text = r.text().await.unwrap();
                    if done(&text) {
                        return text;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let acme_ok = r#"mimecast_collector_requests_total{tenant="acme",status="200"}"#;
    let value = |text: &str, series: &str| -> Vec<f64> {
        text.lines()
            .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .collect()
    };
    let before = scrape_until("both tenants drained", |t| {
        t.contains(r#"events_total{tenant="acme",stream="ttp_url",part=""} 40"#)
            && t.contains(r#"events_total{tenant="globex",stream="audit",part=""} 40"#)
    })
    .await;
    let before_ok = value(&before, acme_ok);
    assert_eq!(before_ok.len(), 1, "{before}");
    // acme gets a new rate (a new client), globex goes away.
    std::fs::write(
        &config,
        format!(
            "{head}{}requests_per_minute = 500\n",
            tenant_toml("acme", &base, &acme, false, r#"["ttp_url"]"#),
        ),
    )
    .unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .unwrap()
        .success());
    let after = scrape_until("globex's series are dropped", |t| {
        !t.contains(r#"tenant="globex""#)
    })
    .await;
    let after_ok = value(&after, acme_ok);
    assert_eq!(
        after_ok.len(),
        1,
        "one series per tenant and status:\n{after}"
    );
    assert!(after_ok[0] >= before_ok[0], "{after_ok:?} < {before_ok:?}");
    assert_eq!(
        value(
            &after,
            r#"mimecast_collector_token_refreshes_total{tenant="acme"}"#
        )
        .len(),
        1,
        "{after}"
    );
    assert!(after.contains(r#"events_total{tenant="acme",stream="ttp_url",part=""} 40"#));
    stop(&mut daemon).await;
    sim.shutdown().await;
}

/// `run --once` that could not complete a stream (a permission missing, a server failing
/// through every retry) exits 1 and names each such stream; the streams that worked still
/// wrote their events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_exits_1_naming_every_stream_that_failed() {
    let good = SimTenant::named("good");
    let mut limited = SimTenant::named("limited");
    limited.denied = vec!["Monitoring | URL Protection | Read".into()];
    let sim = common::start_sim(SimConfig {
        tenants: vec![good.clone(), limited.clone()],
        records_per_stream: 20,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(10)),
        faults: vec![mimecast_sim::FaultRule {
            path_prefix: Some("/api/audit/get-audit-events".into()),
            tenant: Some("good".into()),
            times: u32::MAX,
            after: 0,
            kind: mimecast_sim::FaultKind::Status(500),
        }],
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let out = dir.path().join("events.jsonl");
    let text = format!(
        "[collector]\nstate_path = {:?}\n[http]\nretry_initial_delay = \"10ms\"\nretry_max_delay = \"20ms\"\nretry_max_attempts = 2\n[sink]\nkind = \"file\"\npath = {:?}\n{}{}",
        dir.path().join("state.db").display().to_string(),
        out.display().to_string(),
        tenant_toml("good", &sim.base_url(), &good, true, r#"["ttp_url", "audit"]"#),
        tenant_toml("limited", &sim.base_url(), &limited, true, r#"["ttp_url"]"#),
    );
    std::fs::write(&config, text).unwrap();
    let config2 = config.clone();
    let once = tokio::task::spawn_blocking(move || run(&["run", "--once"], &config2))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert_eq!(once.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: good/audit: "), "{stderr}");
    assert!(stderr.contains("error: limited/ttp_url: "), "{stderr}");
    assert!(!stderr.contains("error: good/ttp_url"), "{stderr}");
    assert!(stderr.contains("2 stream(s) did not complete"), "{stderr}");
    assert_eq!(lines(&out), 20, "good/ttp_url still wrote its events");
    // `status` says the same from the state database: exit 1, the failing streams named.
    let status = run(&["status"], &config);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert!(
        text.contains("2 stream(s) failing (last poll failed): good/audit, limited/ttp_url"),
        "{text}"
    );
    // Once the server recovers and the permission is granted elsewhere, a clean run exits 0.
    let clean = dir.path().join("clean.toml");
    std::fs::write(
        &clean,
        format!(
            "[collector]\nstate_path = {:?}\n[sink]\nkind = \"file\"\npath = {:?}\n{}",
            dir.path().join("state.db").display().to_string(),
            out.display().to_string(),
            tenant_toml("good", &sim.base_url(), &good, true, r#"["ttp_url"]"#),
        ),
    )
    .unwrap();
    let ok = tokio::task::spawn_blocking(move || run(&["run", "--once"], &clean))
        .await
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let status = run(&["status"], &dir.path().join("clean.toml"));
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    sim.shutdown().await;
}

/// A caught-up stream is not "behind": polls that find nothing new still say the stream is
/// complete up to now, in `status` (from the state database) as in `/metrics`. Before, a
/// SIEM stream's last success stopped at its last page, and `status --max-lag` failed on a
/// healthy daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lag_of_a_caught_up_stream_keeps_moving() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 30,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(10)),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let out = dir.path().join("events.jsonl");
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\npoll_interval = \"1s\"\n[sink]\nkind = \"file\"\npath = {:?}\n{}[tenant.stream.siem_cg]\ntypes = [\"receipt\"]\n",
            dir.path().join("state.db").display().to_string(),
            out.display().to_string(),
            tenant_toml("acme", &sim.base_url(), &acme, false, r#"["siem_cg"]"#),
        ),
    )
    .unwrap();
    let mut daemon = bin()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let config2 = config.clone();
    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // The 30 receipts, then nothing new.
        let mut seen = (0, Instant::now());
        while seen.0 < 30 || seen.1.elapsed() < Duration::from_secs(2) {
            assert!(started.elapsed() < Duration::from_secs(30), "drain");
            let n = lines(&out);
            if n != seen.0 {
                seen = (n, Instant::now());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Caught up; several empty polls go by (the last page was committed 5 s ago).
        std::thread::sleep(Duration::from_secs(3));
        run(&["status", "--json", "--max-lag", "3s"], &config2)
    })
    .await
    .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let siem = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "siem_cg")
        .unwrap()
        .clone();
    assert!(
        siem["lag_seconds"].as_u64().is_some_and(|l| l <= 3),
        "a caught-up siem_cg is not behind: {siem}"
    );
    assert_eq!(status.status.code(), Some(0), "{v}");
    sim.shutdown().await;
}

/// `--log-format json`: one flat object per line, tenant and stream at the top level, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_put_tenant_and_stream_at_the_top_level_once() {
    let acme = SimTenant::named("acme");
    let sim = common::start_sim(SimConfig {
        tenants: vec![acme.clone()],
        records_per_stream: 10,
        end: Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(10)),
        faults: vec![mimecast_sim::FaultRule::once(
            mimecast_sim::FaultKind::Status(503),
        )],
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\n[http]\nretry_initial_delay = \"10ms\"\n[sink]\nkind = \"file\"\npath = {:?}\n{}",
            dir.path().join("state.db").display().to_string(),
            dir.path().join("events.jsonl").display().to_string(),
            tenant_toml("acme", &sim.base_url(), &acme, true, r#"["ttp_url", "audit"]"#),
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["--log-format", "json", "run", "--once", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut polls = 0;
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("span").is_none() && v.get("spans").is_none(),
            "{line}"
        );
        for key in ["\"tenant\":", "\"stream\":"] {
            assert!(line.matches(key).count() <= 1, "{key} twice: {line}");
        }
        if v["message"] == "poll complete" {
            polls += 1;
            assert_eq!(v["tenant"], "acme", "{line}");
            assert!(v["stream"] == "ttp_url" || v["stream"] == "audit", "{line}");
            assert!(v["records"].is_u64(), "{line}");
        }
        if v["message"] == "transient error, retrying" {
            assert_eq!(v["tenant"], "acme", "{line}");
            assert!(v["stream"].is_string(), "the span's stream: {line}");
        }
    }
    assert_eq!(polls, 2, "{stderr}");
    sim.shutdown().await;
}

/// `reset --since` past the point a stream is complete up to would skip the records in
/// between: it is refused, naming the stream and both times, unless `--force`; a `--since`
/// before that point (a backfill) goes through as before.
#[test]
fn reset_since_that_moves_a_checkpoint_forward_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.db");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\nstate_path = {:?}\n[sink]\nkind = \"stdout\"\n[[tenant]]\nname = \"acme\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\nclient_secret = \"s\"\nstreams = [\"ttp_url\"]\n",
            state_path.display().to_string()
        ),
    )
    .unwrap();
    // The stream is complete up to three hours ago (it is behind).
    let covered = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    {
        let mut state = mimecast_collector::state::State::open(&state_path).unwrap();
        let key = mimecast_collector::state::StreamKey::new("acme", "ttp_url", "");
        state.record_success(&key, Some(covered)).unwrap();
    }
    let reset = |args: &[&str]| {
        let mut all = vec!["reset", "--tenant", "acme", "--stream", "ttp_url"];
        all.extend_from_slice(args);
        run(&all, &config)
    };
    let forward = reset(&["--since", "1h"]);
    let err = String::from_utf8_lossy(&forward.stderr);
    assert_eq!(forward.status.code(), Some(1), "{err}");
    assert!(err.contains("acme/ttp_url is complete up to"), "{err}");
    assert!(err.contains("skips the records in between"), "{err}");
    assert!(err.contains("--force"), "{err}");
    let forced = reset(&["--since", "1h", "--force"]);
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(String::from_utf8_lossy(&forced.stdout).contains("checkpoint moved to"));
    // Going back (a backfill) needs nothing.
    let back = reset(&["--since", "5h"]);
    assert_eq!(
        back.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
}
