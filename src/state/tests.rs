use super::*;
use proptest::prelude::*;

fn key(part: &str) -> StreamKey {
    StreamKey::new("acme", "siem_cg", part)
}

/// A commit from version `expected`, whose stored cursor is `from_cursor(expected)`.
fn commit(k: &StreamKey, expected: u64, cursor: &str, seen: Vec<(i64, i64)>) -> Commit {
    from(k, expected, None, cursor, seen)
}

fn from(
    k: &StreamKey,
    expected: u64,
    stored: Option<&str>,
    cursor: &str,
    seen: Vec<(i64, i64)>,
) -> Commit {
    Commit {
        key: k.clone(),
        expected_version: expected,
        from: stored.map(str::to_string),
        quarantine: None,
        cursor: cursor.into(),
        covered_until: None,
        events: seen.len() as u64,
        pages: 1,
        seen,
        forget_seen_before: None,
    }
}

#[test]
fn creates_a_private_database_and_keeps_checkpoints_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/state.db");
    {
        let mut s = State::open(&path).unwrap();
        assert_eq!(
            s.checkpoint(&key("receipt")).unwrap(),
            Checkpoint {
                cursor: None,
                version: 0
            }
        );
        assert_eq!(
            s.commit(&[commit(&key("receipt"), 0, "c1", vec![(1, 100)])], None)
                .unwrap(),
            vec![1]
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "state database must be private");
    }
    let s = State::open(&path).unwrap();
    assert_eq!(
        s.checkpoint(&key("receipt")).unwrap(),
        Checkpoint {
            cursor: Some("c1".into()),
            version: 1
        }
    );
    assert_eq!(s.seen_ids("acme", "siem_cg").unwrap(), vec![(1, 100)]);
    let st = s.status().unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].events_total, 1);
    assert!(st[0].last_success.is_some());
}

#[test]
fn a_stale_or_repeated_commit_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = State::open(&dir.path().join("s.db")).unwrap();
    s.commit(&[commit(&key("a"), 0, "c1", vec![])], None)
        .unwrap();
    // The same delta again (double polling) must fail...
    let err = s
        .commit(&[commit(&key("a"), 0, "c1-again", vec![])], None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                expected: 0,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    // ...and a group with one bad member applies none of them, sink position included.
    let pos = SinkPosition {
        offset: 99,
        inode: 1,
        device: 1,
    };
    let err = s
        .commit(
            &[
                commit(&key("b"), 0, "b1", vec![(5, 5)]),
                commit(&key("a"), 7, "x", vec![]),
            ],
            Some(("file", pos)),
        )
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }));
    assert_eq!(s.checkpoint(&key("b")).unwrap().version, 0);
    assert!(s.seen_ids("acme", "siem_cg").unwrap().is_empty());
    assert_eq!(s.sink_position("file").unwrap(), None);
    assert_eq!(
        s.checkpoint(&key("a")).unwrap().cursor.as_deref(),
        Some("c1")
    );
}

#[test]
fn seen_entries_are_pruned_by_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = State::open(&dir.path().join("s.db")).unwrap();
    s.commit(
        &[commit(&key(""), 0, "c", vec![(1, 100), (2, 200), (3, 300)])],
        None,
    )
    .unwrap();
    let mut c = from(&key(""), 1, Some("c"), "c2", vec![(4, 400)]);
    c.forget_seen_before = Some(250);
    s.commit(&[c], None).unwrap();
    let mut ids = s.seen_ids("acme", "siem_cg").unwrap();
    ids.sort();
    assert_eq!(ids, vec![(3, 300), (4, 400)]);
}

#[test]
fn sink_position_and_reset_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = State::open(&dir.path().join("s.db")).unwrap();
    let pos = SinkPosition {
        offset: 1234,
        inode: 77,
        device: 3,
    };
    s.commit(
        &[commit(&key(""), 0, "c", vec![(9, 9)])],
        Some(("file", pos)),
    )
    .unwrap();
    assert_eq!(s.sink_position("file").unwrap(), Some(pos));
    s.record_error(&key(""), "HTTP 403: grant X").unwrap();
    let st = &s.status().unwrap()[0];
    assert_eq!(st.last_error.as_deref(), Some("HTTP 403: grant X"));
    assert!(st.last_error_at.is_some());
    s.reset(&key(""), None).unwrap();
    let cp = s.checkpoint(&key("")).unwrap();
    assert_eq!(cp.cursor, None);
    assert_eq!(
        cp.version, 2,
        "reset bumps the version so a running writer cannot overwrite it"
    );
    assert!(s.seen_ids("acme", "siem_cg").unwrap().is_empty());
    // A poll that committed nothing still succeeded, now (timestamps are in ms: compare with
    // the time before the call, not with the last commit's, which may share its millisecond).
    let asked = OffsetDateTime::now_utc() - time::Duration::milliseconds(1);
    s.record_success(&key(""), None).unwrap();
    let st = &s.status().unwrap()[0];
    assert_eq!(st.last_error, None);
    assert!(
        st.last_success.is_some_and(|t| t >= asked),
        "a poll that committed nothing still succeeded now: {:?}",
        st.last_success
    );
    // Even on a stream that never committed anything.
    s.record_success(&key("quiet"), None).unwrap();
    let quiet = s.status().unwrap();
    let quiet = quiet.iter().find(|st| st.key == key("quiet")).unwrap();
    assert!(quiet.last_success.is_some_and(|t| t >= asked));
    let t = time::macros::datetime!(2026-11-23 10:00 UTC);
    s.record_success(&key(""), Some(t)).unwrap();
    assert_eq!(s.status().unwrap()[0].covered_until, Some(t));
    s.record_success(&key(""), None).unwrap();
    assert_eq!(
        s.status().unwrap()[0].covered_until,
        Some(t),
        "a poll without a time keeps what is known"
    );
    // A stream that never committed a page, polled successfully, is no longer "never polled".
    s.record_success(&key("fresh"), None).unwrap();
    assert!(s
        .status()
        .unwrap()
        .iter()
        .any(|st| st.key.part == "fresh" && st.last_success.is_some()));
}

#[test]
fn an_older_schema_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        conn.execute("INSERT INTO streams (tenant, stream, part, cursor, version) VALUES ('acme','audit','','{\"h\":1}',4)", []).unwrap();
        conn.execute(
            "INSERT INTO sinks (name, committed_offset) VALUES ('file', 42)",
            [],
        )
        .unwrap();
    }
    let s = State::open(&path).unwrap();
    let v: i64 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::CURRENT);
    assert_eq!(
        s.checkpoint(&StreamKey::new("acme", "audit", "")).unwrap(),
        Checkpoint {
            cursor: Some("{\"h\":1}".into()),
            version: 4
        }
    );
    assert_eq!(
        s.sink_position("file").unwrap(),
        Some(SinkPosition {
            offset: 42,
            inode: 0,
            device: 0
        })
    );
}

#[test]
fn a_newer_schema_or_a_corrupt_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    {
        let conn = Connection::open(&newer).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = State::open(&newer).err().unwrap();
    assert!(err.to_string().contains("newer than this program"), "{err}");

    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, b"this is not a database, just some bytes that are long enough to look like a header...............").unwrap();
    let err = State::open(&corrupt).err().unwrap();
    assert!(err.to_string().contains("corrupt.db"), "{err}");
}

#[derive(Debug, Clone)]
enum Op {
    /// Commit the next page with the version the writer believes current.
    Commit,
    /// Replay an old delta (a double poll or a stale writer).
    Stale(u64),
    /// Crash: drop the connection without anything in flight, reopen.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![4 => Just(Op::Commit), 1 => (0u64..5).prop_map(Op::Stale), 1 => Just(Op::Crash)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Whatever the sequence of commits, stale replays and crashes, the stored checkpoint is
    /// exactly the last successful commit: never behind it, never applied twice.
    #[test]
    fn checkpoints_are_never_behind_and_never_twice(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let k = key("p");
        let mut s = State::open(&path).unwrap();
        let mut version = 0u64;
        let mut pages = 0u64;
        for op in ops {
            match op {
                Op::Commit => {
                    let stored = (pages > 0).then(|| format!("page-{pages}"));
                    let next = s.commit(&[from(&k, version, stored.as_deref(), &format!("page-{}", pages + 1), vec![(pages as i64, 0)])], None).unwrap();
                    version = next[0];
                    pages += 1;
                }
                Op::Stale(back) => {
                    if back == 0 || back > version { continue; }
                    let res = s.commit(&[commit(&k, version - back, "stale", vec![])], None);
                    prop_assert!(res.is_err(), "a stale delta was accepted");
                    // The right version with the wrong starting cursor is refused as well.
                    let res = s.commit(&[from(&k, version, Some("elsewhere"), "stale", vec![])], None);
                    prop_assert!(matches!(res, Err(StateError::Delta { .. })), "a delta from another cursor was accepted");
                }
                Op::Crash => {
                    drop(s);
                    s = State::open(&path).unwrap();
                }
            }
            let cp = s.checkpoint(&k).unwrap();
            prop_assert_eq!(cp.version, version);
            let want = if pages == 0 { None } else { Some(format!("page-{pages}")) };
            prop_assert_eq!(cp.cursor, want);
            prop_assert_eq!(s.seen_ids("acme", "siem_cg").unwrap().len() as u64, pages);
        }
    }
}

#[test]
fn a_quarantined_file_is_stored_with_its_commit_and_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = State::open(&dir.path().join("q.db")).unwrap();
    let k = key("receipt");
    let mut c = commit(&k, 0, "c1", vec![]);
    c.quarantine = Some(Quarantine {
        file: "/storage/f1".into(),
        error: "not gzip".into(),
        replay: "r1".into(),
    });
    s.commit(&[c], None).unwrap();
    let q = s.quarantined().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].file.as_str(), q[0].replay.as_str()),
        ("/storage/f1", "r1")
    );
    let files = s
        .replay_quarantined(&k, |replays, stored| {
            Ok(format!("{}>{}", replays.join(","), stored.unwrap_or("-")))
        })
        .unwrap()
        .unwrap();
    assert_eq!(files, vec!["/storage/f1".to_string()]);
    assert_eq!(s.checkpoint(&k).unwrap().cursor.as_deref(), Some("r1>c1"));
    assert!(s.quarantined().unwrap().is_empty());
    // Nothing left to replay: the checkpoint stays.
    let none = s
        .replay_quarantined(&k, |_, _| Ok("x".into()))
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(s.checkpoint(&k).unwrap().cursor.as_deref(), Some("r1>c1"));
}

/// Replaced under a running daemon (a restore, a copy over it): the open database is saved
/// beside it and the error says where; a copy saved earlier is never overwritten.
#[test]
fn a_database_replaced_while_open_is_saved_beside_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut s = State::open(&path).unwrap();
    let k = StreamKey::new("acme", "audit", "");
    s.record_success(&k, None).unwrap();
    assert!(s.check_in_place().is_ok());
    std::fs::rename(&path, dir.path().join("moved.db")).unwrap();
    std::fs::write(&path, b"").unwrap();
    let e = s.check_in_place().unwrap_err();
    let saved = dir.path().join("state.db.recovered");
    assert!(matches!(e, StateError::Vanished { .. }), "{e}");
    assert!(e.to_string().contains("were saved to"), "{e}");
    let copy = State::open(&saved).unwrap();
    assert!(copy.has_stream(&k).unwrap());
    drop(copy);
    let before = std::fs::read(&saved).unwrap();
    let e = s.check_in_place().unwrap_err();
    assert!(e.to_string().contains("could not be saved"), "{e}");
    assert_eq!(std::fs::read(&saved).unwrap(), before);
}
