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

#[test]
fn a_flood_of_element_wise_operations_is_refused_before_the_deadline() {
    let deadline = Duration::from_secs(2);
    let opened = Instant::now();
    let Some(mut s) = session(deadline) else {
        return;
    };
    let host = common::host().unwrap();
    let retired = host.retired_devices();
    let cpu_adapter = host.adapter().is_some_and(|a| a.device_type == "cpu");
    // 4 Mi values (16 MiB); 2,000 additions of them are many seconds of a CPU adapter's
    // memory bandwidth, microseconds each on a real GPU.
    let n = 4 << 20;
    let a = s.create(&Data::F32(vec![1.0; n])).unwrap();
    let mut outcome = Ok(());
    for _ in 0..2000 {
        match s.binary(tessera_gpu::ops::BinaryOp::Add, &a, &a) {
            Ok(sum) => s.release(&sum),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let outcome = outcome.and_then(|()| s.finish());
    let took = opened.elapsed();
    match outcome {
        Err(GpuError::Limit(message)) => {
            assert!(message.contains("would keep the GPU busy"), "{message}");
        }
        Ok(()) if !cpu_adapter => {}
        other => panic!("a CPU adapter cannot add 16 MiB 2,000 times in 2 s: {other:?}"),
    }
    // Refused as the time left ran out (the run uses its time up to the deadline, one large
    // operation at a time), and the device was never held past it.
    assert!(took < deadline + Duration::from_millis(250), "{took:?}");
    assert_eq!(host.retired_devices(), retired, "the device was retired");
    drop(s);
    let mut next = common::session().unwrap();
    let x = next.create(&Data::F32(vec![1.0, 2.0])).unwrap();
    let y = next
        .binary(tessera_gpu::ops::BinaryOp::Add, &x, &x)
        .unwrap();
    assert_eq!(common::floats(&mut next, &y), vec![2.0, 4.0]);
}
