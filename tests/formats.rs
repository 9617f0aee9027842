//! Every format carries the same events: the whole simulator (every stream, both APIs, every
//! SIEM type) drained once per `sink.format` by the real binary, each line checked against its
//! official definition (OCSF 1.8.0 class schemas, the ECS 9.4 field list, our own schema), and
//! the three outputs compared event for event by their stable ids.

mod common;
use common::*;
use mimecast_collector::render::Format;
use mimecast_collector::streams::StreamKind;
use mimecast_sim::{SimConfig, SimTenant};
use std::collections::BTreeMap;
use std::path::Path;

fn config(
    dir: &Path,
    base_url: &str,
    acme: &SimTenant,
    globex: &SimTenant,
    format: Format,
) -> String {
    let v2 = acme.v2.as_ref().unwrap();
    let v1 = globex.v1.as_ref().unwrap();
    let v2_streams: Vec<String> = StreamKind::ALL
        .iter()
        .filter(|k| k.supports(mimecast_collector::catalog::ApiVersion::V2))
        .map(|k| format!("{:?}", k.name()))
        .collect();
    let v1_only: Vec<String> = StreamKind::ALL
        .iter()
        .filter(|k| !k.supports(mimecast_collector::catalog::ApiVersion::V2))
        .map(|k| format!("{:?}", k.name()))
        .collect();
    format!(
        r#"[collector]
state_path = {state:?}
poll_interval = "1h"
[http]
requests_per_minute = 100000
[sink]
kind = "file"
path = {out:?}
format = "{format}"
[[tenant]]
name = "acme"
base_url = "{base_url}"
client_id = "{cid}"
client_secret = "{cs}"
streams = [{v2_streams}]
[[tenant]]
name = "globex"
api = "v1"
base_url = "{base_url}"
app_id = "{app_id}"
app_key = "{app_key}"
access_key = "{access_key}"
secret_key = "{secret_key}"
streams = [{v1_only}, "ttp_url", "audit"]
"#,
        state = dir.join("state.db").display().to_string(),
        out = dir.join("events.jsonl").display().to_string(),
        cid = v2.client_id,
        cs = v2.client_secret,
        app_id = v1.app_id,
        app_key = v1.app_key,
        access_key = v1.access_key,
        secret_key = v1.secret_key,
        v2_streams = v2_streams.join(", "),
        v1_only = v1_only.join(", "),
    )
}

/// The stable id of one line, wherever its format keeps it.
fn id_of(format: Format, line: &serde_json::Value) -> String {
    match format {
        Format::Native => line["id"].as_str().unwrap().to_string(),
        Format::Ocsf => ocsf::event_id(line),
        Format::Ecs => ecs::event_id(line),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_carries_the_same_events_and_each_line_meets_its_definition() {
    let acme = SimTenant::named("acme");
    let globex = SimTenant::named("globex");
    let sim = start_sim(SimConfig {
        tenants: vec![acme.clone(), globex.clone()],
        siem_cg_records_per_file: 20,
        quota_per_minute: 0,
        ..sim_config(40)
    })
    .await;
    let native_schema = schema();
    let mut ids: BTreeMap<Format, Vec<String>> = BTreeMap::new();
    let mut native_streams: BTreeMap<String, usize> = BTreeMap::new();
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            config(dir.path(), &sim.base_url(), &acme, &globex, format),
        )
        .unwrap();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_mimecast-collector"))
                .args(["run", "--once", "--config"])
                .arg(&path)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = read_events(&dir.path().join("events.jsonl"));
        let mut errors = Vec::new();
        for line in &lines {
            let found = match format {
                Format::Native => native_schema
                    .iter_errors(line)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect(),
                Format::Ocsf => ocsf::validate(line),
                Format::Ecs => ecs::validate(line),
            };
            if !found.is_empty() {
                errors.push(format!("{found:?} in {line}"));
            }
            if format == Format::Native {
                *native_streams
                    .entry(line["stream"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        assert!(
            errors.is_empty(),
            "{format}: {} of {} lines invalid, e.g. {}",
            errors.len(),
            lines.len(),
            errors[0]
        );
        let mut got: Vec<String> = lines.iter().map(|l| id_of(format, l)).collect();
        got.sort();
        ids.insert(format, got);
    }
    for kind in StreamKind::ALL {
        assert!(
            native_streams.get(kind.name()).is_some_and(|n| *n > 0),
            "{kind}: no events drained ({native_streams:?})"
        );
    }
    let native = &ids[&Format::Native];
    assert!(native.len() > 500, "{} events", native.len());
    for format in [Format::Ocsf, Format::Ecs] {
        assert_eq!(ids[&format].len(), native.len(), "{format}: event count");
        assert!(
            &ids[&format] == native,
            "{format}: not the same ids as native"
        );
    }
    sim.shutdown().await;
}
