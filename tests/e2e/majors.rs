//! Major versions side by side: a new major replaces the active version for unpinned
//! consumers while the old major keeps running for the consumers that pin it, until its
//! deprecation date; the catalog names who is still on it.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use tessera_server::config::{SchedulerConfig, ServerConfig};
use tessera_store::{RetainedMajor, Store, now_us};

use crate::server::{Api, config, greeting_copy, hello, repackage};

fn quick_scheduler() -> ServerConfig {
    ServerConfig {
        scheduler: SchedulerConfig {
            debounce: Duration::from_millis(10),
            max_delay: Duration::from_secs(10),
            ..SchedulerConfig::default()
        },
        ..config()
    }
}

/// hello at `version`, with its greetings' `greeting` column made optional when `nullable`
/// (a breaking change: readers may now see nulls).
fn hello_at(version: &str, nullable: bool) -> Vec<u8> {
    repackage(&hello(), |m| {
        let m = m.replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
        if nullable {
            m.replace(
                "greeting = { type = \"text\", required = true }",
                "greeting = { type = \"text\" }",
            )
        } else {
            m
        }
    })
}

/// The identity product named `name`, copying `from`.
fn reader(name: &str, from: &str) -> Vec<u8> {
    repackage(&greeting_copy(), |m| {
        m.replace("name = \"greeting-copy\"", &format!("name = \"{name}\""))
            .replace("from = \"hello/greetings\"", &format!("from = \"{from}\""))
    })
}

/// The input version the newest succeeded run of `product` read from its `rows` input.
async fn newest_read(api: &Api, product: &str, count: usize) -> u64 {
    let runs = api.settled_runs(product, count).await;
    let run = runs
        .iter()
        .find(|r| r["state"] == "succeeded")
        .unwrap_or_else(|| panic!("{product} never succeeded: {runs:?}"));
    run["inputs"]["rows"]["version"].as_u64().unwrap()
}

fn product_version_of(api: &Api, number: u64) -> String {
    api.store
        .version("hello", number)
        .unwrap()
        .unwrap()
        .product_version
}

#[tokio::test]
async fn a_new_major_keeps_pinned_consumers_on_the_old_one_until_its_deprecation() {
    let api = Api::with_config(quick_scheduler());
    assert_eq!(
        api.deploy(hello_at("1.0.0", false)).await.status,
        StatusCode::CREATED
    );
    for (name, from) in [
        ("pinned", "hello/greetings@1"),
        ("follower", "hello/greetings"),
    ] {
        let answer = api.deploy(reader(name, from)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    }
    api.ingest_people("name,language\nAda,en\n").await;
    api.settled_runs("hello", 1).await;
    assert_eq!(newest_read(&api, "pinned", 1).await, 1);
    assert_eq!(newest_read(&api, "follower", 1).await, 1);

    // A breaking change in a new major, while `pinned` pins 1: refused without a deprecation,
    // naming the pinned consumer and not the unpinned one.
    let two = hello_at("2.0.0", true);
    let (code, message) = api
        .deploy(two.clone())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "pinned_consumers");
    assert!(message.contains("pinned (input `rows`)"), "{message}");
    assert!(!message.contains("follower"), "{message}");
    assert_eq!(api.store.active("hello").unwrap().as_deref(), Some("1.0.0"));
    // A deprecation that is not a duration is a 400.
    let (_, message) = api
        .post("/v1/products?deprecate_after=soon", two.clone())
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(message.contains("deprecate_after"), "{message}");

    // With a deprecation, 2.0.0 becomes active and 1.x is retained for `pinned`.
    let before = now_us();
    let answer = api
        .post("/v1/products?deprecate_after=30d", two.clone())
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    assert_eq!(api.store.active("hello").unwrap().as_deref(), Some("2.0.0"));
    let descriptor = api.get("/v1/products/hello").await.json();
    let retained = descriptor["retained_majors"].as_array().unwrap();
    assert_eq!(retained.len(), 1, "{descriptor}");
    assert_eq!(retained[0]["major"], 1);
    assert_eq!(retained[0]["version"], "1.0.0");
    assert_eq!(retained[0]["retired"], false);
    assert_eq!(
        retained[0]["consumers"],
        serde_json::json!(["pinned (input `rows`)"])
    );
    let line = api.store.retained_majors("hello").unwrap();
    let thirty_days = 30 * 24 * 3600 * 1_000_000i64;
    assert!(
        line[0].deprecation_us >= before + thirty_days
            && line[0].deprecation_us <= now_us() + thirty_days,
        "{line:?}"
    );

    // New data runs both majors: 2.x publishes the current version, 1.x a version of its
    // own; the pinned consumer reads 1.x's, the unpinned one 2.x's.
    api.ingest_people("name,language\nGrace,en\n").await;
    let runs = api.settled_runs("hello", 3).await;
    let mut ran: Vec<(&str, Option<u64>)> = runs
        .iter()
        .take(2)
        .filter(|r| r["state"] == "succeeded")
        .filter_map(|r| Some((r["product_version"].as_str()?, r["retained_major"].as_u64())))
        .collect();
    ran.sort();
    assert_eq!(ran, [("1.0.0", Some(1)), ("2.0.0", None)], "{runs:?}");
    let current = api.store.current_version("hello").unwrap().unwrap();
    assert_eq!(current.product_version, "2.0.0");
    let of_one = api.store.current_of_major("hello", 1).unwrap().unwrap();
    assert_eq!(of_one.product_version, "1.0.0");
    assert!(of_one.number > 1, "1.x published again: {of_one:?}");
    let pinned_read = newest_read(&api, "pinned", 2).await;
    assert_eq!(pinned_read, of_one.number);
    assert_eq!(product_version_of(&api, pinned_read), "1.0.0");
    let follower_read = newest_read(&api, "follower", 2).await;
    assert_eq!(follower_read, current.number);
    assert_eq!(product_version_of(&api, follower_read), "2.0.0");
    // Consumers outside the mesh read a major by number; unpinned reads get the active one's.
    let by_major: Vec<Value> = api
        .get("/v1/products/hello/outputs/greetings?major=1&format=json")
        .await
        .json()
        .as_array()
        .cloned()
        .unwrap();
    let names: Vec<&str> = by_major.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["Ada", "Grace"]);
    let (_, message) = api
        .get("/v1/products/hello/outputs/greetings?major=7")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(message.contains("major version 7"), "{message}");

    // Rolling back to 1.0.0 ends the retention: 1 is the active major again.
    let answer = api
        .post("/v1/products/hello/versions/1.0.0/activate", Vec::new())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
    assert!(api.store.retained_majors("hello").unwrap().is_empty());

    // Past its deprecation date a retained major no longer runs, and no new consumer may pin
    // it; what it published last stays readable.
    let retired = RetainedMajor {
        major: 1,
        version: "1.0.0".into(),
        deprecation_us: now_us() - 1,
        retained_at_us: now_us() - 2,
    };
    api.store
        .activate("hello", "2.0.0", std::slice::from_ref(&retired))
        .unwrap();
    api.state.forget_view("hello");
    let descriptor = api.get("/v1/products/hello").await.json();
    assert_eq!(descriptor["retained_majors"][0]["retired"], true);
    let hello_runs = api.settled_runs("hello", 3).await.len();
    api.ingest_people("name,language\nZoë,fr\n").await;
    let runs = api.settled_runs("hello", hello_runs + 1).await;
    assert_eq!(
        runs.len(),
        hello_runs + 1,
        "only the active version ran: {runs:?}"
    );
    assert_eq!(runs[0]["product_version"], "2.0.0");
    let (code, message) = api
        .deploy(reader("late", "hello/greetings@1"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "unknown_upstream");
    assert!(message.contains("hello is 2.0.0"), "{message}");
    assert_eq!(
        api.get("/v1/products/hello/outputs/greetings?major=1")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_product_keeps_at_most_three_earlier_majors_running() {
    let api = Api::new();
    for major in 1..=4u64 {
        let answer = api
            .post(
                "/v1/products?deprecate_after=30d",
                hello_at(&format!("{major}.0.0"), false),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
        let name = format!("pinned-{major}");
        let answer = api
            .deploy(reader(&name, &format!("hello/greetings@{major}")))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json());
    }
    let kept: Vec<u64> = api
        .store
        .retained_majors("hello")
        .unwrap()
        .iter()
        .map(|line| line.major)
        .collect();
    assert_eq!(kept, [1, 2, 3]);
    let (code, message) = api
        .post("/v1/products?deprecate_after=30d", hello_at("5.0.0", false))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "too_many_majors");
    assert!(message.contains("1.x, 2.x, 3.x"), "{message}");
    assert_eq!(api.store.active("hello").unwrap().as_deref(), Some("4.0.0"));
}
