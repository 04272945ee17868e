//! Every built-in operation on the GPU (lavapipe in CI) equals its CPU reference within a
//! stated tolerance, on sizes that are not multiples of the kernels' tiles; on the CPU path it
//! equals the reference exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use tessera_gpu::ops::{BinaryOp, Reduction, UnaryOp};
use tessera_gpu::{ComputePath, Data, GpuError, GpuHost, Session, SessionLimits, reference};

use common::{assert_close, floats, values};

#[test]
fn matmul_matches_the_reference() {
    let Some(mut s) = common::session() else {
        return;
    };
    // Odd k or n take the scalar kernel; k and n in multiples of 4 the vec4 kernel, here with
    // partial tiles, a partial K slice, an odd number of slices and a single slice.
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 7),
        (130, 67, 129),
        (1, 4, 4),
        (129, 4, 260),
        (5, 20, 8),
        (130, 48, 132),
        (256, 300, 200),
    ] {
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let (ga, gb) = (
            s.create(&Data::F32(a.clone())).unwrap(),
            s.create(&Data::F32(b.clone())).unwrap(),
        );
        let c = s.matmul(&ga, &gb, m as u32, k as u32, n as u32).unwrap();
        assert_close(
            &format!("matmul {m}x{k}x{n}"),
            &floats(&mut s, &c),
            &reference::matmul(&a, &b, m, k, n),
            1e-4,
        );
    }
    let a = s.create(&Data::F32(vec![1.0; 6])).unwrap();
    let e = s.matmul(&a, &a, 2, 2, 3).unwrap_err();
    assert!(e.to_string().contains("m × k is 4"), "{e}");
}

#[test]
fn elementwise_and_activations_match_the_reference() {
    let Some(mut s) = common::session() else {
        return;
    };
    let n = 70_001;
    let (a, b) = (values(n, 3), values(n, 4));
    let (ga, gb) = (
        s.create(&Data::F32(a.clone())).unwrap(),
        s.create(&Data::F32(b.clone())).unwrap(),
    );
    for (op, cpu) in [
        (BinaryOp::Add, reference::add(&a, &b)),
        (BinaryOp::Sub, reference::sub(&a, &b)),
        (BinaryOp::Mul, reference::mul(&a, &b)),
    ] {
        let out = s.binary(op, &ga, &gb).unwrap();
        assert_close(&format!("{op:?}"), &floats(&mut s, &out), &cpu, 1e-6);
    }
    for (op, cpu) in [
        (UnaryOp::Relu, reference::relu(&a)),
        (UnaryOp::Exp, reference::exp(&a)),
        (UnaryOp::Sigmoid, reference::sigmoid(&a)),
    ] {
        let out = s.unary(op, &ga).unwrap();
        assert_close(&format!("{op:?}"), &floats(&mut s, &out), &cpu, 1e-5);
    }
    let scaled = s.scale(&ga, -0.5).unwrap();
    assert_close(
        "scale",
        &floats(&mut s, &scaled),
        &reference::scale(&a, -0.5),
        1e-6,
    );
    let extreme = s.create(&Data::F32(vec![-1000.0, 1000.0, 0.0])).unwrap();
    let sig = s.unary(UnaryOp::Sigmoid, &extreme).unwrap();
    assert_eq!(floats(&mut s, &sig), vec![0.0, 1.0, 0.5]);
}

#[test]
fn reductions_and_softmax_match_the_reference() {
    let Some(mut s) = common::session() else {
        return;
    };
    let (rows, cols) = (333, 517);
    let a = values(rows * cols, 5);
    let ga = s.create(&Data::F32(a.clone())).unwrap();
    let sum = s
        .reduce_rows(Reduction::Sum, &ga, rows as u32, cols as u32)
        .unwrap();
    assert_close(
        "row_sum",
        &floats(&mut s, &sum),
        &reference::row_sum(&a, rows, cols),
        1e-4,
    );
    let max = s
        .reduce_rows(Reduction::Max, &ga, rows as u32, cols as u32)
        .unwrap();
    assert_close(
        "row_max",
        &floats(&mut s, &max),
        &reference::row_max(&a, rows, cols),
        0.0,
    );
    let arg = s
        .reduce_rows(Reduction::Argmax, &ga, rows as u32, cols as u32)
        .unwrap();
    assert_eq!(
        s.read(&arg).unwrap(),
        Data::U32(reference::row_argmax(&a, rows, cols))
    );
    let soft = s.softmax_rows(&ga, rows as u32, cols as u32).unwrap();
    assert_close(
        "softmax",
        &floats(&mut s, &soft),
        &reference::softmax_rows(&a, rows, cols),
        1e-5,
    );
}

#[test]
fn distances_filter_and_histogram_match_the_reference() {
    let Some(mut s) = common::session() else {
        return;
    };
    let (na, nb, dim) = (300, 131, 64);
    let (a, b) = (values(na * dim, 6), values(nb * dim, 7));
    let (ga, gb) = (
        s.create(&Data::F32(a.clone())).unwrap(),
        s.create(&Data::F32(b.clone())).unwrap(),
    );
    let d = s
        .sq_distances(&ga, &gb, na as u32, nb as u32, dim as u32)
        .unwrap();
    assert_close(
        "sq_distances",
        &floats(&mut s, &d),
        &reference::sq_distances(&a, &b, na, nb, dim),
        1e-4,
    );

    let (w, h) = (97, 45);
    let image = values(w * h, 8);
    let laplacian = [0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0];
    let gi = s.create(&Data::F32(image.clone())).unwrap();
    let f = s.filter3x3(&gi, w as u32, h as u32, laplacian).unwrap();
    assert_close(
        "filter3x3",
        &floats(&mut s, &f),
        &reference::filter3x3(&image, w, h, &laplacian),
        1e-5,
    );

    let hist = s.histogram(&ga, 10, -2.0, 2.0).unwrap();
    let Data::U32(counts) = s.read(&hist).unwrap() else {
        panic!("u32 expected");
    };
    let cpu = reference::histogram(&a, 10, -2.0, 2.0);
    assert_eq!(counts.iter().sum::<u32>(), cpu.iter().sum::<u32>());
    for (g, c) in counts.iter().zip(&cpu) {
        assert!(g.abs_diff(*c) <= 2, "histogram {counts:?} vs {cpu:?}");
    }
}

#[test]
fn chained_operations_stay_on_the_device_and_count_gpu_time() {
    let Some(mut s) = common::session() else {
        return;
    };
    let x = s.create(&Data::F32(values(64 * 30, 9))).unwrap();
    let w = s.create(&Data::F32(values(30 * 2, 10))).unwrap();
    let logits = s.matmul(&x, &w, 64, 30, 2).unwrap();
    let p = s.unary(UnaryOp::Sigmoid, &logits).unwrap();
    let best = s.reduce_rows(Reduction::Argmax, &p, 64, 2).unwrap();
    assert_eq!(s.dispatches(), 3);
    assert_eq!(s.read(&best).unwrap().len(), 64);
    assert!(s.gpu_time() > Duration::ZERO);
    assert_eq!(s.path(), ComputePath::Gpu);
}

#[test]
fn gpu_time_counts_the_passes_also_past_one_query_set() {
    let Some(mut s) = common::session() else {
        return;
    };
    let began = Instant::now();
    let mut x = s.create(&Data::F32(values(1024, 13))).unwrap();
    // More dispatches without a read than one query set holds (256 passes): the session waits
    // and collects the full set, then goes on timing.
    for _ in 0..300 {
        let next = s.unary(UnaryOp::Relu, &x).unwrap();
        s.release(&x);
        x = next;
    }
    assert!(floats(&mut s, &x).iter().all(|v| *v >= 0.0));
    s.finish().unwrap();
    assert_eq!(s.dispatches(), 300);
    let wall = began.elapsed();
    assert!(s.gpu_time() > Duration::ZERO);
    assert!(
        s.gpu_time() <= wall,
        "kernel time {:?} cannot exceed the session's wall time {wall:?}",
        s.gpu_time()
    );
    let adapter = common::host().and_then(|h| h.adapter().cloned());
    assert_eq!(
        Some(s.gpu_time_from_timestamps()),
        adapter.map(|a| a.timestamp_queries)
    );
}

#[test]
fn cpu_path_outputs_sized_by_the_product_stay_within_gpu_memory() {
    // Inputs of a million values each, whose product would be 10¹² values (4 TB): refused as a
    // limit before anything is computed or allocated.
    let host = GpuHost::without("a test host without a GPU");
    let limits = SessionLimits {
        memory: 64 << 20,
        deadline: Instant::now() + Duration::from_secs(60),
        max_loop_iterations: common::LOOP_BOUND,
    };
    let mut s = Session::open(&host, limits, true).unwrap();
    let column = s.create(&Data::F32(vec![1.0; 1 << 20])).unwrap();
    for refused in [
        s.matmul(&column, &column, 1 << 20, 1, 1 << 20),
        s.sq_distances(&column, &column, 1 << 20, 1 << 20, 1),
        s.histogram(&column, u32::MAX, 0.0, 1.0),
    ] {
        assert!(
            matches!(refused, Err(GpuError::Limit(ref m)) if m.contains("gpu_memory") || m.contains("largest")),
            "{refused:?}"
        );
    }
    assert_eq!(
        s.live_memory(),
        4 << 20,
        "nothing was reserved for the refused outputs"
    );
}

#[test]
fn the_cpu_path_is_the_reference() {
    let host = GpuHost::without("a test host without a GPU");
    let limits = SessionLimits {
        memory: 64 << 20,
        deadline: Instant::now() + Duration::from_secs(60),
        max_loop_iterations: common::LOOP_BOUND,
    };
    assert!(Session::open(&host, limits, false).is_err());
    let mut s = Session::open(&host, limits, true).unwrap();
    assert_eq!(s.path(), ComputePath::Cpu);
    let (a, b) = (values(12, 11), values(12, 12));
    let (ga, gb) = (
        s.create(&Data::F32(a.clone())).unwrap(),
        s.create(&Data::F32(b.clone())).unwrap(),
    );
    let c = s.matmul(&ga, &gb, 3, 4, 3).unwrap();
    assert_eq!(floats(&mut s, &c), reference::matmul(&a, &b, 3, 4, 3));
    let d = s.sq_distances(&ga, &gb, 3, 3, 4).unwrap();
    assert_eq!(floats(&mut s, &d), reference::sq_distances(&a, &b, 3, 3, 4));
    let e = s
        .compile("@compute @workgroup_size(1) fn main() {}", "main")
        .unwrap();
    assert!(
        s.dispatch(&e, &[], [1, 1, 1])
            .unwrap_err()
            .to_string()
            .contains("need a GPU")
    );
}
