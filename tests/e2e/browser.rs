//! The web UI in a real browser over the demo mesh: `tests/browser_pages.py` drives Debian's
//! Chromium with Playwright against a real server (see that script for what it checks).
//! Screenshots are kept in `target/web-screenshots`.

use serde_json::json;
use tessera_cli::client::Client;
use tessera_cli::demo::{PRODUCTS, run_pipeline};
use tessera_demo_data::DemoData;
use tessera_server::ServerConfig;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_mesh_is_browsable_in_chromium() {
    let _alone = crate::WHOLE_MESH.lock().await;
    let root = tessera_tests::workspace();
    let components: Vec<_> = PRODUCTS
        .iter()
        .map(|p| tessera_tests::built(&format!("products/{p}")))
        .collect();
    let data = DemoData::generate(&root.join("examples/data")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    })
    .await;
    let base = format!("http://{addr}");
    let deployer = admin.clone();
    let pipeline = base.clone();
    tokio::task::spawn_blocking(move || {
        let client = Client::new(&pipeline, Some(deployer)).unwrap();
        let report = run_pipeline(&client, &components, &data).unwrap();
        for p in &report.products {
            assert_eq!(p.state, "succeeded", "{p:?}");
        }
    })
    .await
    .unwrap();

    let given = json!({
        "base": base,
        "admin": admin,
        "screenshots": root.join("target/web-screenshots"),
    });
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("python3")
            .arg(root.join("tests/browser_pages.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (the tests need it with playwright and altair)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(given.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser found a problem:\n{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        printed.lines().filter(|l| l.starts_with("ok ")).count(),
        12,
        "{printed}"
    );
}
