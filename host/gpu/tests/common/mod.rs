//! A session on the host's GPU for tests: skipped (with a message saying how to enable them)
//! when there is no adapter, unless `TESSERA_REQUIRE_GPU=1`, which makes a missing adapter fail.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tessera_gpu::{GpuConfig, GpuHost, Session, SessionLimits};

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
