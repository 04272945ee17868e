//! Measures matmul kernels side by side on this host's adapter: the built-in kernels and any
//! `.wgsl` variants in a directory (made by `tools/gen_matmul_vec4.py --variants DIR`).
//!
//! ```text
//! cargo run --release -p tessera-gpu --example matmul_variants -- [DIR] [SIZES]
//! ```
//!
//! `SIZES` is a comma-separated list of square sizes (default `1024,4096`). Every kernel is
//! checked against 64 entries computed in f64 before it is timed; times are per matmul (the
//! median of 10, and the first of them), from timestamp queries around each compute pass where
//! the adapter has them, else wall time around a submit-and-wait of 10 matmuls.
//! `MATMUL_IDLE_MS` leaves the GPU idle that long before the timed matmuls (to see how long
//! its clocks take to rise); `MATMUL_UPLOAD=1` sends the inputs again just before them (to see
//! whether the first pass's time includes the transfer).

use std::borrow::Cow;
use std::time::Instant;

use wgpu::util::DeviceExt;

const BUILTIN_SCALAR: &str = include_str!("../kernels/matmul.wgsl");
const BUILTIN_VEC4: &str = include_str!("../kernels/matmul_vec4.wgsl");
const REPEAT: u32 = 10;

struct Candidate {
    name: String,
    source: String,
}

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    timestamps: bool,
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<u32> = args
        .get(1)
        .map_or("1024,4096", String::as_str)
        .split(',')
        .map(|s| s.trim().parse().map_err(|e| format!("size `{s}`: {e}")))
        .collect::<Result<_, _>>()?;
    let mut candidates = vec![
        Candidate {
            name: "builtin scalar".into(),
            source: BUILTIN_SCALAR.into(),
        },
        Candidate {
            name: "builtin vec4".into(),
            source: BUILTIN_VEC4.into(),
        },
        Candidate {
            name: "builtin vec4 unchecked".into(),
            source: BUILTIN_VEC4.into(),
        },
    ];
    if let Some(dir) = args.first() {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{dir}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
            .collect();
        paths.sort();
        for path in paths {
            let source = std::fs::read_to_string(&path).map_err(|e| format!("{path:?}: {e}"))?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            candidates.push(Candidate { name, source });
        }
    }
    let gpu = open()?;
    let idle = std::time::Duration::from_millis(
        std::env::var("MATMUL_IDLE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    println!("| kernel | n | time per matmul | GFLOP/s | first of 10 | max error / bound |");
    println!("|---|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let (a, b) = (matrix(n, 1), matrix(n, 2));
        for candidate in &candidates {
            match measure(&gpu, candidate, n, (&a, &b), idle) {
                Ok((seconds, first, error)) => println!(
                    "| {} | {n} | {:.3} ms | {:.0} | {:.3} ms | {error:.3} |",
                    candidate.name,
                    seconds * 1e3,
                    2.0 * f64::from(n).powi(3) / seconds / 1e9,
                    first * 1e3
                ),
                Err(e) => println!("| {} | {n} | failed: {e} | | |", candidate.name),
            }
        }
    }
    Ok(())
}

fn open() -> Result<Gpu, String> {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(descriptor);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
    let adapter = adapters
        .into_iter()
        .min_by_key(|a| a.get_info().device_type == wgpu::DeviceType::Cpu)
        .ok_or("no Vulkan adapter")?;
    let info = adapter.get_info();
    let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    let limits = adapter.limits();
    println!(
        "adapter: {} ({:?}), driver {} {}; workgroup memory {} B; timestamps: {timestamps}\n",
        info.name,
        info.device_type,
        info.driver,
        info.driver_info,
        limits.max_compute_workgroup_storage_size
    );
    let features = if timestamps {
        wgpu::Features::TIMESTAMP_QUERY
    } else {
        wgpu::Features::empty()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: None,
        required_features: features,
        required_limits: limits,
        ..Default::default()
    }))
    .map_err(|e| e.to_string())?;
    Ok(Gpu {
        device,
        queue,
        timestamps,
    })
}

/// A deterministic n × n matrix with entries in [-1, 1).
fn matrix(n: u32, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..u64::from(n) * u64::from(n))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn measure(
    gpu: &Gpu,
    candidate: &Candidate,
    n: u32,
    (a, b): (&[f32], &[f32]),
    idle: std::time::Duration,
) -> Result<(f64, f64, f64), String> {
    let device = &gpu.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let descriptor = wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(&candidate.source)),
    };
    #[allow(unsafe_code)]
    let module = if candidate.name.ends_with("unchecked") {
        // SAFETY: the generated kernels index only inside their bindings (every load and store
        // is masked against m, k and n) and every loop ends.
        unsafe {
            device.create_shader_module_trusted(descriptor, wgpu::ShaderRuntimeChecks::unchecked())
        }
    } else {
        device.create_shader_module(descriptor)
    };
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some(if candidate.source.contains("fn matmul_vec4(") {
            "matmul_vec4"
        } else {
            "matmul"
        }),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(e.to_string().lines().next().unwrap_or_default().to_string());
    }
    let storage = |data: &[f32]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        })
    };
    let (ga, gb) = (storage(a), storage(b));
    let bytes = u64::from(n) * u64::from(n) * 4;
    let gc = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(&[n, n, n, 0]),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: ga.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: gb.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: gc.as_entire_binding(),
            },
        ],
    });
    let tiles = n.div_ceil(128) * n.div_ceil(128);
    let queries = gpu.timestamps.then(|| {
        device.create_query_set(&wgpu::QuerySetDescriptor {
            label: None,
            ty: wgpu::QueryType::Timestamp,
            count: 2 * REPEAT,
        })
    });
    let record = |encoder: &mut wgpu::CommandEncoder, slot: Option<u32>| {
        let writes = queries
            .as_ref()
            .zip(slot)
            .map(|(set, i)| wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(2 * i),
                end_of_pass_write_index: Some(2 * i + 1),
            });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: writes,
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(tiles.min(65_535), tiles.div_ceil(65_535), 1);
    };
    // Warm up, then time.
    let mut encoder = device.create_command_encoder(&Default::default());
    for _ in 0..3 {
        record(&mut encoder, None);
    }
    gpu.queue.submit([encoder.finish()]);
    wait(device)?;
    let resolve = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: u64::from(2 * REPEAT) * 8,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    for i in 0..REPEAT {
        record(&mut encoder, Some(i));
    }
    if let Some(set) = &queries {
        encoder.resolve_query_set(set, 0..2 * REPEAT, &resolve, 0);
    }
    std::thread::sleep(idle);
    if std::env::var("MATMUL_UPLOAD").is_ok_and(|v| v == "1") {
        // The inputs sent again just before the timed matmuls, as a product does.
        gpu.queue.write_buffer(&ga, 0, bytemuck::cast_slice(a));
        gpu.queue.write_buffer(&gb, 0, bytemuck::cast_slice(b));
    }
    let began = Instant::now();
    gpu.queue.submit([encoder.finish()]);
    wait(device)?;
    let wall = began.elapsed().as_secs_f64() / f64::from(REPEAT);
    let (seconds, first) = if queries.is_some() {
        let ticks: Vec<u64> = read(gpu, &resolve, u64::from(2 * REPEAT) * 8)?;
        let period = f64::from(gpu.queue.get_timestamp_period());
        let mut each: Vec<f64> = ticks
            .chunks(2)
            .map(|p| p[1].saturating_sub(p[0]) as f64 * period * 1e-9)
            .collect();
        let first = each[0];
        each.sort_by(f64::total_cmp);
        (each[each.len() / 2], first)
    } else {
        (wall, wall)
    };
    let c: Vec<f32> = read(gpu, &gc, bytes)?;
    Ok((seconds, first, worst_error(n, a, b, &c)))
}

/// The largest error of 64 sampled entries, as a share of its bound (1e-5 times the sum of
/// the magnitudes of the products, plus 1e-6): above 1 means the kernel is wrong.
fn worst_error(n: u32, a: &[f32], b: &[f32], c: &[f32]) -> f64 {
    let n = n as usize;
    let mut worst = 0.0f64;
    for s in 0..64usize {
        let (i, j) = ((s * 7919 + 13) % n, (s * 104_729 + 71) % n);
        let (mut sum, mut magnitude) = (0.0f64, 0.0f64);
        for k in 0..n {
            let p = f64::from(a[i * n + k]) * f64::from(b[k * n + j]);
            sum += p;
            magnitude += p.abs();
        }
        let error = (f64::from(c[i * n + j]) - sum).abs() / (1e-5 * magnitude + 1e-6);
        worst = worst.max(error);
    }
    worst
}

fn wait(device: &wgpu::Device) -> Result<(), String> {
    device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: None,
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn read<T: bytemuck::Pod>(gpu: &Gpu, source: &wgpu::Buffer, bytes: u64) -> Result<Vec<T>, String> {
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
    gpu.queue.submit([encoder.finish()]);
    let slice = staging.slice(..);
    slice.map_async(wgpu::MapMode::Read, |_| {});
    wait(&gpu.device)?;
    let view = slice.get_mapped_range().map_err(|e| e.to_string())?;
    Ok(bytemuck::cast_slice(&view).to_vec())
}
