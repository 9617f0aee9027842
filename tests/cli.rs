//! The binary's contract: verbs listed in --help, exit 78 with the key path for bad config,
//! and the shipped example config loading cleanly.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
}

#[test]
fn help_lists_every_verb() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for verb in [
        "run",
        "check",
        "login",
        "status",
        "reset",
        "permissions",
        "completions",
        "sim",
        "demo",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(verb)),
            "--help lacks {verb}:\n{text}"
        );
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let out = bin().args(["run", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_config_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[tenant]]\nname = \"globex\"\napi = \"v1\"\nregion = \"mars\"\napp_id = \"a\"\napp_key = \"k\"\naccess_key = \"ak\"\nsecret_key = \"c2VjcmV0\"\nstreams = [\"ttp_url\"]\n",
    )
    .unwrap();
    for verb in ["run", "check", "status"] {
        let out = bin().args([verb, "--config"]).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(78), "{verb}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("tenant[0].region: \"mars\" is not one of eu, de, us"),
            "{verb}: {err}"
        );
    }
}

#[test]
fn missing_config_file_exits_78_and_the_env_var_names_the_file() {
    let out = bin()
        .arg("run")
        .env("MIMECAST_COLLECTOR_CONFIG", "/nonexistent/collector.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/collector.toml"));
}

#[test]
fn example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("globex.secret"), "c2VjcmV0\n").unwrap();
    let text = std::fs::read_to_string(&example).unwrap().replace(
        "/run/credentials/mimecast-collector.service/globex.secret",
        "globex.secret",
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let env = std::collections::HashMap::from([
        ("ACME_CLIENT_SECRET".to_string(), "s1".to_string()),
        ("GLOBEX_APP_KEY".to_string(), "s2".to_string()),
        ("GLOBEX_ACCESS_KEY".to_string(), "s3".to_string()),
    ]);
    let cfg = mimecast_collector::config::load(&path, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.tenants.len(), 2);
}

/// Runs the binary with a deadline, so a hang fails the test instead of stalling CI.
fn run_with_deadline(cmd: &mut Command, deadline: std::time::Duration) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut buf).unwrap();
        buf
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    std::process::Output {
        status,
        stdout: reader.join().unwrap(),
        stderr,
    }
}

#[test]
fn demo_prints_the_requested_number_of_valid_events_and_exits_0() {
    let out = run_with_deadline(
        bin().args(["demo", "--events", "50"]),
        std::time::Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/event.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 50);
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(validator.is_valid(&v), "{line}");
    }
}

#[test]
fn check_offline_validates_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, "[[tenant]]\nname = \"acme\"\nclient_id = \"id\"\nclient_secret = \"s\"\nstreams = [\"audit\"]\n").unwrap();
    let out = bin()
        .args(["check", "--offline", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 tenant(s), 1 stream(s)"));
}

/// A unit file's directives: its lines without comments and blanks.
fn directives(unit: &str) -> Vec<&str> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The exposure `systemd-analyze security` gives a unit file (None where systemd is missing).
fn exposure(path: &Path, unit_name: &str) -> Option<f64> {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let marker = format!("exposure level for {unit_name}: ");
    Some(
        text.lines()
            .find_map(|l| {
                l.split(&marker)
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no exposure in systemd-analyze's output:\n{text}")),
    )
}

/// The shipped unit keeps its hardening, scored by systemd itself: an exposure of 1.2 or lower
/// in `systemd-analyze security` (on every machine with systemd; the directives are checked
/// everywhere).
#[test]
fn systemd_unit_is_hardened() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/mimecast-collector.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    let directives = directives(&unit);
    for required in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateMounts=yes",
        "RemoveIPC=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "StateDirectory=mimecast-collector",
        "User=mimecast-collector",
        "ExecStart=/usr/bin/mimecast-collector run",
        "Type=notify",
        "WatchdogSec=60",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(directives.contains(&required), "unit lacks {required}");
    }
    // RestartPreventExitStatus= does not apply to ExecStartPre: a config check there exits 78,
    // systemd restarts anyway, forever. `run` refuses a bad config itself (exit 78).
    assert!(
        !directives.iter().any(|d| d.starts_with("ExecStartPre=")),
        "a check in ExecStartPre restarts a bad config forever"
    );
    // StateDirectory= already makes the state directory writable under ProtectSystem=strict.
    assert!(
        !directives.iter().any(|d| d.starts_with("ReadWritePaths=")),
        "ReadWritePaths= repeats what StateDirectory= grants"
    );
    if let Some(exposure) = exposure(&path, "mimecast-collector.service") {
        assert!(exposure <= 1.2, "exposure {exposure} > 1.2");
    }
}

/// The shard template (`mimecast-collector@2-4.service` is shard 2 of 4) is the service unit
/// with the shard on the command line and its own state directory, state database and output
/// file: everything else, hardening included, is the same, and systemd scores and verifies it.
#[test]
fn systemd_shard_template_is_the_unit_with_its_own_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let path = dir.join("mimecast-collector@.service");
    let template = std::fs::read_to_string(&path).unwrap();
    let unit = std::fs::read_to_string(dir.join("mimecast-collector.service")).unwrap();
    let own = directives(&template);
    // What differs, on purpose.
    let per_shard = [
        "Description=Mimecast event collector, shard %I",
        "ExecStart=/usr/bin/mimecast-collector run --shard %I",
        "StateDirectory=mimecast-collector/%i",
        "Environment=MIMECAST_COLLECTOR__COLLECTOR__STATE_PATH=/var/lib/mimecast-collector/%i/state.db",
        "Environment=MIMECAST_COLLECTOR__SINK__PATH=/var/lib/mimecast-collector/%i/events.jsonl",
    ];
    for d in per_shard {
        assert!(own.contains(&d), "the template lacks {d}");
    }
    let differs = |d: &str| {
        ["Description=", "ExecStart=", "StateDirectory="]
            .iter()
            .any(|k| d.starts_with(k))
    };
    for d in directives(&unit).into_iter().filter(|d| !differs(d)) {
        assert!(own.contains(&d), "the template lacks the unit's {d}");
    }
    assert_eq!(
        own.len(),
        directives(&unit).len() + 2,
        "the template adds two Environment= lines and nothing else:\n{template}"
    );
    if let Some(exposure) = exposure(&path, "mimecast-collector@i.service") {
        assert!(exposure <= 1.2, "exposure {exposure} > 1.2");
    }
    // The instance name is the shard escaped as systemd escapes it, and %I gives it back.
    if let Ok(out) = Command::new("systemd-escape")
        .args(["--template=mimecast-collector@.service", "2/4"])
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "mimecast-collector@2-4.service"
        );
        let out = Command::new("systemd-escape")
            .args(["--unescape", "2-4"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2/4");
    }
    // systemd-analyze verify, with the binary this test built standing in for
    // /usr/bin/mimecast-collector (which it checks is executable): no warning about the unit.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("mimecast-collector@2-4.service");
    std::fs::write(
        &copy,
        template.replace(
            "/usr/bin/mimecast-collector",
            env!("CARGO_BIN_EXE_mimecast-collector"),
        ),
    )
    .unwrap();
    if let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "systemd-analyze verify: {err}");
        assert!(
            !err.contains("mimecast-collector@"),
            "systemd-analyze verify warns: {err}"
        );
    }
}

#[test]
fn demo_config_is_valid_and_matches_the_simulator_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let cfg = mimecast_collector::config::load(&path, &std::collections::HashMap::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let demo = mimecast_sim::SimTenant::demo();
    assert_eq!(cfg.tenants[0].base_url.as_str(), "http://127.0.0.1:8025/");
    match &cfg.tenants[0].credentials {
        mimecast_collector::config::Credentials::V2(c) => {
            assert_eq!(c.client_id, demo.v2.as_ref().unwrap().client_id)
        }
        other => panic!("{other:?}"),
    }
    match &cfg.tenants[1].credentials {
        mimecast_collector::config::Credentials::V1(c) => {
            assert_eq!(c.app_id, demo.v1.as_ref().unwrap().app_id)
        }
        other => panic!("{other:?}"),
    }
}

/// `permissions`, `status` and `reset` never contact Mimecast, so they read no secret: an
/// on-call shell (or an admin setting a tenant up) has none. `run` and `check` still need them.
#[test]
fn permissions_status_and_reset_work_without_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"[collector]
state_path = {state:?}
[[tenant]]
name = "ttr"
api = "v1"
region = "eu"
app_id = "id"
app_key = "${{TTR_APP_KEY_NOT_SET}}"
access_key = "${{TTR_ACCESS_KEY_NOT_SET}}"
secret_key_file = "/nonexistent/ttr.secret"
streams = ["dashboard", "archive_search", "directory"]
[[tenant]]
name = "synq"
client_id = "id"
client_secret = "${{SYNQ_SECRET_NOT_SET}}"
streams = ["threats"]
"#,
            state = dir.path().join("state.db").display().to_string()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = bin()
            .args(args)
            .arg("--config")
            .arg(&path)
            .env_remove("TTR_APP_KEY_NOT_SET")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["permissions"]);
    assert_eq!(code, Some(0), "{stderr}");
    // The timetoreply guide's three permissions, with what it grants beyond them named.
    for line in [
        "Account Menu | Dashboard | Read",
        "Archive Menu | Search | Read",
        "Directories Menu | Internal | Read",
        "not needed: Edit",
        "not needed: Search Content View",
        // The Synqly guide's product and permission.
        "Threats, Security Events and Data for CG",
        "Security Events and Data Retrieval | Threat and security statistics | Read",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let (code, _, stderr) = run(&["status"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = run(&["reset", "--tenant", "synq", "--stream", "threats"]);
    assert_eq!(code, Some(0), "{stderr}");
    // Commands that contact Mimecast still refuse, naming the missing secret.
    let (code, _, stderr) = run(&["check", "--offline"]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("TTR_APP_KEY_NOT_SET"), "{stderr}");
}

#[test]
fn permissions_without_a_config_prints_every_stream() {
    let out = bin().arg("permissions").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for stream in mimecast_collector::streams::StreamKind::ALL {
        assert!(
            text.lines().any(|l| l.starts_with(stream.name())),
            "{stream}: {text}"
        );
    }
}

/// `check --offline --json` answers in JSON whether the configuration is good or refused.
#[test]
fn check_offline_json_is_json_for_a_good_and_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[tenant]]\nname = \"acme\"\nclient_id = \"id\"\nclient_secret = \"s\"\nstreams = [\"ttp_url\", \"audit\"]\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "--offline", "--json", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], true);
    assert_eq!(v["streams"], 2);

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[sink]\nformat = \"cef\"\n[[tenant]]\nname = \"acme\"\nregion = \"mars\"\nclient_id = \"id\"\nclient_secret = \"s\"\nstreams = [\"ttp_url\"]\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "--offline", "--json", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    let keys: Vec<&str> = v["config_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"sink.format"), "{v}");
    assert!(keys.contains(&"tenant[0].region"), "{v}");
}

/// A `--log-level` that is not a level is a usage error, not a filter that hides every line.
#[test]
fn a_nonsense_log_level_is_a_usage_error() {
    let out = bin()
        .args(["--log-level", "verbose", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a level"));
    let out = bin()
        .args(["--log-level", "info,mimecast_collector=debug", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// A config the service user cannot read says "permission denied", not "not found" (as root,
/// the binary runs as `nobody` through setpriv, which is how the service meets the file).
#[cfg(unix)]
#[test]
fn an_unreadable_config_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // As the README's install left it: a directory the service cannot enter (root, 0750).
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let path = etc.join("config.toml");
    std::fs::write(
        &path,
        "[[tenant]]\nname = \"acme\"\nclient_id = \"id\"\nclient_secret = \"s\"\nstreams = [\"ttp_url\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o750)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let out = if root {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_mimecast-collector"))
            .args(["check", "--offline", "--config"])
            .arg(&path)
            .output()
            .expect("setpriv (util-linux) runs the binary as nobody")
    } else {
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o000)).unwrap();
        bin()
            .args(["check", "--offline", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(!err.contains("not found"), "{err}");
}

/// The project's knowledge of the Mimecast API lives in `docs/mimecast-api.md`: nothing in the
/// repository may point at notes a clone does not have (a Mimecast notes file kept outside the
/// repository, or a path into a `shared` directory beside it).
mod api_reference {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    /// Spelled in pieces so that this file does not match its own checks.
    const FORBIDDEN: [&str; 2] = [concat!("MIMECAST", ".md"), concat!("..", "/shared")];
    const DOC: &str = concat!("docs/mimecast-api", ".md");
    const LINK: &str = concat!("docs/mimecast-api", ".md#");

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every text file under the places the project keeps code and prose; build output and
    /// recorded fixtures are skipped.
    fn text_files() -> Vec<(PathBuf, String)> {
        let mut todo: Vec<PathBuf> = [
            "src",
            "crates",
            "tests",
            "docs",
            "config",
            "scripts",
            "systemd",
            "benches",
            "examples",
            "fuzz",
            "README.md",
            "Cargo.toml",
        ]
        .iter()
        .map(|p| root().join(p))
        .filter(|p| p.exists())
        .collect();
        let skip = [root().join("tests/fixtures")];
        let mut out = Vec::new();
        while let Some(p) = todo.pop() {
            if p.is_dir() {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name == "target" || name.starts_with('.') || skip.contains(&p) {
                    continue;
                }
                for e in std::fs::read_dir(&p).unwrap() {
                    todo.push(e.unwrap().path());
                }
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                out.push((p, text));
            }
        }
        assert!(out.len() > 50, "walked only {} files", out.len());
        out
    }

    /// GitHub's anchor for a heading: lowercase, spaces to `-`, punctuation other than `-` and
    /// `_` dropped, and `-1`, `-2`, ... for repeats.
    fn anchors(markdown: &str) -> Vec<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        let mut fenced = false;
        for line in markdown.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let Some(title) = line.strip_prefix('#') else {
                continue;
            };
            if fenced {
                continue;
            }
            let title = title.trim_start_matches('#');
            if !title.starts_with(' ') {
                continue;
            }
            let slug: String = title
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect();
            let n = seen.entry(slug.clone()).or_insert(0);
            out.push(if *n == 0 {
                slug.clone()
            } else {
                format!("{slug}-{n}")
            });
            *n += 1;
        }
        out
    }

    fn anchor_after(text: &str, at: usize) -> &str {
        let rest = &text[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn nothing_points_outside_the_repository_for_api_knowledge() {
        let mut found = Vec::new();
        for (path, text) in text_files() {
            for (n, line) in text.lines().enumerate() {
                if FORBIDDEN.iter().any(|f| line.contains(f)) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "point these at {DOC} instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn every_api_reference_anchor_exists() {
        let doc = std::fs::read_to_string(root().join(DOC)).expect("the API reference exists");
        let known = anchors(&doc);
        let mut missing = Vec::new();
        let mut links = 0;
        for (path, text) in text_files() {
            for (at, _) in text.match_indices(LINK) {
                links += 1;
                let anchor = anchor_after(&text, at + LINK.len());
                if !known.iter().any(|k| k == anchor) {
                    missing.push(format!("{}: #{anchor}", path.display()));
                }
            }
        }
        // Links inside the reference itself: `](#anchor)`.
        for (at, _) in doc.match_indices("](#") {
            let anchor = anchor_after(&doc, at + 3);
            if !known.iter().any(|k| k == anchor) {
                missing.push(format!("{DOC}: #{anchor}"));
            }
        }
        assert!(links > 50, "only {links} links to {DOC} found");
        assert!(
            missing.is_empty(),
            "anchors not among the headings of {DOC}:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn anchors_follow_github_rules() {
        let md = "# API 1.0 signing\n```\n# not a heading\n```\n## SIEM batch (Cloud Gateway)\n### Dup\n### Dup\n#nospace\n";
        assert_eq!(
            anchors(md),
            ["api-10-signing", "siem-batch-cloud-gateway", "dup", "dup-1"]
        );
    }
}

/// `completions SHELL` prints a script that the shell accepts and that completes every verb.
#[test]
fn completions_are_scripts_each_shell_accepts() {
    let script = |shell: &str| {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {:?}", out);
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = script("bash");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mimecast-collector.bash");
    std::fs::write(&file, &bash).unwrap();
    // bash loads it, registers it for the command, and completing "st" offers `status`.
    let probe = format!(
        "source {:?}; spec=$(complete -p mimecast-collector) || exit 3; echo \"$spec\"; f=${{spec##*-F }}; f=${{f%% *}}; COMP_WORDS=(mimecast-collector st); COMP_CWORD=1; COMP_LINE='mimecast-collector st'; COMP_POINT=${{#COMP_LINE}}; \"$f\" mimecast-collector st mimecast-collector; echo \"${{COMPREPLY[@]}}\"",
        file
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(" mimecast-collector\n"),
        "not registered: {text}"
    );
    assert!(
        text.lines().last().unwrap_or("").contains("status"),
        "{text}"
    );
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef mimecast-collector"), "{zsh}");
    let fish = script("fish");
    for verb in ["run", "status", "reset", "completions"] {
        assert!(zsh.contains(&format!("'{verb}:")), "zsh lacks {verb}");
        assert!(
            fish.contains(&format!("-a \"{verb}\"")),
            "fish lacks {verb}:\n{fish}"
        );
    }
    let bad = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// The man page (what packages install as mimecast-collector(1)) is roff that `man` renders,
/// with every verb and the exit codes.
#[test]
fn man_page_renders_with_every_verb() {
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.contains(".TH mimecast-collector 1"), "{roff}");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("mimecast-collector.1");
    std::fs::write(&page, &roff).unwrap();
    let text = match Command::new("groff")
        .args(["-man", "-Tutf8", "-P-c"])
        .arg(&page)
        .output()
    {
        Ok(rendered) => {
            assert!(rendered.status.success(), "groff refused the page");
            String::from_utf8_lossy(&rendered.stdout).replace("\u{2010}", "-")
        }
        // Without groff, the roff source still has to carry the words.
        Err(_) => roff.replace("\\-", "-"),
    };
    for word in [
        "run",
        "check",
        "status",
        "reset",
        "completions",
        "Exit codes: 0 ok",
    ] {
        assert!(text.contains(word), "the man page lacks {word:?}:\n{text}");
    }
}
