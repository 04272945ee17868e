//! Deploy-time validation: files that are not products are refused with a message that says
//! what is wrong. The components are tiny WAT fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tessera_core::manifest::Manifest;
use tessera_runtime::{LoadError, Runtime, RuntimeConfig};

const MANIFEST: &str = r#"
[product]
name = "fixture"
domain = "testing"
version = "0.1.0"
owner = "t@example.org"
description = "a deploy fixture"
kind = "source-aligned"

[[outputs]]
name = "out"
schema = { x = "int64" }
"#;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_runs: 1,
        ..Default::default()
    })
    .unwrap()
}

fn manifest() -> Manifest {
    Manifest::parse(MANIFEST, "product.toml").unwrap()
}

fn load(bytes: &[u8]) -> LoadError {
    match runtime().load_with_manifest(bytes, manifest()) {
        Ok(_) => panic!("the fixture should have been refused"),
        Err(e) => e,
    }
}

/// A component exporting `run: func()`, the wrong signature; `imports` are spliced in.
fn component(imports: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            {imports}
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (export "run" (func $f)))"#
    ))
    .unwrap()
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let e = load(b"PK\x03\x04 a zip file, not a product");
    assert!(e.to_string().contains("not a WebAssembly file"), "{e}");
}

#[test]
fn a_core_module_is_refused() {
    let e = load(&wat::parse_str("(module (func (export \"run\")))").unwrap());
    assert!(
        e.to_string()
            .contains("core WebAssembly module, not a component"),
        "{e}"
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    let e = load(&wat::parse_str("(component)").unwrap());
    assert!(
        e.to_string()
            .contains("does not target the tessera:product/product world"),
        "{e}"
    );
}

#[test]
fn an_import_the_host_does_not_provide_is_refused() {
    let e = load(&component(r#"(import "evil:net/socket@1.0.0" (instance))"#));
    assert!(
        e.to_string()
            .contains("imports `evil:net/socket@1.0.0`, which the host does not provide"),
        "{e}"
    );
    let e = load(&component(
        r#"(import "wasi:http/outgoing-handler@0.2.6" (instance))"#,
    ));
    assert!(e.to_string().contains("wasi:http/outgoing-handler"), "{e}");
}

#[test]
fn a_run_export_of_the_wrong_type_is_refused() {
    let e = load(&component(""));
    assert!(matches!(e, LoadError::Invalid(_)));
    assert!(
        e.to_string()
            .contains("does not match the tessera:product/product world"),
        "{e}"
    );
}

#[test]
fn a_component_without_an_embedded_manifest_is_refused() {
    let e = match runtime().load(&component("")) {
        Ok(_) => panic!("should be refused"),
        Err(e) => e,
    };
    assert!(matches!(e, LoadError::Manifest(_)));
    assert!(e.to_string().contains("carries no manifest"), "{e}");
}

#[test]
fn a_manifest_over_the_hosts_memory_cap_is_refused() {
    let runtime = Runtime::new(RuntimeConfig {
        max_memory: 256 << 20,
        max_concurrent_runs: 1,
        ..Default::default()
    })
    .unwrap();
    let text = MANIFEST.replace(
        "kind = \"source-aligned\"",
        "kind = \"source-aligned\"\n\n[resources]\nmemory = \"1GiB\"",
    );
    let e = match runtime.load_with_manifest(
        &component(""),
        Manifest::parse(&text, "product.toml").unwrap(),
    ) {
        Ok(_) => panic!("should be refused"),
        Err(e) => e,
    };
    assert!(matches!(e, LoadError::Limits(_)));
    assert!(
        e.to_string().contains("1GiB") && e.to_string().contains("256MiB"),
        "{e}"
    );
}
