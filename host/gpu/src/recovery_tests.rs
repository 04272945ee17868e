//! A lost device: the runs using it get errors (never a crash) and the next run gets a fresh
//! device. Needs an adapter (lavapipe in CI); skipped without one unless
//! `TESSERA_REQUIRE_GPU=1`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::buffer::Data;
use crate::device::{GpuConfig, GpuHost};
use crate::session::{Session, SessionLimits};

fn limits() -> SessionLimits {
    SessionLimits {
        memory: 64 << 20,
        deadline: Instant::now() + Duration::from_secs(60),
        max_loop_iterations: 10_000,
    }
}

#[test]
fn a_lost_device_fails_its_runs_and_the_next_run_gets_a_fresh_one() {
    let host = GpuHost::new(&GpuConfig::default());
    if host.adapter().is_none() {
        assert!(
            std::env::var("TESSERA_REQUIRE_GPU").map_or(true, |v| v != "1"),
            "TESSERA_REQUIRE_GPU=1 but there is no GPU adapter: {}",
            host.absence()
        );
        eprintln!("skipping: no GPU adapter ({})", host.absence());
        return;
    }
    let mut before = Session::open(&host, limits(), false).expect("a session opens");
    let a = before
        .create(&Data::F32(vec![1.0; 16]))
        .expect("a buffer on the device");
    let lost = host.device().expect("the device is open");
    // What a driver reset or an unplugged GPU does to the device.
    lost.device.destroy();
    let _ = lost.device.poll(wgpu::PollType::Poll);
    assert!(
        lost.retired.load(Ordering::Relaxed),
        "the lost-device callback retires the device"
    );
    // The run that was using it gets an error, not a crash.
    let attempt = before
        .matmul(&a, &a, 4, 4, 4)
        .and_then(|c| before.read(&c).map(|_| ()));
    assert!(
        attempt.is_err(),
        "work on a lost device must fail the run that asked for it"
    );

    // The next run opens a fresh device and computes.
    let fresh = host.device().expect("a fresh device opens");
    assert!(!std::sync::Arc::ptr_eq(&lost, &fresh));
    let mut after = Session::open(&host, limits(), false).expect("a session opens");
    let x = after
        .create(&Data::F32((0..16).map(|i| i as f32).collect()))
        .expect("a buffer");
    let identity: Vec<f32> = (0..16)
        .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
        .collect();
    let eye = after.create(&Data::F32(identity)).expect("a buffer");
    let y = after
        .matmul(&x, &eye, 4, 4, 4)
        .expect("matmul on the fresh device");
    match after.read(&y).expect("read back") {
        Data::F32(values) => assert_eq!(values, (0..16).map(|i| i as f32).collect::<Vec<_>>()),
        other => panic!("expected f32 values, got {other:?}"),
    }
}
