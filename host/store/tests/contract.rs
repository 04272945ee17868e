//! The storage contract, run against both the sled store and the in-memory double, plus crash
//! recovery of the sled store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tessera_store::{MemoryStore, RunRecord, RunState, SledStore, Store, StoreError};

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

fn ports(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(p, r)| (p.to_string(), *r)).collect()
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
    let v2 = store
        .publish("demo", "r3", &ports(&[("a", a), ("b", b)]))
        .unwrap();
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

    // Runs: recorded, listed in order, and running ones become interrupted on recovery.
    store.put_run(&run("r1", RunState::Succeeded, 1)).unwrap();
    store.put_run(&run("r3", RunState::Running, 3)).unwrap();
    store.put_run(&run("r2", RunState::Failed, 2)).unwrap();
    assert_eq!(
        store
            .runs("demo")
            .unwrap()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2", "r3"]
    );
    let report = store.recover().unwrap();
    assert_eq!(report.runs_interrupted, vec!["r3".to_string()]);
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
    store.activate("demo", "1.1.0").unwrap();
    store.activate("demo", "1.0.0").unwrap();
    assert_eq!(store.active("demo").unwrap().as_deref(), Some("1.0.0"));
    assert!(matches!(
        store.activate("demo", "2.0.0"),
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
fn the_memory_store_keeps_the_contract() {
    contract(&MemoryStore::new());
}

#[test]
fn the_sled_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&SledStore::open(dir.path()).unwrap());
}

#[test]
fn a_crash_during_publish_leaves_the_previous_version_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        let a = stage(&store, "r1", "a", &[batch(&["one"], &[1])]);
        store.publish("demo", "r1", &ports(&[("a", a)])).unwrap();
        store.put_run(&run("r2", RunState::Running, 2)).unwrap();
        // Run 2 stages two ports, then the host "crashes" after moving the files into place
        // and before the metadata commit.
        let a = stage(&store, "r2", "a", &[batch(&["two"], &[2])]);
        let b = stage(&store, "r2", "b", &[batch(&["two"], &[2])]);
        store.fail_next_publish_before_commit();
        assert!(
            store
                .publish("demo", "r2", &ports(&[("a", a), ("b", b)]))
                .is_err()
        );
        // And a third run was still staging.
        stage(&store, "r3", "a", &[batch(&["three"], &[3])]);
    }
    let store = SledStore::open(dir.path()).unwrap();
    let report = store.recover().unwrap();
    assert_eq!(report.runs_interrupted, vec!["r2".to_string()]);
    assert_eq!(
        report.files_removed, 3,
        "two orphaned files of r2 and one staged file of r3"
    );
    let current = store.current_version("demo").unwrap().unwrap();
    assert_eq!(current.number, 1);
    assert_eq!(read_all(&store, 1, "a"), vec![batch(&["one"], &[1])]);
    assert!(!dir.path().join("outputs/demo/2").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count(),
        0
    );
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
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.stage("demo", "../evil", "a", schema()).is_err());
    assert!(store.stage("demo", "r1", "../../a", schema()).is_err());
    assert!(store.publish("../demo", "r1", &ports(&[])).is_err());
}
