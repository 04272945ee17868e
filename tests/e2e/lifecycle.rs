//! A product's lifecycle against an owner of another domain, a consumer who reads old versions,
//! and deploys that race each other.

use axum::http::StatusCode;
use tessera_core::package;
use tessera_store::{Role, Store};

use crate::server::{Api, hello, repackage, token};

/// `hello` at another version (and optionally another domain).
fn hello_as(version: &str, domain: &str) -> Vec<u8> {
    repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
            .replace("domain = \"examples\"", &format!("domain = \"{domain}\""))
    })
}

#[tokio::test]
async fn an_owner_of_another_domain_cannot_take_a_product_over() {
    let api = Api::new();
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);
    let intruder = token(api.store.as_ref(), Role::Owner, Some("intruders"), &[]);
    // The upload says it belongs to the intruder's own domain.
    let (_, message) = api
        .post_as(
            Some(&intruder),
            "/v1/products",
            hello_as("0.2.0", "intruders"),
        )
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(message.contains("examples"), "{message}");
    assert_eq!(
        api.store.active("hello").unwrap().as_deref(),
        Some("0.1.0"),
        "nothing was activated"
    );
    assert_eq!(api.store.deployments("hello").unwrap().len(), 1);
    // The domain's own owner cannot move it either; an admin can, on purpose.
    let owner = token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    api.post_as(Some(&owner), "/v1/products", hello_as("0.2.0", "intruders"))
        .await
        .error(StatusCode::FORBIDDEN);
    api.post("/v1/products", hello_as("0.2.0", "intruders"))
        .await
        .error(StatusCode::FORBIDDEN);
    let moved = api
        .post(
            "/v1/products?move_domain=true",
            hello_as("0.2.0", "intruders"),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CREATED);
    // A new version in the same domain is the owner's to deploy.
    let again = api
        .post_as(
            Some(&intruder),
            "/v1/products",
            hello_as("0.3.0", "intruders"),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_version_is_read_under_the_access_it_was_published_with() {
    let api = Api::new();
    let restricted = repackage(&hello(), |m| {
        m.replace(
            "name = \"greetings\"",
            "name = \"greetings\"\naccess = \"restricted\"",
        )
    });
    assert_eq!(api.deploy(restricted).await.status, StatusCode::CREATED);
    let pushed = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            "name\nAda\n",
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs[0]["state"], "succeeded", "{runs:?}");
    // Version 0.2.0 makes the port public.
    assert_eq!(
        api.deploy(hello_as("0.2.0", "examples")).await.status,
        StatusCode::CREATED
    );
    let url = "/v1/products/hello/outputs/greetings";
    api.get_as(None, &format!("{url}?version=1"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    api.get_as(None, url).await.error(StatusCode::UNAUTHORIZED);
    let reader = token(api.store.as_ref(), Role::Reader, None, &[]);
    api.get_as(Some(&reader), &format!("{url}?version=1"))
        .await
        .error(StatusCode::FORBIDDEN);
    assert_eq!(
        api.get_as(Some(&api.admin), &format!("{url}?version=1"))
            .await
            .status,
        StatusCode::OK,
        "the admin still reads it"
    );
}

/// A product that copies `rows`, read from `from` (another product's `copy`) or ingested.
fn copier(name: &str, version: &str, from: Option<&str>) -> Vec<u8> {
    let wasm = std::fs::read(tessera_tests::built("examples/identity")).unwrap();
    let input = match from {
        Some(upstream) => format!("from = \"{upstream}/copy\""),
        None => "ingest = { a = \"float64\", b = \"float64\", c = \"float64\", label = \"text\" }"
            .to_string(),
    };
    let manifest = format!(
        r#"
[product]
name = "{name}"
domain = "benchmarks"
version = "{version}"
owner = "platform-team@example.org"
description = "Copies its rows"
kind = "aggregate"

[resources]
memory = "64MiB"
timeout = "10s"

[[inputs]]
name = "rows"
{input}

[[outputs]]
name = "copy"
schema = {{ a = "float64", b = "float64", c = "float64", label = "text" }}
"#
    );
    package::embed(&wasm, &manifest, None).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deploys_cannot_close_a_cycle_together() {
    for round in 0..5 {
        let api = std::sync::Arc::new(Api::new());
        for name in ["left", "right"] {
            assert_eq!(
                api.deploy(copier(name, "1.0.0", None)).await.status,
                StatusCode::CREATED
            );
        }
        // Each alone is fine; together they would make left → right → left.
        let (a, b) = tokio::join!(
            {
                let api = api.clone();
                tokio::spawn(
                    async move { api.deploy(copier("left", "1.1.0", Some("right"))).await },
                )
            },
            {
                let api = api.clone();
                tokio::spawn(
                    async move { api.deploy(copier("right", "1.1.0", Some("left"))).await },
                )
            },
        );
        let mut statuses = [a.unwrap().status, b.unwrap().status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
    }
}
