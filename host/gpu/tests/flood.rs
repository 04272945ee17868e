//! A run that floods the device with dispatches at the largest legal workgroup counts (work
//! that takes a CPU adapter hours) is refused before the work reaches the device, fails within
//! its deadline, and the device serves the next run. Its own test binary: if the flood ever got
//! through, the adapter's threads would stay busy until the process ends, not the suite's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use tessera_gpu::{Data, Element, GpuError, Session, SessionLimits};

const TOUCH: &str = r#"
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x == 0u && id.y == 0u) {
        out[0] = out[0] + 1u;
    }
}
"#;

fn session(deadline: Duration) -> Option<Session> {
    let host = common::host()?;
    Some(
        Session::open(
            host,
            SessionLimits {
                memory: 64 << 20,
                deadline: Instant::now() + deadline,
                max_loop_iterations: common::LOOP_BOUND,
            },
            false,
        )
        .unwrap(),
    )
}

#[test]
fn a_dispatch_flood_is_refused_and_the_device_serves_the_next_run() {
    let Some(mut flood) = session(Duration::from_secs(3)) else {
        return;
    };
    let kernel = flood.compile(TOUCH, "main").unwrap();
    let out = flood.zeroed(Element::U32, 1).unwrap();
    let max = common::host()
        .unwrap()
        .adapter()
        .unwrap()
        .max_workgroups_per_dimension;
    let began = Instant::now();
    let mut outcome = Ok(());
    for _ in 0..8 {
        outcome = flood.dispatch(&kernel, &[&out], [max, max, 1]);
        if outcome.is_err() {
            break;
        }
    }
    // Queued work is waited for at the read (or the end of the run), within the deadline.
    if outcome.is_ok() {
        outcome = flood.read(&out).map(drop);
    }
    let waited = began.elapsed();
    assert!(
        matches!(outcome, Err(GpuError::Limit(ref m)) if m.contains("would keep the GPU busy")),
        "the flood must be refused: {outcome:?}"
    );
    // A bound for a hang, not a speed target: the deadline is 3 s.
    assert!(waited < Duration::from_secs(60), "{waited:?}");
    drop(flood);

    // The next run's small dispatch completes.
    let mut next = session(Duration::from_secs(120)).unwrap();
    let kernel = next.compile(TOUCH, "main").unwrap();
    let out = next.zeroed(Element::U32, 1).unwrap();
    next.dispatch(&kernel, &[&out], [1, 1, 1]).unwrap();
    assert_eq!(next.read(&out).unwrap(), Data::U32(vec![1]));
}
