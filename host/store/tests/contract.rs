//! The storage contract: publishing, ingest versions, retention, runs, deployments, and crash
//! recovery, over the sled catalog with local blobs and with blobs that, like an object store,
//! do not keep a deleted blob readable for those who opened it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tessera_store::{
    Blobs, IngestMode, InputPin, MemoryBlobs, Publication, RetentionPolicy, RunRecord, RunState,
    SledCatalog, Storage, Store, StoreError,
};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, true),
    ]))
}

fn batch(ids: &[&str], n: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(ids.to_vec())),
            Arc::new(Int64Array::from(n.to_vec())),
        ],
    )
    .unwrap()
}

fn stage(store: &dyn Store, run: &str, port: &str, batches: &[RecordBatch]) -> u64 {
    let mut sink = store.stage("demo", run, port, schema()).unwrap();
    for b in batches {
        sink.write(b).unwrap();
    }
    sink.finish().unwrap().rows
}

fn ports(pairs: &[(&str, u64)]) -> Publication {
    Publication {
        ports: pairs.iter().map(|(p, r)| (p.to_string(), *r)).collect(),
        product_version: "1.0.0".into(),
        ..Publication::default()
    }
}

fn read_all(store: &dyn Store, version: u64, port: &str) -> Vec<RecordBatch> {
    let mut source = store.read("demo", version, port).unwrap();
    assert_eq!(source.version(), version);
    let mut out = Vec::new();
    while let Some(b) = source.next_batch().unwrap() {
        out.push(b);
    }
    out
}

fn run(id: &str, state: RunState, at: i64) -> RunRecord {
    RunRecord {
        state,
        ..RunRecord::queued(id, "demo", "1.0.0", at)
    }
}

fn contract(store: &dyn Store) {
    assert!(store.current_version("demo").unwrap().is_none());

    // Version 1: two ports, published together.
    let a = stage(
        store,
        "r1",
        "a",
        &[batch(&["x", "y"], &[1, 2]), batch(&["z"], &[3])],
    );
    let b = stage(store, "r1", "b", &[batch(&["only"], &[9])]);
    let v1 = store
        .publish("demo", "r1", &ports(&[("a", a), ("b", b)]))
        .unwrap();
    assert_eq!(
        (v1.number, v1.ports["a"].rows, v1.ports["b"].rows),
        (1, 3, 1)
    );
    assert_eq!(
        read_all(store, 1, "a"),
        vec![batch(&["x", "y"], &[1, 2]), batch(&["z"], &[3])]
    );

    // A port that was never staged cannot be published, and nothing changes.
    let e = store
        .publish("demo", "r2", &ports(&[("a", 1)]))
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(store.current_version("demo").unwrap().unwrap().number, 1);

    // A failed run's staging is discarded; version 1 stays current and readable.
    stage(store, "r2", "a", &[batch(&["bad"], &[0])]);
    store.discard("r2").unwrap();
    assert!(store.publish("demo", "r2", &ports(&[("a", 1)])).is_err());

    // Version 2 supersedes, version 1 stays readable (immutable versions).
    let a = stage(store, "r3", "a", &[batch(&["new"], &[7])]);
    let b = stage(store, "r3", "b", &[batch(&["new"], &[8])]);
    let mut with_stats = ports(&[("a", a), ("b", b)]);
    let mut builder = tessera_quality::StatsBuilder::new(&schema());
    builder.observe(&batch(&["new"], &[7]));
    with_stats.stats.insert("a".into(), builder.finish());
    let v2 = store.publish("demo", "r3", &with_stats).unwrap();
    assert_eq!(store.stats("demo", 2).unwrap(), with_stats.stats);
    assert!(store.stats("demo", 1).unwrap().is_empty());
    assert_eq!(v2.number, 2);
    assert_eq!(store.current_version("demo").unwrap().unwrap().run_id, "r3");
    assert_eq!(read_all(store, 1, "a").len(), 2);
    assert_eq!(read_all(store, 2, "a"), vec![batch(&["new"], &[7])]);
    assert_eq!(
        store
            .versions("demo")
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(
        store.read("demo", 3, "a"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.read("demo", 2, "nope"),
        Err(StoreError::NotFound(_))
    ));

    // Same rows, same bytes: the content hash is a function of the data.
    assert_eq!(v2.ports["a"].hash.len(), "xxh3-128:".len() + 32);
    let again = stage(store, "r5", "a", &[batch(&["new"], &[7])]);
    assert_eq!(again, 1);
    assert_eq!(store.staged_file("r5", "a").unwrap().0, v2.ports["a"].hash);
    store.discard("r5").unwrap();

    // Runs: recorded, listed in order; on recovery running ones become interrupted and
    // queued ones stay queued.
    store.put_run(&run("r1", RunState::Succeeded, 1)).unwrap();
    store.put_run(&run("r3", RunState::Running, 3)).unwrap();
    store.put_run(&run("r2", RunState::Failed, 2)).unwrap();
    store.put_run(&run("r4", RunState::Queued, 4)).unwrap();
    assert_eq!(
        store
            .runs("demo")
            .unwrap()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2", "r3", "r4"]
    );
    assert_eq!(store.last_run("demo").unwrap().unwrap().id, "r4");
    assert!(store.last_run("other").unwrap().is_none());
    let report = store.recover().unwrap();
    assert_eq!(report.runs_interrupted, vec!["r3".to_string()]);
    assert_eq!(report.runs_queued, vec!["r4".to_string()]);
    assert_eq!(store.run("r4").unwrap().unwrap().state, RunState::Queued);
    assert_eq!(
        store.run("r3").unwrap().unwrap().state,
        RunState::Interrupted
    );
    assert_eq!(store.run("r1").unwrap().unwrap().state, RunState::Succeeded);

    // Deployments: immutable versions, listed oldest first, one active at a time.
    assert!(store.products().unwrap().is_empty());
    assert!(store.active("demo").unwrap().is_none());
    store.deploy(&deployment("1.0.0", 10), b"code one").unwrap();
    store.deploy(&deployment("1.1.0", 20), b"code two").unwrap();
    assert!(matches!(
        store.deploy(&deployment("1.0.0", 30), b"other code"),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.component("demo", "1.0.0").unwrap(), b"code one");
    assert!(matches!(
        store.component("demo", "9.9.9"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .deployments("demo")
            .unwrap()
            .iter()
            .map(|d| d.version.as_str())
            .collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );
    store.activate("demo", "1.1.0", &[]).unwrap();
    store.activate("demo", "1.0.0", &[]).unwrap();
    assert_eq!(store.active("demo").unwrap().as_deref(), Some("1.0.0"));
    assert!(matches!(
        store.activate("demo", "2.0.0", &[]),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.products().unwrap(), ["demo"]);
}

fn deployment(version: &str, at: i64) -> tessera_store::Deployment {
    tessera_store::Deployment {
        product: "demo".into(),
        version: version.into(),
        domain: "examples".into(),
        hash: format!("hash-{version}"),
        bytes: 8,
        deployed_at_us: at,
        manifest: String::new(),
    }
}

#[test]
fn the_local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&Storage::local(dir.path()).unwrap());
}

/// The sled catalog over blobs in memory.
fn over_memory_blobs(dir: &std::path::Path, blobs: &MemoryBlobs) -> Storage {
    let catalog = SledCatalog::open(&dir.join("meta")).unwrap();
    Storage::new(Arc::new(catalog), Arc::new(blobs.clone()))
}

#[test]
fn the_store_over_object_store_like_blobs_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&over_memory_blobs(dir.path(), &MemoryBlobs::default()));
}

#[test]
fn a_reader_of_a_dropped_version_finishes_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = MemoryBlobs::default();
    let grace = Duration::from_secs(600);
    let store = over_memory_blobs(dir.path(), &blobs).with_deletion_grace(grace);
    // Far more than a reader buffers (64 KiB), so it has to go back to the blob for the rest.
    let ids: Vec<String> = (0..20_000).map(|i| format!("row-{i:08}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let many: Vec<RecordBatch> = (0..20).map(|i| batch(&ids, &vec![i; ids.len()])).collect();
    let rows = stage(&store, "r1", "a", &many);
    store.publish("demo", "r1", &ports(&[("a", rows)])).unwrap();
    let rows = stage(&store, "r2", "a", &[batch(&["new"], &[1])]);
    store.publish("demo", "r2", &ports(&[("a", rows)])).unwrap();
    let old_blob = store.version("demo", 1).unwrap().unwrap().ports["a"]
        .file
        .clone();

    // A reader opens version 1 and reads one batch; then retention drops version 1.
    let mut reader = store.read("demo", 1, "a").unwrap();
    assert_eq!(reader.next_batch().unwrap().unwrap(), many[0]);
    let now = tessera_store::now_us();
    let keep_one = RetentionPolicy {
        keep_versions: Some(1),
        max_age_us: None,
        append_window_us: None,
    };
    let report = store.prune("demo", keep_one, now).unwrap();
    assert_eq!(
        (report.versions_removed, report.files_removed),
        (vec![1], 0)
    );
    assert!(store.version("demo", 1).unwrap().is_none());
    assert_eq!(
        store.stored_bytes("demo").unwrap(),
        store.current_version("demo").unwrap().unwrap().bytes()
    );
    // The blob stays until the grace period is over, so the reader finishes.
    let mut rest = 1;
    while let Some(batch) = reader.next_batch().unwrap() {
        assert_eq!(batch, many[rest]);
        rest += 1;
    }
    assert_eq!(rest, many.len());

    // Once it is over, the next prune deletes the blob; a reader left open now fails with a
    // clear error instead of reading something else.
    let mut late = blobs
        .open(&old_blob)
        .map(tessera_store::BlobCursor::new)
        .unwrap();
    let report = store
        .prune("demo", keep_one, now + grace.as_micros() as i64)
        .unwrap();
    assert_eq!(report.files_removed, 1, "{report:?}");
    assert!(blobs.size(&old_blob).unwrap().is_none());
    let mut bytes = Vec::new();
    let read = std::io::Read::read_to_end(&mut late, &mut bytes);
    assert!(read.unwrap_err().to_string().contains("deleted"));
    // The current version is untouched.
    assert_eq!(read_all(&store, 2, "a"), vec![batch(&["new"], &[1])]);
}

#[test]
fn a_crash_during_publish_leaves_the_previous_version_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Storage::local(dir.path()).unwrap();
        let a = stage(&store, "r1", "a", &[batch(&["one"], &[1])]);
        store.publish("demo", "r1", &ports(&[("a", a)])).unwrap();
        store.put_run(&run("r2", RunState::Running, 2)).unwrap();
        // Run 2 wrote both its ports, then the host crashed before the commit that would
        // have published them.
        stage(&store, "r2", "a", &[batch(&["two"], &[2])]);
        stage(&store, "r2", "b", &[batch(&["two"], &[2])]);
        // And a third run was still staging.
        stage(&store, "r3", "a", &[batch(&["three"], &[3])]);
    }
    let store = Storage::local(dir.path()).unwrap();
    let report = store.recover().unwrap();
    assert_eq!(report.runs_interrupted, vec!["r2".to_string()]);
    assert_eq!(
        report.files_removed, 3,
        "the two blobs of r2 and the one of r3"
    );
    let current = store.current_version("demo").unwrap().unwrap();
    assert_eq!(current.number, 1);
    assert_eq!(read_all(&store, 1, "a"), vec![batch(&["one"], &[1])]);
    let mut left = tessera_store::LocalBlobs::open(dir.path())
        .unwrap()
        .list("data/demo/")
        .unwrap();
    left.sort();
    assert_eq!(left, [current.ports["a"].file.clone()]);
    // The next publish takes number 2 cleanly.
    let a = stage(&store, "r4", "a", &[batch(&["four"], &[4])]);
    assert_eq!(
        store
            .publish("demo", "r4", &ports(&[("a", a)]))
            .unwrap()
            .number,
        2
    );
}

#[test]
fn names_that_could_escape_the_data_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path()).unwrap();
    assert!(store.stage("demo", "../evil", "a", schema()).is_err());
    assert!(store.stage("demo", "r1", "../../a", schema()).is_err());
    assert!(store.publish("../demo", "r1", &ports(&[])).is_err());
    assert!(
        store
            .commit_ingest("demo", "../x", "i1", IngestMode::Append, 0, None)
            .is_err()
    );
}

fn ingest(
    store: &dyn Store,
    id: &str,
    rows: &[RecordBatch],
    mode: IngestMode,
    key: Option<&str>,
) -> (u64, bool) {
    let added = stage(store, id, "events", rows);
    let outcome = store
        .commit_ingest("demo", "events", id, mode, added, key)
        .unwrap();
    (outcome.version.number, outcome.repeated)
}

fn read_input(store: &dyn Store, version: u64) -> Vec<RecordBatch> {
    let mut source = store.read_input("demo", "events", version).unwrap();
    assert_eq!(source.version(), version);
    let mut out = Vec::new();
    while let Some(b) = source.next_batch().unwrap() {
        out.push(b);
    }
    out
}

#[test]
fn ingest_versions_append_replace_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path()).unwrap();
    assert!(store.current_input("demo", "events").unwrap().is_none());
    let one = batch(&["a"], &[1]);
    let two = batch(&["b", "c"], &[2, 3]);
    assert_eq!(
        ingest(
            &store,
            "i1",
            std::slice::from_ref(&one),
            IngestMode::Append,
            Some("k1")
        ),
        (1, false)
    );
    assert_eq!(
        ingest(
            &store,
            "i2",
            std::slice::from_ref(&two),
            IngestMode::Append,
            None
        ),
        (2, false)
    );
    // Version 2 is version 1's rows followed by the new ones; version 1 is unchanged.
    assert_eq!(read_input(&store, 2), vec![one.clone(), two.clone()]);
    assert_eq!(read_input(&store, 1), vec![one.clone()]);
    let current = store.current_input("demo", "events").unwrap().unwrap();
    assert_eq!(
        (current.number, current.rows(), current.added_rows),
        (2, 3, 2)
    );
    // The same key again: nothing stored, the first version returned.
    assert_eq!(
        ingest(
            &store,
            "i3",
            std::slice::from_ref(&two),
            IngestMode::Append,
            Some("k1")
        ),
        (1, true)
    );
    assert_eq!(
        store
            .current_input("demo", "events")
            .unwrap()
            .unwrap()
            .number,
        2
    );
    assert_eq!(
        store
            .ingested_with_key("demo", "events", "k1")
            .unwrap()
            .unwrap()
            .number,
        1
    );
    assert!(!dir.path().join("data/demo/i3").exists());
    // Replace starts over.
    assert_eq!(
        ingest(
            &store,
            "i4",
            &[batch(&["z"], &[9])],
            IngestMode::Replace,
            None
        ),
        (3, false)
    );
    assert_eq!(read_input(&store, 3), vec![batch(&["z"], &[9])]);
    assert_eq!(store.input_versions("demo", "events").unwrap().len(), 3);
    assert!(matches!(
        store.read_input("demo", "events", 7),
        Err(StoreError::NotFound(_))
    ));
    // All of it survives a reopen and a recovery.
    drop(store);
    let store = Storage::local(dir.path()).unwrap();
    assert_eq!(store.recover().unwrap().files_removed, 0);
    assert_eq!(read_input(&store, 2), vec![one, two]);
}

#[test]
fn retention_drops_old_versions_and_their_unshared_files() {
    let dir = tempfile::tempdir().unwrap();
    // No grace period: the blobs go with the records.
    let store = Storage::local(dir.path())
        .unwrap()
        .with_deletion_grace(Duration::ZERO);
    // Four input versions: append, append, replace, append.
    ingest(
        &store,
        "i1",
        &[batch(&["a"], &[1])],
        IngestMode::Append,
        None,
    );
    ingest(
        &store,
        "i2",
        &[batch(&["b"], &[2])],
        IngestMode::Append,
        None,
    );
    ingest(
        &store,
        "i3",
        &[batch(&["c"], &[3])],
        IngestMode::Replace,
        None,
    );
    ingest(
        &store,
        "i4",
        &[batch(&["d"], &[4])],
        IngestMode::Append,
        None,
    );
    // Three output versions; version 1 read input version 1.
    for (i, run) in ["r1", "r2", "r3"].iter().enumerate() {
        let rows = stage(&store, run, "a", &[batch(&["x"], &[i as i64])]);
        let mut publication = ports(&[("a", rows)]);
        publication.inputs.insert(
            "events".into(),
            InputPin {
                product: "demo".into(),
                port: "events".into(),
                version: if i == 0 { 1 } else { 4 },
                ingested: true,
            },
        );
        store.publish("demo", run, &publication).unwrap();
    }
    let policy = RetentionPolicy {
        keep_versions: Some(2),
        max_age_us: None,
        append_window_us: None,
    };
    let first = store.version("demo", 1).unwrap().unwrap().ports["a"]
        .file
        .clone();
    let report = store
        .prune("demo", policy, tessera_store::now_us())
        .unwrap();
    assert_eq!(report.versions_removed, vec![1]);
    // Input versions 1 and 2 go (not among the newest two, no kept version read them). Their
    // segments 1 and 2 are not shared by versions 3 and 4 (a replace started over).
    assert_eq!(report.input_versions_removed, 2);
    assert_eq!(
        report.files_removed, 3,
        "output 1 and input segments 1 and 2"
    );
    assert!(report.bytes_freed > 0);
    assert!(store.version("demo", 1).unwrap().is_none());
    assert!(!dir.path().join(&first).exists());
    assert_eq!(read_input(&store, 4).len(), 2);
    assert!(store.read("demo", 2, "a").is_ok());
    // The newest version always stays, whatever the policy.
    let report = store
        .prune(
            "demo",
            RetentionPolicy {
                keep_versions: None,
                max_age_us: Some(0),
                append_window_us: None,
            },
            tessera_store::now_us() + 1_000_000,
        )
        .unwrap();
    assert_eq!(report.versions_removed, vec![2]);
    assert_eq!(store.current_version("demo").unwrap().unwrap().number, 3);
    // Input version 4 stays: version 3 read it.
    assert!(store.input_version("demo", "events", 4).unwrap().is_some());
    assert_eq!(store.recover().unwrap().files_removed, 0);
}

#[test]
fn a_crash_during_ingest_stores_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Storage::local(dir.path()).unwrap();
        ingest(
            &store,
            "i1",
            &[batch(&["a"], &[1])],
            IngestMode::Append,
            Some("k1"),
        );
        // Ingest 2 wrote its segment, then the host crashed before the commit; ingest 3 was
        // still streaming.
        stage(&store, "i2", "events", &[batch(&["b"], &[2])]);
        stage(&store, "i3", "events", &[batch(&["c"], &[3])]);
    }
    let store = Storage::local(dir.path()).unwrap();
    let report = store.recover().unwrap();
    assert_eq!(
        report.files_removed, 2,
        "the segments of i2 and i3, which no record names"
    );
    let current = store.current_input("demo", "events").unwrap().unwrap();
    assert_eq!((current.number, current.rows()), (1, 1));
    assert!(
        store
            .ingested_with_key("demo", "events", "k2")
            .unwrap()
            .is_none()
    );
    // The retried request commits as version 2.
    assert_eq!(
        ingest(
            &store,
            "i4",
            &[batch(&["b"], &[2])],
            IngestMode::Append,
            Some("k2")
        ),
        (2, false)
    );
}

#[test]
fn a_retained_major_publishes_beside_the_current_version_and_outlives_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::local(dir.path())
        .unwrap()
        .with_deletion_grace(Duration::ZERO);
    for version in ["1.0.0", "2.0.0"] {
        store
            .deploy(&deployment(version, 1), version.as_bytes())
            .unwrap();
    }
    let line = tessera_store::RetainedMajor {
        major: 1,
        version: "1.0.0".into(),
        deprecation_us: i64::MAX,
        retained_at_us: 1,
    };
    // Neither the active major nor a version of another major may be kept as a line.
    for bad in [
        tessera_store::RetainedMajor {
            major: 2,
            version: "2.0.0".into(),
            ..line.clone()
        },
        tessera_store::RetainedMajor {
            major: 3,
            ..line.clone()
        },
    ] {
        assert!(matches!(
            store.activate("demo", "2.0.0", &[bad]),
            Err(StoreError::Conflict(_))
        ));
    }
    store
        .activate("demo", "2.0.0", std::slice::from_ref(&line))
        .unwrap();
    assert_eq!(
        store.retained_majors("demo").unwrap(),
        std::slice::from_ref(&line)
    );

    // 2.x publishes 1, 1.x publishes 2, 2.x publishes 3, 1.x publishes 4, 2.x publishes 5.
    let publish = |run_id: &str, major: u64| {
        store.put_run(&run(run_id, RunState::Running, 1)).unwrap();
        let rows = stage(&store, run_id, "out", &[batch(&["a"], &[1])]);
        let publication = Publication {
            product_version: format!("{major}.0.0"),
            line: (major == 1).then_some(1),
            ..ports(&[("out", rows)])
        };
        store.publish("demo", run_id, &publication).unwrap().number
    };
    let numbers: Vec<u64> = [("r1", 2), ("r2", 1), ("r3", 2), ("r4", 1), ("r5", 2)]
        .iter()
        .map(|(id, major)| publish(id, *major))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5], "one sequence of numbers");
    assert_eq!(store.current_version("demo").unwrap().unwrap().number, 5);
    assert_eq!(
        store.current_of_major("demo", 1).unwrap().unwrap().number,
        4
    );
    assert_eq!(
        store.current_of_major("demo", 2).unwrap().unwrap().number,
        5
    );
    assert!(store.current_of_major("demo", 3).unwrap().is_none());
    // A line's publication is the newest version but not the current one.
    store.put_run(&run("r6", RunState::Running, 1)).unwrap();
    let rows = stage(&store, "r6", "out", &[batch(&["b"], &[2])]);
    let six = Publication {
        product_version: "1.0.0".into(),
        line: Some(1),
        ..ports(&[("out", rows)])
    };
    assert_eq!(store.publish("demo", "r6", &six).unwrap().number, 6);
    assert_eq!(store.current_version("demo").unwrap().unwrap().number, 5);

    // Keeping one version keeps the newest overall, the current one and 1.x's newest.
    let policy = RetentionPolicy {
        keep_versions: Some(1),
        ..RetentionPolicy::default()
    };
    store
        .prune("demo", policy, tessera_store::now_us())
        .unwrap();
    let kept: Vec<u64> = store
        .versions("demo")
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(kept, [5, 6]);
    // Without the line, only the newest and the current one stay.
    store.activate("demo", "2.0.0", &[]).unwrap();
    store.put_run(&run("r7", RunState::Running, 1)).unwrap();
    let rows = stage(&store, "r7", "out", &[batch(&["c"], &[3])]);
    let seven = Publication {
        product_version: "2.0.0".into(),
        ..ports(&[("out", rows)])
    };
    assert_eq!(store.publish("demo", "r7", &seven).unwrap().number, 7);
    store
        .prune("demo", policy, tessera_store::now_us())
        .unwrap();
    let kept: Vec<u64> = store
        .versions("demo")
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    assert_eq!(kept, [7]);
}
