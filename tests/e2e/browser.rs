//! The web UI in a real browser over the demo mesh: `tests/browser_pages.py` drives Debian's
//! Chromium with Playwright against a real server (see that script for what it checks).
//! Screenshots are kept in `target/web-screenshots`.

use serde_json::json;
use tessera_cli::client::Client;
use tessera_cli::demo::run_pipeline;
use tessera_demo_data::DemoData;
use tessera_server::ServerConfig;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_mesh_is_browsable_in_chromium() {
    let _alone = crate::WHOLE_MESH.lock().await;
    let root = tessera_tests::workspace();
    let components = tessera_tests::demo_components();
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
        tessera_tests::python_script(
            "python3".as_ref(),
            "browser_pages.py",
            &given.to_string(),
            "playwright and altair",
        )
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
