//! Product kernels on the host's GPU (lavapipe in CI): validation with line and column,
//! bindings checked against the shader, loops bounded, limits enforced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tessera_gpu::{Data, Element, GpuError};

const DOUBLE: &str = r#"
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&input)) {
        output[id.x] = input[id.x] * 2.0;
    }
}
"#;

#[test]
fn a_product_kernel_runs_and_reads_back() {
    let Some(mut session) = common::session() else {
        return;
    };
    let kernel = session.compile(DOUBLE, "main").unwrap();
    assert_eq!(kernel.bindings().len(), 2);
    let input = session
        .create(&Data::F32((0..1000).map(|i| i as f32).collect()))
        .unwrap();
    let output = session.zeroed(Element::F32, 1000).unwrap();
    session
        .dispatch(&kernel, &[&input, &output], [16, 1, 1])
        .unwrap();
    let Data::F32(values) = session.read(&output).unwrap() else {
        panic!("f32 expected");
    };
    assert_eq!(values[999], 1998.0);
    assert_eq!(values[3], 6.0);
    assert!(session.gpu_time() > std::time::Duration::ZERO);
}

#[test]
fn invalid_wgsl_names_line_and_column() {
    let Some(mut session) = common::session() else {
        return;
    };
    let error = session
        .compile(
            "@compute @workgroup_size(1)\nfn main() {\n  let x = ;\n}\n",
            "main",
        )
        .unwrap_err();
    let GpuError::Invalid(message) = &error else {
        panic!("{error}");
    };
    assert!(message.contains("at line 3, column"), "{message}");
    let missing = session.compile(DOUBLE, "nope").unwrap_err();
    assert!(
        matches!(missing, GpuError::NotFound(ref m) if m.contains("it has: main")),
        "{missing}"
    );
}

#[test]
fn bindings_and_workgroups_are_checked() {
    let Some(mut session) = common::session() else {
        return;
    };
    let kernel = session.compile(DOUBLE, "main").unwrap();
    let floats = session.create(&Data::F32(vec![1.0; 8])).unwrap();
    let ints = session.create(&Data::U32(vec![1; 8])).unwrap();
    let e = session
        .dispatch(&kernel, &[&floats], [1, 1, 1])
        .unwrap_err();
    assert!(
        matches!(e, GpuError::Invalid(ref m) if m.contains("binds 2 buffers")),
        "{e}"
    );
    let e = session
        .dispatch(&kernel, &[&floats, &ints], [1, 1, 1])
        .unwrap_err();
    assert!(
        matches!(e, GpuError::Invalid(ref m) if m.contains("holds f32")),
        "{e}"
    );
    let e = session
        .dispatch(&kernel, &[&floats, &floats], [1, 1, 1])
        .unwrap_err();
    assert!(
        matches!(e, GpuError::Invalid(ref m) if m.contains("same buffer")),
        "{e}"
    );
    let out = session.zeroed(Element::F32, 8).unwrap();
    let e = session
        .dispatch(&kernel, &[&floats, &out], [0, 1, 1])
        .unwrap_err();
    assert!(
        matches!(e, GpuError::Invalid(ref m) if m.contains("at least 1")),
        "{e}"
    );
    let e = session
        .dispatch(&kernel, &[&floats, &out], [u32::MAX, 1, 1])
        .unwrap_err();
    assert!(
        matches!(e, GpuError::Invalid(ref m) if m.contains("limit")),
        "{e}"
    );
    // The session still works.
    session
        .dispatch(&kernel, &[&floats, &out], [1, 1, 1])
        .unwrap();
}

#[test]
fn a_kernel_that_never_ends_is_stopped() {
    let Some(mut session) = common::session() else {
        return;
    };
    let forever = r#"
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
    var i = 0u;
    loop {
        i = i + 1u;
        out[0] = i;
    }
}
"#;
    let kernel = session.compile(forever, "main").unwrap();
    let out = session.zeroed(Element::U32, 1).unwrap();
    let e = session.dispatch(&kernel, &[&out], [1, 1, 1]).unwrap_err();
    assert!(
        matches!(e, GpuError::Limit(ref m) if m.contains("was stopped")),
        "{e}"
    );
    // It ran exactly up to the bound.
    assert_eq!(
        session.read(&out).unwrap(),
        Data::U32(vec![common::LOOP_BOUND])
    );
    // The device is fine for the next dispatch.
    let double = session.compile(DOUBLE, "main").unwrap();
    let input = session.create(&Data::F32(vec![2.0; 4])).unwrap();
    let output = session.zeroed(Element::F32, 4).unwrap();
    session
        .dispatch(&double, &[&input, &output], [1, 1, 1])
        .unwrap();
    assert_eq!(session.read(&output).unwrap(), Data::F32(vec![4.0; 4]));
}

#[test]
fn the_loop_bound_holds_across_nested_calls() {
    let Some(mut session) = common::session() else {
        return;
    };
    // Each function's loop alone stays under the bound (n = 1,000 < 10,000); together, called
    // from one another, one invocation would run 10⁹ iterations. The bound is per invocation.
    let nested = r#"
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

fn inner(n: u32) -> u32 {
    var s = 0u;
    for (var i = 0u; i < n; i = i + 1u) { s = s + 1u; }
    return s;
}

fn middle(n: u32) -> u32 {
    var s = 0u;
    for (var i = 0u; i < n; i = i + 1u) { s = s + inner(n); }
    return s;
}

@compute @workgroup_size(1)
fn main() {
    let n = out[0];
    var s = 0u;
    for (var i = 0u; i < n; i = i + 1u) { s = s + middle(n); }
    out[1] = s;
}
"#;
    let kernel = session.compile(nested, "main").unwrap();
    let out = session.create(&Data::U32(vec![1000, 0])).unwrap();
    let e = session.dispatch(&kernel, &[&out], [1, 1, 1]).unwrap_err();
    assert!(
        matches!(e, GpuError::Limit(ref m) if m.contains("was stopped")),
        "a cut-short kernel must not pass for a complete one: {e}"
    );
    // Under the bound, the same kernel runs to its end with the right value.
    let small = session.create(&Data::U32(vec![20, 0])).unwrap();
    session.dispatch(&kernel, &[&small], [1, 1, 1]).unwrap();
    assert_eq!(session.read(&small).unwrap(), Data::U32(vec![20, 8000]));
}

#[test]
fn a_loop_with_a_barrier_still_validates() {
    let Some(mut session) = common::session() else {
        return;
    };
    let tiled = r#"
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
var<workgroup> tile: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    var sum = 0.0;
    for (var t = 0u; t < 4u; t = t + 1u) {
        tile[local.x] = input[t * 64u + local.x];
        workgroupBarrier();
        sum = sum + tile[63u - local.x];
        workgroupBarrier();
    }
    output[local.x] = sum;
}
"#;
    let kernel = session.compile(tiled, "main").unwrap();
    let input = session.create(&Data::F32(vec![1.0; 256])).unwrap();
    let output = session.zeroed(Element::F32, 64).unwrap();
    session
        .dispatch(&kernel, &[&input, &output], [1, 1, 1])
        .unwrap();
    assert_eq!(session.read(&output).unwrap(), Data::F32(vec![4.0; 64]));
}

#[test]
fn buffers_past_gpu_memory_are_a_limit_error() {
    let Some(mut session) = common::session_with_memory(1 << 20) else {
        return;
    };
    let a = session.zeroed(Element::F32, 200_000).unwrap();
    let e = session.zeroed(Element::F32, 100_000).unwrap_err();
    assert!(
        matches!(e, GpuError::Limit(ref m) if m.contains("gpu_memory")),
        "{e}"
    );
    session.release(&a);
    session.zeroed(Element::F32, 100_000).unwrap();
}
