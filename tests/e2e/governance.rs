//! Federated governance against a real server: policies at every lifecycle event, `deny` and
//! `warn`, waivers that expire, domain policies that cannot relax global ones, policies that
//! loop, hoard memory or error, semantic versioning that names the consumers a breaking change
//! would break, and decision records.

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_store::Role;

use crate::server::{Answer, Api, greeting_copy, hello, repackage, token};

async fn post_json(api: &Api, token: &str, uri: &str, body: Value) -> Answer {
    let request = axum::http::Request::post(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    api.call(request).await
}

fn governance(api: &Api) -> String {
    token(api.store.as_ref(), Role::Governance, None, &[])
}

/// Adds a global policy as the federation; asserts it was added.
async fn add_policy(api: &Api, fed: &str, id: &str, events: &[&str], effect: &str, rego: &str) {
    let answer = post_json(
        api,
        fed,
        "/v1/policies",
        json!({"id": id, "events": events, "effect": effect, "rego": rego}),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

fn hello_version(version: &str) -> Vec<u8> {
    repackage(&hello(), |m| {
        m.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
    })
}

const NO_EXAMPLES: &str = r#"
package tessera.no_examples
violation contains msg if {
    "example" in input.product.tags
    msg := sprintf("%s is only an example", [input.product.name])
}
"#;

#[tokio::test]
async fn a_deny_policy_refuses_with_its_id_version_and_message_and_a_warn_policy_reports() {
    let api = Api::new();
    let fed = governance(&api);
    add_policy(&api, &fed, "advice", &["deploy"], "warn", NO_EXAMPLES).await;
    let deployed = api.deploy(hello()).await;
    assert_eq!(deployed.status, StatusCode::CREATED);
    let decision = &deployed.json()["decision"];
    assert_eq!(decision["outcome"], "warned", "{decision}");
    assert_eq!(decision["warnings"][0]["policy"], "advice");
    assert_eq!(
        decision["warnings"][0]["message"],
        "hello is only an example"
    );

    add_policy(&api, &fed, "no-examples", &["deploy"], "deny", NO_EXAMPLES).await;
    // The second version of the same policy is the one in force, and is named so.
    add_policy(&api, &fed, "no-examples", &["deploy"], "deny", NO_EXAMPLES).await;
    let refused = api.deploy(hello_version("0.2.0")).await;
    let (code, message) = refused.error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "policy_denied");
    assert!(
        message.contains("no-examples@2: hello is only an example"),
        "{message}"
    );
    let body = refused.json();
    assert_eq!(
        body["error"]["violations"],
        json!([{"policy": "no-examples", "version": 2, "message": "hello is only an example"}])
    );
    // Nothing was stored.
    let versions = api.get("/v1/products/hello/versions").await.json();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");

    // Both decisions are recorded, newest first, readable per product and mesh-wide.
    let decisions = api
        .get_as(Some(&fed), "/v1/products/hello/decisions")
        .await
        .json();
    let outcomes: Vec<&str> = decisions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["denied", "warned"]);
    let denied = &decisions[0];
    assert_eq!(denied["event"], "deploy");
    assert_eq!(denied["subject"], "0.2.0");
    let verdicts: Vec<(String, u64, String)> = denied["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["policy"].as_str().unwrap().to_string(),
                v["version"].as_u64().unwrap(),
                v["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("advice".to_string(), 1, "violated".to_string()),
            ("no-examples".to_string(), 2, "violated".to_string())
        ]
    );
    let mesh = api.get_as(Some(&fed), "/v1/decisions").await.json();
    assert_eq!(mesh.as_array().unwrap().len(), 2);
    let metrics = String::from_utf8_lossy(&api.get("/metrics").await.body).into_owned();
    assert!(
        metrics.contains(r#"policy_decisions_total{event="deploy",outcome="denied"} 1"#),
        "{metrics}"
    );
    // Every version of a policy stays listed.
    let shown = api
        .get_as(Some(&fed), "/v1/policies/no-examples")
        .await
        .json();
    assert_eq!(shown.as_array().unwrap().len(), 2);
    let listed = api.get_as(Some(&fed), "/v1/policies").await.json();
    assert_eq!(listed[1]["versions"], json!([1, 2]), "{listed}");
}

#[tokio::test]
async fn a_waiver_lets_one_product_through_until_it_expires() {
    let api = Api::new();
    let fed = governance(&api);
    add_policy(&api, &fed, "no-examples", &["deploy"], "deny", NO_EXAMPLES).await;
    api.deploy(hello())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    // Only the federation grants waivers.
    let owner = token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    let waiver = json!({"policy": "no-examples", "product": "hello",
                        "reason": "the platform's own smoke test", "expires_in": "2s"});
    post_json(&api, &owner, "/v1/waivers", waiver.clone())
        .await
        .error(StatusCode::FORBIDDEN);
    let granted = post_json(&api, &fed, "/v1/waivers", waiver).await;
    assert_eq!(granted.status, StatusCode::CREATED);
    let waiver_id = granted.json()["id"].as_str().unwrap().to_string();

    let deployed = api.deploy(hello()).await;
    assert_eq!(deployed.status, StatusCode::CREATED);
    let decisions = api
        .get_as(Some(&fed), "/v1/products/hello/decisions")
        .await
        .json();
    let used = &decisions[0]["verdicts"][0];
    assert_eq!(used["result"], "waived");
    assert_eq!(used["waiver"], waiver_id.as_str());
    assert_eq!(decisions[0]["outcome"], "allowed");

    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    api.deploy(hello_version("0.2.0"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    let listed = api.get_as(Some(&fed), "/v1/waivers").await.json();
    assert_eq!(listed[0]["expired"], true);
}

#[tokio::test]
async fn a_domain_policy_adds_rules_but_never_relaxes_a_global_one() {
    let api = Api::new();
    let fed = governance(&api);
    let owner = token(api.store.as_ref(), Role::Owner, Some("examples"), &[]);
    let stranger = token(api.store.as_ref(), Role::Owner, Some("imaging"), &[]);
    add_policy(&api, &fed, "no-examples", &["deploy"], "deny", NO_EXAMPLES).await;

    // An owner cannot write global policies, another domain's, or a global policy's id.
    let permissive = "package tessera.anything_goes\nviolation := set()\n";
    post_json(
        &api,
        &owner,
        "/v1/policies",
        json!({"id": "anything-goes", "events": ["deploy"], "effect": "deny", "rego": permissive}),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    post_json(
        &api,
        &stranger,
        "/v1/policies",
        json!({"id": "theirs", "domain": "examples", "events": ["deploy"], "effect": "deny", "rego": permissive}),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    let (code, _) = post_json(
        &api,
        &owner,
        "/v1/policies",
        json!({"id": "no-examples", "domain": "examples", "events": ["deploy"], "effect": "deny",
               "enabled": false, "rego": permissive}),
    )
    .await
    .error(StatusCode::CONFLICT);
    assert_eq!(code, "conflict");
    // Its own domain's policy is accepted, and says nothing can pass; the global one still
    // refuses.
    let added = post_json(
        &api,
        &owner,
        "/v1/policies",
        json!({"id": "anything-goes", "domain": "examples", "events": ["deploy"], "effect": "deny", "rego": permissive}),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let (_, message) = api
        .deploy(hello())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("no-examples@1"), "{message}");
    // A domain policy that adds a rule refuses products of its domain only.
    let strict = r#"
package tessera.examples_describe_inputs
violation contains msg if {
    some port in input.proposed.inputs
    port.description == ""
    msg := sprintf("input `%s` has no description", [port.name])
}
"#;
    let added = post_json(
        &api,
        &owner,
        "/v1/policies",
        json!({"id": "describe-inputs", "domain": "imaging", "events": ["deploy"], "effect": "deny", "rego": strict}),
    )
    .await;
    added.error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn policies_apply_at_activate_publish_grant_and_ingest() {
    let api = Api::new();
    let fed = governance(&api);
    assert_eq!(api.deploy(hello()).await.status, StatusCode::CREATED);

    // activate: version 0.2.0 is deployed without activation, then refused activation.
    add_policy(
        &api,
        &fed,
        "frozen",
        &["activate"],
        "deny",
        r#"package tessera.frozen
violation contains msg if {
    input.current.product.version == "0.1.0"
    msg := sprintf("%s stays at %s", [input.product.name, input.current.product.version])
}"#,
    )
    .await;
    let staged = api
        .post("/v1/products?activate=false", hello_version("0.2.0"))
        .await;
    assert_eq!(staged.status, StatusCode::CREATED);
    let (code, message) = api
        .post("/v1/products/hello/versions/0.2.0/activate", Vec::new())
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "policy_denied");
    assert!(
        message.contains("frozen@1: hello stays at 0.1.0"),
        "{message}"
    );

    // ingest: the push's size and schema are in the input, its rows are not.
    add_policy(
        &api,
        &fed,
        "small-pushes",
        &["ingest"],
        "deny",
        r#"package tessera.small_pushes
violation contains msg if {
    input.ingest.bytes > 20
    msg := sprintf("a push of %d bytes into %s is too big", [input.ingest.bytes, input.ingest.port])
}"#,
    )
    .await;
    let big = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            "name\nAda\nGrace\nZoë\nMargaret\n",
        )
        .await;
    let (_, message) = big.error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("too big"), "{message}");
    let versions = api
        .get("/v1/products/hello/inputs/people/versions")
        .await
        .json();
    assert_eq!(
        versions.as_array().map(Vec::len),
        Some(0),
        "nothing was stored"
    );

    // publish: the run's outputs and statistics are in the input; a denial quarantines.
    add_policy(
        &api,
        &fed,
        "one-greeting",
        &["publish"],
        "deny",
        r#"package tessera.one_greeting
violation contains msg if {
    input.run.rows.greetings > 1
    msg := sprintf("%d greetings, and %d distinct names", [input.run.rows.greetings, input.run.stats.greetings.columns[0].distinct])
}"#,
    )
    .await;
    let pushed = api
        .post_data(
            "/v1/products/hello/inputs/people",
            "text/csv",
            &[],
            "name\nAda\nBo\n",
        )
        .await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let runs = api.settled_runs("hello", 1).await;
    assert_eq!(runs[0]["state"], "quarantined", "{runs:?}");
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("one-greeting@1: 2 greetings, and 2 distinct names"),
        "{reason}"
    );
    let read = api.get("/v1/products/hello/outputs/greetings").await;
    assert_ne!(read.status, StatusCode::OK, "nothing was published");

    // grant: a token for a restricted port.
    let restricted = repackage(&hello_version("0.3.0"), |m| {
        m.replace(
            "name = \"greetings\"",
            "name = \"greetings\"\naccess = \"restricted\"",
        )
    });
    add_policy(
        &api,
        &fed,
        "grants-expire",
        &["grant"],
        "deny",
        r#"package tessera.grants_expire
violation contains msg if {
    input.grant.access == "restricted"
    input.grant.expires_at == null
    msg := sprintf("a grant of %s must expire", [input.grant.port])
}"#,
    )
    .await;
    // The frozen policy stops activation of anything but 0.1.0's successors: retire it.
    let retire = post_json(
        &api,
        &fed,
        "/v1/policies",
        json!({"id": "frozen", "events": ["activate"], "effect": "deny", "enabled": false,
               "rego": "package tessera.frozen\nviolation := set()\n"}),
    )
    .await;
    assert_eq!(retire.status, StatusCode::CREATED);
    assert_eq!(api.deploy(restricted).await.status, StatusCode::CREATED);
    let forever = post_json(
        &api,
        &api.admin,
        "/v1/tokens",
        json!({"role": "reader", "grants": ["hello/greetings"]}),
    )
    .await;
    let (_, message) = forever.error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        message.contains("a grant of hello/greetings must expire"),
        "{message}"
    );
    let expiring = post_json(
        &api,
        &api.admin,
        "/v1/tokens",
        json!({"role": "reader", "grants": ["hello/greetings"], "expires_in": "7d"}),
    )
    .await;
    assert_eq!(expiring.status, StatusCode::CREATED);

    let decisions = api
        .get_as(Some(&fed), "/v1/decisions?limit=1000")
        .await
        .json();
    let mut events: Vec<&str> = decisions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    events.sort_unstable();
    events.dedup();
    assert_eq!(events, ["activate", "grant", "ingest", "publish"]);
}

#[tokio::test]
async fn a_policy_that_hoards_memory_loops_or_errors_fails_alone_and_refuses() {
    let api = Api::new();
    let fed = governance(&api);
    let cases = [
        (
            "hoard",
            "package tessera.hoard\nviolation contains msg if {\n    xs := numbers.range(1, 100000000000)\n    count(xs) > 0\n    msg := \"never\"\n}\n",
        ),
        (
            "double",
            "package tessera.double\nviolation contains msg if {\n    a := concat(\"\", [\"xxxxxxxxxxxxxxxx\", \"xxxxxxxxxxxxxxxx\"])\n    b := concat(\"\", [a, a, a, a, a, a, a, a])\n    c := concat(\"\", [b, b, b, b, b, b, b, b])\n    d := concat(\"\", [c, c, c, c, c, c, c, c])\n    e := concat(\"\", [d, d, d, d, d, d, d, d])\n    f := concat(\"\", [e, e, e, e, e, e, e, e])\n    g := concat(\"\", [f, f, f, f, f, f, f, f])\n    h := concat(\"\", [g, g, g, g, g, g, g, g])\n    i := concat(\"\", [h, h, h, h, h, h, h, h])\n    count(i) > 0\n    msg := \"never\"\n}\n",
        ),
        (
            "spin",
            "package tessera.spin\nviolation contains msg if {\n    some a in numbers.range(1, 3000)\n    some b in numbers.range(1, 3000)\n    some c in numbers.range(1, 3000)\n    a + b + c < 0\n    msg := \"never\"\n}\n",
        ),
        (
            "broken",
            "package tessera.broken\nv := 1 if true\nv := 2 if true\nviolation contains msg if {\n    v > 0\n    msg := \"conflict\"\n}\n",
        ),
    ];
    for (id, rego) in cases {
        add_policy(&api, &fed, id, &["deploy"], "deny", rego).await;
    }
    let started = std::time::Instant::now();
    let refused = api.deploy(hello()).await;
    let (code, _) = refused.error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "policy_denied");
    let body = refused.json();
    let failed: Vec<&str> = body["error"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["policy"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["broken", "double", "hoard", "spin"], "{body}");
    let reason = |policy: &str| -> String {
        body["error"]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["policy"] == policy)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason("hoard").contains("ran out of memory"), "{body}");
    assert!(reason("double").contains("ran out of memory"), "{body}");
    assert!(reason("spin").contains("time limit"), "{body}");
    assert!(reason("broken").contains("conflicts"), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the evaluation is bounded"
    );
    // The server carries on, and a policy that is not Rego, or has no `violation`, is refused
    // when it is added.
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    for rego in [
        "package tessera.x\nviolation contains msg if {",
        "package tessera.x\nallow := true\n",
        &format!(
            "package tessera.x\nviolation := {}{}\n",
            "[".repeat(30_000),
            "]".repeat(30_000)
        ),
    ] {
        let (code, _) = post_json(
            &api,
            &fed,
            "/v1/policies",
            json!({"id": "x", "events": ["deploy"], "effect": "deny", "rego": rego}),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
        assert_eq!(code, "bad_request");
    }
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_breaking_change_in_a_minor_release_is_refused_naming_its_consumers() {
    let api = Api::new();
    assert_eq!(
        api.deploy(hello_version("1.0.0")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.deploy(greeting_copy()).await.status,
        StatusCode::CREATED
    );
    let drop_greeting = |version: &str| {
        repackage(&hello_version(version), |m| {
            m.replace(
                ", greeting = { type = \"text\", required = true } }",
                ", greeting = \"text\" }",
            )
        })
    };
    let (code, message) = api
        .deploy(drop_greeting("1.1.0"))
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code, "breaking_change");
    assert!(
        message.contains("column `greetings.greeting` is no longer required"),
        "{message}"
    );
    assert!(
        message.contains("greeting-copy (owner platform-team@example.org, input `rows`)"),
        "{message}"
    );
    // A compatible change in a minor release, and the breaking one in a major, are accepted.
    let add_column = repackage(&hello_version("1.1.0"), |m| {
        m.replace(
            ", greeting = { type = \"text\", required = true } }",
            ", greeting = { type = \"text\", required = true }, extra = \"text\" }",
        )
    });
    assert_eq!(api.deploy(add_column).await.status, StatusCode::CREATED);
    assert_eq!(
        api.deploy(drop_greeting("2.0.0")).await.status,
        StatusCode::CREATED
    );
}

/// Validates documents with `tests/validate_schema.py` against one of the official schemas in
/// `../shared/schemas/`.
fn validate(schema: &str, documents: &[(String, Value)]) {
    let root = tessera_tests::workspace();
    let schema = root.join("../shared/schemas").join(schema);
    assert!(schema.exists(), "{} is missing", schema.display());
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, document) in documents {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, document.to_string()).unwrap();
        paths.push(path);
    }
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/validate_schema.py"))
        .arg(&schema)
        .args(&paths)
        .output()
        .expect("python3 runs (the tests need it with the jsonschema package)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_demo_product_is_a_valid_odps_document_and_every_port_a_valid_odcs_contract() {
    let api = Api::new();
    for product in tessera_cli::demo::PRODUCTS {
        let wasm = std::fs::read(tessera_tests::built(&format!("products/{product}"))).unwrap();
        assert_eq!(
            api.deploy(wasm).await.status,
            StatusCode::CREATED,
            "{product}"
        );
    }
    let mut products = Vec::new();
    let mut contracts = Vec::new();
    for product in tessera_cli::demo::PRODUCTS {
        let odps = api
            .get(&format!("/v1/products/{product}/odps"))
            .await
            .json();
        assert_eq!(odps["id"], product);
        assert_eq!(odps["status"], "active");
        for port in odps["outputPorts"].as_array().unwrap() {
            let name = port["name"].as_str().unwrap();
            let contract = api
                .get(&format!("/v1/products/{product}/outputs/{name}/contract"))
                .await
                .json();
            assert_eq!(
                contract["id"], port["contractId"],
                "the descriptor names the contract"
            );
            // YAML says the same as JSON.
            let yaml = api
                .get(&format!(
                    "/v1/products/{product}/outputs/{name}/contract?format=yaml"
                ))
                .await;
            assert_eq!(
                yaml.header(axum::http::header::CONTENT_TYPE),
                "application/yaml"
            );
            let parsed: Value = yaml_serde::from_slice(&yaml.body).unwrap();
            assert_eq!(parsed, contract);
            contracts.push((format!("{product}-{name}"), contract));
        }
        products.push((product.to_string(), odps));
    }
    validate("odps-json-schema-v1.0.0.json", &products);
    validate("odcs-json-schema-v3.1.0.json", &contracts);

    // What the contract says comes from the manifest: labeled-studies' consensus port.
    let consensus = contracts
        .iter()
        .find(|(name, _)| name == "labeled-studies-consensus")
        .map(|(_, c)| c)
        .unwrap();
    let study_id = consensus["schema"][0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "study_id")
        .unwrap();
    assert_eq!(study_id["logicalType"], "string");
    assert_eq!(study_id["required"], true);
    let metrics: Vec<&str> = study_id["quality"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["metric"].as_str())
        .collect();
    assert_eq!(metrics, ["duplicateValues"]);
    assert_eq!(
        consensus["slaProperties"][0],
        json!({"property": "frequency", "value": 24.0, "unit": "h",
               "description": "a new version is published at least this often (the freshness SLO)"})
    );
    let table_rules = consensus["schema"][0]["quality"].as_array().unwrap();
    assert!(
        table_rules
            .iter()
            .any(|q| q["metric"] == "rowCount" && q["mustBeGreaterOrEqualTo"] == 1),
        "{table_rules:?}"
    );
}

/// A federation rule over the deprecation an owner gives: a new major needs 30 days.
const THIRTY_DAY_DEPRECATION: &str = r#"
package tessera.deprecation
violation contains msg if {
    input.diff.release == "major"
    count(input.consumers) > 0
    not input.deprecation.days >= 30
    msg := sprintf("%s %s replaces a major that consumers read; give it a deprecation of 30 days or more", [input.product.name, input.diff.to])
}
"#;

#[tokio::test]
async fn a_policy_reads_the_deprecation_an_owner_gives_a_new_major() {
    let api = Api::new();
    let fed = governance(&api);
    api.deploy(hello_version("1.0.0")).await;
    let reader = repackage(&crate::server::greeting_copy(), |m| {
        m.replace("from = \"hello/greetings\"", "from = \"hello/greetings@1\"")
    });
    assert_eq!(api.deploy(reader).await.status, StatusCode::CREATED);
    add_policy(
        &api,
        &fed,
        "thirty-day-deprecation",
        &["deploy"],
        "deny",
        THIRTY_DAY_DEPRECATION,
    )
    .await;
    let two = hello_version("2.0.0");
    for short in ["", "?deprecate_after=7d"] {
        let (code, message) = api
            .post(&format!("/v1/products{short}"), two.clone())
            .await
            .error(StatusCode::UNPROCESSABLE_ENTITY);
        // Without a deprecation the host refuses first; with a short one the policy does.
        let expected = if short.is_empty() {
            "pinned_consumers"
        } else {
            "policy_denied"
        };
        assert_eq!(code, expected, "{message}");
    }
    let answer = api.post("/v1/products?deprecate_after=45d", two).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        tessera_store::Store::retained_majors(api.store.as_ref(), "hello")
            .unwrap()
            .len(),
        1
    );
}
