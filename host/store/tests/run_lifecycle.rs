//! The run-record rules of the sled store: a run publishes at most once, an interrupted run
//! stays interrupted, history pages from the index, old records go, idempotency keys answer
//! for their window whatever retention does, and schedules remember when they fired.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tessera_store::{
    IngestMode, Publication, RetentionPolicy, RunRecord, RunState, Storage, Store, StoreError,
};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]))
}

fn stage(store: &dyn Store, run: &str, port: &str, ids: &[&str]) -> u64 {
    let mut sink = store.stage("demo", run, port, schema()).unwrap();
    let batch =
        RecordBatch::try_new(schema(), vec![Arc::new(StringArray::from(ids.to_vec()))]).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap().rows
}

fn publication(rows: u64) -> Publication {
    Publication {
        ports: [("a".to_string(), rows)].into(),
        product_version: "1.0.0".into(),
        ..Publication::default()
    }
}

fn running(id: &str, at: i64) -> RunRecord {
    RunRecord {
        state: RunState::Running,
        ..RunRecord::queued(id, "demo", "1.0.0", at)
    }
}

fn open() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn publishing_marks_the_run_succeeded_in_the_same_commit() {
    let (dir, store) = open();
    store.put_run(&running("r1", 1)).unwrap();
    let rows = stage(&store, "r1", "a", &["x", "y"]);
    let version = store.publish("demo", "r1", &publication(rows)).unwrap();
    // As a crash right after the publish would leave it: the record says published already,
    // so recovery neither interrupts nor retries it.
    drop(store);
    let store = eventually(|| Storage::local(dir.path()).ok());
    let report = store.recover().unwrap();
    assert!(report.runs_interrupted.is_empty(), "{report:?}");
    let run = store.run("r1").unwrap().unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(run.published_version, Some(version.number));
}

#[test]
fn an_interrupted_run_never_publishes_and_stays_interrupted() {
    let (_dir, store) = open();
    store.put_run(&running("r1", 1)).unwrap();
    let rows = stage(&store, "r1", "a", &["x"]);
    assert!(store.interrupt_run("r1", "shut down").unwrap());
    // Interrupting twice changes nothing the second time.
    assert!(!store.interrupt_run("r1", "again").unwrap());
    let refused = store.publish("demo", "r1", &publication(rows));
    assert!(
        matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("interrupted")),
        "{refused:?}"
    );
    assert!(store.current_version("demo").unwrap().is_none());
    // The run's own late writes do not undo the interruption.
    let mut late = running("r1", 1);
    late.state = RunState::Failed;
    assert!(!store.update_run(&late).unwrap());
    let stored = store.run("r1").unwrap().unwrap();
    assert_eq!(stored.state, RunState::Interrupted);
    assert_eq!(stored.reason.as_deref(), Some("shut down"));
    // A run that finished is not interrupted afterwards.
    store.put_run(&running("r2", 2)).unwrap();
    let mut done = running("r2", 2);
    done.state = RunState::Failed;
    assert!(store.update_run(&done).unwrap());
    assert!(!store.interrupt_run("r2", "too late").unwrap());
    assert_eq!(store.run("r2").unwrap().unwrap().state, RunState::Failed);
}

#[test]
fn history_pages_newest_first_and_old_records_are_pruned() {
    let (_dir, store) = open();
    for i in 0..25i64 {
        let mut run = running(&format!("r{i:02}"), 100 + i);
        run.state = RunState::Succeeded;
        store.put_run(&run).unwrap();
    }
    let mut queued = RunRecord::queued("old-queued", "demo", "1.0.0", 1);
    queued.state = RunState::Queued;
    store.put_run(&queued).unwrap();
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let first = ids(store.runs_page("demo", None, 10).unwrap());
    let expected: Vec<String> = (15..25).rev().map(|i| format!("r{i:02}")).collect();
    assert_eq!(first, expected);
    let second = ids(store.runs_page("demo", Some("r15"), 10).unwrap());
    let expected: Vec<String> = (5..15).rev().map(|i| format!("r{i:02}")).collect();
    assert_eq!(second, expected);
    let last = ids(store.runs_page("demo", Some("r05"), 10).unwrap());
    assert_eq!(last, ["r04", "r03", "r02", "r01", "r00", "old-queued"]);
    assert!(matches!(
        store.runs_page("demo", Some("nope"), 10),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.runs_page("other", None, 10).unwrap().is_empty());

    // Keep 5: the 20 oldest finished ones go; the queued one stays however old.
    let removed = store.prune_runs("demo", 5).unwrap();
    assert_eq!(removed.len(), 20, "{removed:?}");
    let kept = ids(store.runs_page("demo", None, 100).unwrap());
    assert_eq!(kept, ["r24", "r23", "r22", "r21", "r20", "old-queued"]);
    assert!(store.run("r00").unwrap().is_none());
    assert!(store.prune_runs("demo", 5).unwrap().is_empty());
}

#[test]
fn an_idempotency_key_answers_after_retention_dropped_its_version() {
    let (_dir, store) = open();
    let ingest = |id: &str, key: &str| {
        let rows = stage(&store, id, "people", &["x"]);
        store
            .commit_ingest("demo", "people", id, IngestMode::Replace, rows, Some(key))
            .unwrap()
    };
    let first = ingest("i1", "k1");
    assert!(!first.repeated);
    for n in 2..=4 {
        ingest(&format!("i{n}"), &format!("k{n}"));
    }
    let policy = RetentionPolicy {
        keep_versions: Some(1),
        max_age_us: None,
        append_window_us: None,
    };
    store
        .prune("demo", policy, tessera_store::now_us())
        .unwrap();
    assert!(
        store.input_version("demo", "people", 1).unwrap().is_none(),
        "retention dropped input version 1"
    );
    // The retry with k1 is still the same request: nothing is committed again.
    let retry = ingest("i5", "k1");
    assert!(retry.repeated);
    assert_eq!(retry.version.number, first.version.number);
    assert_eq!(
        store
            .current_input("demo", "people")
            .unwrap()
            .unwrap()
            .number,
        4
    );
}

#[test]
fn a_schedule_remembers_when_it_fired_across_a_reopen() {
    let (dir, store) = open();
    assert_eq!(store.schedule_fired("nightly").unwrap(), None);
    store
        .set_schedule_fired("nightly", 1_700_000_000_000_000)
        .unwrap();
    drop(store);
    let store = eventually(|| Storage::local(dir.path()).ok());
    assert_eq!(
        store.schedule_fired("nightly").unwrap(),
        Some(1_700_000_000_000_000)
    );
}

/// The bytes of every file under `dir`, walked on disk.
fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                bytes_on_disk(&path)
            } else {
                std::fs::metadata(&path).unwrap().len()
            }
        })
        .sum()
}

#[test]
fn stored_bytes_follow_publishes_ingests_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    // Blobs nothing names are deleted at once, so the disk shows what the figure should.
    let store = Storage::local(dir.path())
        .unwrap()
        .with_deletion_grace(std::time::Duration::ZERO);
    let on_disk = || bytes_on_disk(&dir.path().join("data/demo"));
    assert_eq!(store.stored_bytes("demo").unwrap(), 0);
    for (n, mode) in [
        (1, IngestMode::Append),
        (2, IngestMode::Append),
        (3, IngestMode::Replace),
        (4, IngestMode::Append),
    ] {
        let id = format!("i{n}");
        let rows = stage(&store, &id, "people", &["x", "y"]);
        store
            .commit_ingest("demo", "people", &id, mode, rows, None)
            .unwrap();
        let run = format!("r{n}");
        let rows = stage(&store, &run, "a", &["p", "q", "r"]);
        store.publish("demo", &run, &publication(rows)).unwrap();
        assert_eq!(store.stored_bytes("demo").unwrap(), on_disk());
    }
    let policy = RetentionPolicy {
        keep_versions: Some(1),
        max_age_us: None,
        append_window_us: None,
    };
    let report = store
        .prune("demo", policy, tessera_store::now_us())
        .unwrap();
    assert!(report.bytes_freed > 0, "{report:?}");
    assert_eq!(store.stored_bytes("demo").unwrap(), on_disk());

    // A data directory written before the figure was kept gets it from its records.
    let expected = on_disk();
    drop(store);
    {
        let db = eventually(|| sled::open(dir.path().join("meta")).ok());
        db.open_tree("usage").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    let store = eventually(|| Storage::local(dir.path()).ok());
    assert_eq!(store.stored_bytes("demo").unwrap(), expected);
}

/// What `open` gives once sled's threads of a dropped database let go of its lock.
fn eventually<T>(open: impl Fn() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(opened) = open() {
            return opened;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the database stayed locked");
}

/// The ids an input version reads back, in order.
fn input_ids(store: &dyn Store, number: u64) -> Vec<String> {
    let mut source = store.read_input("demo", "people", number).unwrap();
    let mut ids = Vec::new();
    while let Some(batch) = source.next_batch().unwrap() {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        ids.extend(column.iter().map(|v| v.unwrap().to_string()));
    }
    ids
}

#[test]
fn an_append_window_lets_old_rows_and_their_bytes_go_unless_a_kept_version_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path())
        .unwrap()
        .with_deletion_grace(std::time::Duration::ZERO);
    let mut segment_bytes = Vec::new();
    for (n, id) in ["a", "b", "c"].iter().enumerate() {
        let staged = format!("i{n}");
        let rows = stage(&store, &staged, "people", &[id]);
        segment_bytes.push(store.staged_size(&staged, "people").unwrap());
        store
            .commit_ingest("demo", "people", &staged, IngestMode::Append, rows, None)
            .unwrap();
    }
    assert_eq!(input_ids(&store, 3), ["a", "b", "c"]);
    // A kept output version read input version 2 (rows a and b).
    let rows = stage(&store, "r1", "a", &["out"]);
    let mut pinned = publication(rows);
    pinned.inputs.insert(
        "people".into(),
        tessera_store::InputPin {
            product: "demo".into(),
            port: "people".into(),
            version: 2,
            ingested: true,
        },
    );
    store.publish("demo", "r1", &pinned).unwrap();
    let before = store.stored_bytes("demo").unwrap();

    // A day later, with a one-hour window: every segment is old, but the last ingest's stays.
    let window = RetentionPolicy {
        append_window_us: Some(3_600_000_000),
        ..RetentionPolicy::default()
    };
    let later = tessera_store::now_us() + 86_400_000_000;
    let report = store.prune("demo", window, later).unwrap();
    assert_eq!(report.input_versions_expired, 1, "{report:?}");
    let current = store.current_input("demo", "people").unwrap().unwrap();
    assert_eq!((current.number, current.mode), (4, IngestMode::Expire));
    assert_eq!(input_ids(&store, 4), ["c"]);
    // Versions 1 and 3 went (old, read by nothing kept); 2 stays for the output that read it,
    // so no segment's bytes are free yet.
    let kept: Vec<u64> = store
        .input_versions("demo", "people")
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(kept, [2, 4]);
    assert_eq!(input_ids(&store, 2), ["a", "b"]);
    assert_eq!(store.stored_bytes("demo").unwrap(), before);

    // Once a newer output replaces the one that read version 2, rows a and b go for good.
    let rows = stage(&store, "r2", "a", &["out"]);
    store.publish("demo", "r2", &publication(rows)).unwrap();
    let r1_bytes = store.version("demo", 1).unwrap().unwrap().bytes();
    let keep_one = RetentionPolicy {
        keep_versions: Some(1),
        ..window
    };
    let report = store.prune("demo", keep_one, later).unwrap();
    assert_eq!(report.versions_removed, [1]);
    let kept: Vec<u64> = store
        .input_versions("demo", "people")
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(kept, [4]);
    let r2_bytes = store.version("demo", 2).unwrap().unwrap().bytes();
    assert_eq!(
        store.stored_bytes("demo").unwrap(),
        segment_bytes[2] + r2_bytes,
        "only segment c and output 2 are kept (output 1: {r1_bytes} bytes)"
    );
    assert_eq!(report.files_removed, 3, "segments a and b, output 1");
}
