//! A session on the host's GPU for tests: skipped (with a message saying how to enable them)
//! when there is no adapter, unless `TESSERA_REQUIRE_GPU=1`, which makes a missing adapter fail;
//! and the values, read-backs and comparisons the operation tests share.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tessera_gpu::{Buffer, Data, GpuConfig, GpuHost, Session, SessionLimits};

pub fn host() -> Option<&'static GpuHost> {
    static HOST: OnceLock<GpuHost> = OnceLock::new();
    // Timestamps on, also on lavapipe (where the host's default leaves them off), so the tests
    // cover the timed path.
    let host = HOST.get_or_init(|| {
        GpuHost::new(&GpuConfig {
            pass_timestamps: Some(true),
            ..GpuConfig::default()
        })
    });
    if host.adapter().is_some() {
        return Some(host);
    }
    if std::env::var("TESSERA_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!(
            "TESSERA_REQUIRE_GPU=1 but there is no GPU adapter: {}",
            host.absence()
        );
    }
    eprintln!(
        "skipping a GPU test: {} (install mesa-vulkan-drivers for lavapipe, a CPU Vulkan driver; set TESSERA_REQUIRE_GPU=1 to make this a failure)",
        host.absence()
    );
    None
}

/// The loop bound of test sessions: below lavapipe's own cap of 65,535 iterations per loop.
#[allow(dead_code)]
pub const LOOP_BOUND: u32 = 10_000;

#[allow(dead_code)]
pub fn session() -> Option<Session> {
    session_with_memory(256 << 20)
}

pub fn session_with_memory(memory: u64) -> Option<Session> {
    let host = host()?;
    Some(
        Session::open(
            host,
            SessionLimits {
                memory,
                deadline: Instant::now() + Duration::from_secs(60),
                max_loop_iterations: LOOP_BOUND,
            },
            false,
        )
        .unwrap(),
    )
}

/// Deterministic values in [-2, 2).
#[allow(dead_code)]
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

#[allow(dead_code)]
pub fn floats(session: &mut Session, buffer: &Buffer) -> Vec<f32> {
    match session.read(buffer).unwrap() {
        Data::F32(v) => v,
        other => panic!("f32 expected, got {other:?}"),
    }
}

/// |gpu − cpu| ≤ tolerance × max(1, |cpu|) everywhere.
#[allow(dead_code)]
pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], tolerance: f32) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let bound = tolerance * c.abs().max(1.0);
        assert!(
            (g - c).abs() <= bound || (g.is_nan() && c.is_nan()),
            "{what}[{i}]: gpu {g}, reference {c}"
        );
    }
}
