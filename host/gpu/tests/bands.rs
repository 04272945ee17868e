//! Built-in operations too large for one submission run in paced bands of rows: the result is
//! the same as the CPU reference, and one that cannot finish by the run's deadline is refused
//! after a band, leaving the device in service (not retired as stuck).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use tessera_gpu::{Data, GpuError, Session, SessionLimits, reference};

use common::{assert_close, floats, values};

#[test]
fn a_large_matmul_and_distances_run_in_bands_and_match_the_reference() {
    let Some(mut s) = common::session() else {
        return;
    };
    // More than 2^27 multiply-adds each: several bands. Odd sizes take the scalar kernel and
    // bands of whole granules (rows of 301 values align only every 64 rows); multiples of 4
    // the vec4 kernel.
    for (m, k, n) in [(1001, 301, 601), (1000, 300, 600)] {
        let a = values(m * k, 3);
        let b = values(k * n, 4);
        let (ga, gb) = (
            s.create(&Data::F32(a.clone())).unwrap(),
            s.create(&Data::F32(b.clone())).unwrap(),
        );
        let before = s.dispatches();
        let c = s.matmul(&ga, &gb, m as u32, k as u32, n as u32).unwrap();
        assert!(
            s.dispatches() - before >= 2,
            "matmul {m}x{k}x{n} was not split"
        );
        assert_close(
            &format!("matmul {m}x{k}x{n}"),
            &floats(&mut s, &c),
            &reference::matmul(&a, &b, m, k, n),
            1e-4,
        );
        s.release(&ga);
        s.release(&gb);
        s.release(&c);
    }
    let (n_a, n_b, dim) = (2003, 301, 300);
    let a = values(n_a * dim, 5);
    let b = values(n_b * dim, 6);
    let (ga, gb) = (
        s.create(&Data::F32(a.clone())).unwrap(),
        s.create(&Data::F32(b.clone())).unwrap(),
    );
    let before = s.dispatches();
    let d = s
        .sq_distances(&ga, &gb, n_a as u32, n_b as u32, dim as u32)
        .unwrap();
    assert!(s.dispatches() - before >= 2, "distances were not split");
    assert_close(
        "distances",
        &floats(&mut s, &d),
        &reference::sq_distances(&a, &b, n_a, n_b, dim),
        1e-4,
    );
}

#[test]
fn a_matmul_too_long_for_the_deadline_is_refused_after_a_band_and_the_device_stays() {
    let Some(host) = common::host() else {
        return;
    };
    let cpu_adapter = host.adapter().is_some_and(|a| a.device_type == "cpu");
    let retired = host.retired_devices();
    let deadline = Duration::from_secs(5);
    let opened = Instant::now();
    let mut s = Session::open(
        host,
        SessionLimits {
            memory: 256 << 20,
            deadline: Instant::now() + deadline,
            max_loop_iterations: common::LOOP_BOUND,
        },
        false,
    )
    .unwrap();
    // 3072³ multiply-adds: over ten seconds on a CPU adapter, milliseconds on a real GPU.
    let n = 3072;
    let a = s.create(&Data::F32(values(n * n, 7))).unwrap();
    let b = s.create(&Data::F32(values(n * n, 8))).unwrap();
    let outcome = s.matmul(&a, &b, n as u32, n as u32, n as u32).map(drop);
    let outcome = outcome.and_then(|()| s.finish());
    let took = opened.elapsed();
    match outcome {
        Err(GpuError::Limit(message)) => {
            assert!(message.contains("would keep the GPU busy"), "{message}");
            assert!(message.contains("rows"), "{message}");
        }
        Ok(()) if !cpu_adapter => {}
        other => panic!("a CPU adapter cannot do 3072³ in 5 s; expected a refusal: {other:?}"),
    }
    // Refused before the deadline, not at it: the device was never held past it.
    assert!(took < deadline, "{took:?}");
    assert_eq!(host.retired_devices(), retired, "the device was retired");
    drop(s);

    // The same device serves the next session.
    let mut next = common::session().unwrap();
    let x = next.create(&Data::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap();
    let y = next.matmul(&x, &x, 2, 2, 2).unwrap();
    assert_eq!(floats(&mut next, &y), vec![7.0, 10.0, 15.0, 22.0]);
}
