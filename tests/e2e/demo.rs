//! The demo mesh end to end: the five products deployed to a real server, the demo data
//! pushed over HTTP, the DAG left to run. Every product must publish with its checks passing,
//! and the key figures must equal values computed here, independently of the products.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tessera_cli::client::Client;
use tessera_cli::demo::{PRODUCTS, run_pipeline};
use tessera_demo_data::DemoData;
use tessera_demo_data::cancer::Split;
use tessera_server::ServerConfig;

use crate::products::expected_consensus;

fn rows(client: &Client, product: &str, port: &str) -> Vec<Value> {
    client
        .get_json(&format!(
            "/v1/products/{product}/outputs/{port}?format=json"
        ))
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{product}/{port} is not a JSON array"))
}

/// AUC by counting ordered pairs (ties count half).
fn auc_by_pairs(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (_, si) in scores.iter().enumerate().filter(|(i, _)| positive[*i]) {
        for (_, sj) in scores.iter().enumerate().filter(|(j, _)| !positive[*j]) {
            pairs += 1.0;
            wins += if si > sj {
                1.0
            } else if si == sj {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}

/// labeled-studies' Dawid-Skene posteriors, recomputed by crowd-kit's `DawidSkene` from the
/// published `counted` annotations, and its ties, counted in `tests/labeled_stats.py`: every
/// tie is flagged and listed for adjudication, and nothing else is.
fn consensus_matches_crowd_kit(client: &Client) {
    let counted: Vec<[String; 3]> = rows(client, "labeled-studies", "counted")
        .iter()
        .map(|r| ["study_id", "annotator_id", "label"].map(|c| r[c].as_str().unwrap().to_string()))
        .collect();
    let output = tessera_tests::python_script(
        "python3".as_ref(),
        "labeled_stats.py",
        &serde_json::json!({ "counted": counted }).to_string(),
        "crowd-kit",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&output.stdout).unwrap();
    let consensus = rows(client, "labeled-studies", "consensus");
    assert_eq!(
        consensus.len(),
        expected["posteriors"].as_object().unwrap().len()
    );
    let mut differ = 0;
    for row in &consensus {
        let study = row["study_id"].as_str().unwrap();
        let label = row["ds_label"].as_str().unwrap();
        let want = expected["posteriors"][study][label].as_f64().unwrap();
        let got = row["ds_posterior"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-6,
            "{study} {label}: {got} vs crowd-kit {want}"
        );
        assert!(
            got >= 0.5 - 1e-9,
            "{study}: {label} is not the most probable label"
        );
        assert_eq!(
            row["tie"],
            expected["ties"].get(study).is_some(),
            "{study}: {row}"
        );
        differ += usize::from(row["label"] != row["ds_label"]);
    }
    let adjudication = rows(client, "labeled-studies", "adjudication");
    let listed: BTreeMap<String, String> = adjudication
        .iter()
        .map(|r| {
            (
                r["study_id"].as_str().unwrap().to_string(),
                r["tied_labels"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ties: BTreeMap<String, String> = expected["ties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(s, l)| {
            let labels: Vec<&str> = l
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            (s.clone(), labels.join(","))
        })
        .collect();
    assert_eq!(listed, ties);
    eprintln!(
        "Dawid-Skene differs from the majority on {differ} of {} studies; {} ties for adjudication",
        consensus.len(),
        ties.len()
    );
}

/// shadow-models' figures, recomputed from its published predictions by scikit-learn (AUC,
/// Brier score), numpy (calibration error) and DeLong's test written from its definition with
/// scipy's normal distribution (`tests/shadow_stats.py`).
fn shadow_figures_match_scikit_learn(client: &Client) {
    let evaluation = rows(client, "shadow-models", "evaluation");
    let production = evaluation
        .iter()
        .find(|r| r["role"] == "production")
        .unwrap()["model_id"]
        .as_str()
        .unwrap()
        .to_string();
    let predictions: Vec<Value> = rows(client, "shadow-models", "predictions")
        .iter()
        .map(|r| serde_json::json!([r["sample_id"], r["model_id"], r["score"], r["diagnosis"]]))
        .collect();
    let given = serde_json::json!({
        "predictions": predictions,
        "production": production,
        "confidence": 0.95,
        "bins": 10,
    });
    let output = tessera_tests::python_script(
        "python3".as_ref(),
        "shadow_stats.py",
        &given.to_string(),
        "scikit-learn and scipy",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut compared = 0;
    for row in evaluation.iter().filter(|r| r["valid"] == true) {
        let id = row["model_id"].as_str().unwrap();
        let want = &expected[id];
        let mut columns = vec!["auc", "brier", "ece"];
        if id != production {
            columns.extend([
                "auc_difference",
                "auc_difference_low",
                "auc_difference_high",
                "p_value",
            ]);
        }
        for column in columns {
            let (got, want) = (row[column].as_f64(), want[column].as_f64());
            let (got, want) = (
                got.unwrap(),
                want.unwrap_or_else(|| panic!("{id} {column}")),
            );
            assert!((got - want).abs() < 1e-9, "{id} {column}: {got} vs {want}");
            compared += 1;
        }
        // A candidate beats production only with DeLong's interval above zero.
        if row["beats_production"] == true {
            assert!(row["auc_difference_low"].as_f64().unwrap() > 0.0, "{row}");
        }
    }
    assert!(compared >= 9, "{compared} figures compared");
}

/// annotator-quality's figures, recomputed by scikit-learn and statsmodels from what
/// `labeled-studies/counted` published and the ground truth pushed
/// (`tests/annotator_stats.py`): leave-one-out kappa with its interval, Wilson intervals of
/// sensitivity and specificity, and the panel's Fleiss' kappa; and the flags follow the
/// intervals.
fn annotator_figures_match_statsmodels(client: &Client, data: &DemoData) {
    let counted: Vec<[String; 3]> = rows(client, "labeled-studies", "counted")
        .iter()
        .map(|r| ["study_id", "annotator_id", "label"].map(|c| r[c].as_str().unwrap().to_string()))
        .collect();
    let given = serde_json::json!({
        "counted": counted,
        "truth": data.ground_truth,
        "positive": "malignant",
        "confidence": 0.95,
    });
    let output = tessera_tests::python_script(
        "python3".as_ref(),
        "annotator_stats.py",
        &given.to_string(),
        "scikit-learn and statsmodels",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&output.stdout).unwrap();
    let close = |got: &Value, want: &Value, what: &str| {
        let (got, want) = (got.as_f64(), want.as_f64());
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{what}: {g} vs {w}"),
            _ => assert_eq!(got, want, "{what}"),
        }
    };
    let annotators = rows(client, "annotator-quality", "annotators");
    assert_eq!(
        annotators.len(),
        expected["annotators"].as_object().unwrap().len()
    );
    for row in &annotators {
        let id = row["annotator_id"].as_str().unwrap();
        let want = &expected["annotators"][id];
        assert_eq!(row["compared"], want["compared"], "{id}");
        for column in ["kappa", "kappa_low", "kappa_high"] {
            close(&row[column], &want[column], &format!("{id} {column}"));
        }
        for figure in ["sensitivity", "specificity"] {
            for (i, suffix) in ["", "_low", "_high"].iter().enumerate() {
                let column = format!("{figure}{suffix}");
                close(&row[&column], &want[figure][i], &format!("{id} {column}"));
            }
        }
        // Flagged exactly when an interval lies below its threshold (the shipped parameters).
        let below = |high: &str, min: f64| row[high].as_f64().is_some_and(|h| h < min);
        let expected_flag = row["annotations"].as_i64().unwrap() >= 20
            && (below("kappa_high", 0.6)
                || below("sensitivity_high", 0.85)
                || below("specificity_high", 0.85));
        assert_eq!(row["flagged"], expected_flag, "{id}: {row}");
    }
    let by_id = |id: &str| annotators.iter().find(|r| r["annotator_id"] == id).unwrap();
    // ann-05 errs 35% of the time: flagged; ann-01 is the most reliable.
    assert_eq!(by_id("ann-05")["flagged"], true);
    assert_eq!(by_id("ann-01")["flagged"], false);
    assert_eq!(by_id("ann-01")["rank"], 1);
    let panel = rows(client, "annotator-quality", "panel");
    assert_eq!(panel.len(), 1);
    assert_eq!(panel[0]["studies"], expected["panel"]["studies"]);
    close(
        &panel[0]["fleiss_kappa"],
        &expected["panel"]["fleiss_kappa"],
        "Fleiss' kappa",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_mesh_publishes_figures_that_match_independent_computations() {
    let _alone = crate::WHOLE_MESH.lock().await;
    let root = tessera_tests::workspace();
    let components = tessera_tests::demo_components();
    let data = DemoData::generate(&root.join("examples/data")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (state, addr, admin) = tessera_tests::serve_in_process(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        // As `tessera demo` runs it: with the federation's shipped policies.
        governance: tessera_server::config::GovernanceConfig {
            library: true,
            ..Default::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let gpu = tessera_tests::gpu_available(state.runtime());
    let profiles = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let client = Client::new(&format!("http://{addr}"), Some(admin)).unwrap();
        let first = run_pipeline(&client, &components, &data).unwrap();
        for p in &first.products {
            assert_eq!(p.state, "succeeded", "{p:?}");
        }
        verify(&client, &data, gpu);
        // The same deploys and pushes again change nothing: no product runs again.
        let again = run_pipeline(&client, &components, &data).unwrap();
        let runs = |r: &tessera_cli::demo::Report| -> Vec<String> {
            r.products.iter().map(|p| p.run.clone()).collect()
        };
        assert_eq!(runs(&again), runs(&first));
        the_shipped_policies_allowed_every_deploy(&client);
        every_demo_table_reads_over_delta_sharing(&client, &profiles);
        bad_annotations_are_quarantined(&client, &data);
    })
    .await
    .unwrap();
}

/// The demo mesh follows the shipped library: every policy is installed, and every deploy of
/// every product was evaluated by all of them and allowed.
fn the_shipped_policies_allowed_every_deploy(client: &Client) {
    let policies = client.get_json("/v1/policies").unwrap();
    let ids: Vec<&str> = policies
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        tessera_governance::library::LIBRARY.len(),
        "{ids:?}"
    );
    for product in PRODUCTS {
        let decisions = client
            .get_json(&format!("/v1/products/{product}/decisions"))
            .unwrap();
        let deploys: Vec<&serde_json::Value> = decisions
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["event"] == "deploy")
            .collect();
        assert_eq!(deploys.len(), 1, "{product}: {decisions}");
        assert_eq!(
            deploys[0]["outcome"], "allowed",
            "{product}: {}",
            deploys[0]
        );
        assert_eq!(
            deploys[0]["verdicts"].as_array().unwrap().len(),
            ids.len(),
            "{product}: every policy was evaluated"
        );
    }
}

fn verify(client: &Client, data: &DemoData, gpu: bool) {
    // Every product's checks passed on its last run.
    for product in PRODUCTS {
        let metrics = client
            .get_json(&format!("/v1/products/{product}/metrics"))
            .unwrap();
        let checks = metrics["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{product} ran no checks");
        for check in checks {
            assert_eq!(check["passed"], true, "{product}: {check}");
        }
    }

    // labeled-studies: consensus from the good annotations only; the planted rows rejected.
    let good: Vec<_> = data.annotations[..data.annotations.len() - data.planted.len()].to_vec();
    let expected = expected_consensus(&good);
    let consensus = rows(client, "labeled-studies", "consensus");
    assert_eq!(consensus.len(), expected.len());
    for row in &consensus {
        let study = row["study_id"].as_str().unwrap();
        assert_eq!(row["label"].as_str().unwrap(), expected[study].0, "{study}");
    }
    let rejected: BTreeSet<(String, String, String)> = rows(client, "labeled-studies", "rejected")
        .iter()
        .map(|r| {
            (
                r["study_id"].as_str().unwrap().to_string(),
                r["annotator_id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let planted: BTreeSet<(String, String, String)> = data
        .planted
        .iter()
        .map(|(a, why)| {
            (
                a.study_id.clone(),
                a.annotator_id.clone(),
                why.reason().to_string(),
            )
        })
        .collect();
    assert_eq!(rejected, planted);

    consensus_matches_crowd_kit(client);
    annotator_figures_match_statsmodels(client, data);
    shadow_figures_match_scikit_learn(client);

    // shadow-models: AUC of the production model on the eval split, recomputed in f64.
    let production = data.models.iter().find(|m| m.role == "production").unwrap();
    let (eval_rows, labels) = data.dataset.rows(Split::Eval, &production.spec.inputs);
    let layer = &production.spec.layers[0];
    let scores: Vec<f64> = eval_rows
        .iter()
        .map(|r| {
            let z: f64 = r
                .iter()
                .zip(&production.spec.mean)
                .zip(&production.spec.scale)
                .zip(&layer.weights[0])
                .map(|(((x, m), s), w)| (x - m) / s * w)
                .sum::<f64>()
                + layer.bias[0];
            1.0 / (1.0 + (-z).exp())
        })
        .collect();
    let evaluation: BTreeMap<String, Value> = rows(client, "shadow-models", "evaluation")
        .into_iter()
        .map(|r| (r["model_id"].as_str().unwrap().to_string(), r))
        .collect();
    let published = evaluation[&production.id]["auc"].as_f64().unwrap();
    let recomputed = auc_by_pairs(&scores, &labels);
    assert!(
        (published - recomputed).abs() < 2e-3,
        "{published} vs {recomputed}"
    );

    // active-learning: the top of the queue is the pool sample the champion is least sure of.
    let champion = rows(client, "shadow-models", "champion");
    let champion_id = champion[0]["model_id"].as_str().unwrap();
    let spec = &data
        .models
        .iter()
        .find(|m| m.id == champion_id)
        .unwrap()
        .spec;
    let pool: Vec<_> = data.dataset.split(Split::Pool).collect();
    let (pool_rows, _) = data.dataset.rows(Split::Pool, &spec.inputs);
    let closest = pool_rows
        .iter()
        .map(|r| (spec.predict(r) - 0.5).abs())
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
        .0;
    let queue = rows(client, "active-learning", "queue");
    assert_eq!(queue.len(), 20);
    assert_eq!(queue[0]["sample_id"].as_str().unwrap(), pool[closest].1.id);
    // The loop is closed: no queued study has a consensus label already, none twice.
    let labeled: BTreeSet<&str> = consensus
        .iter()
        .map(|r| r["study_id"].as_str().unwrap())
        .collect();
    let mut queued = BTreeSet::new();
    for row in &queue {
        let study = row["study_id"].as_str().unwrap();
        assert!(!labeled.contains(study), "{study} is labeled, yet queued");
        assert!(queued.insert(study), "{study} queued twice");
    }

    // image-quality: every real DICOM file beside the checkout is measured or says why.
    let dicom = rows(client, "image-quality", "dicom_quality");
    assert_eq!(dicom.len(), data.dicom.len());
    assert!(data.dicom.len() >= 14, "the shared DICOM files are missing");
    for row in &dicom {
        let reason = row["reason"].as_str().unwrap();
        assert_eq!(row["measured"] == true, reason.is_empty(), "{row}");
    }
    assert!(dicom.iter().filter(|r| r["measured"] == true).count() >= 6);

    // image-quality: every planted defect flagged, no clean synthetic image flagged for one.
    let flags: HashMap<String, String> = rows(client, "image-quality", "image_quality")
        .into_iter()
        .map(|r| {
            (
                r["image_id"].as_str().unwrap().to_string(),
                r["flags"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for image in data.images.iter().filter(|i| i.source == "synthetic-xray") {
        let raised: Vec<&str> = flags[&image.id]
            .split(',')
            .filter(|f| !f.is_empty())
            .collect();
        match image.planted {
            Some(defect) => assert!(raised.contains(&defect.flag()), "{}: {raised:?}", image.id),
            None => assert!(raised.is_empty(), "{}: {raised:?}", image.id),
        }
    }
    let metrics = client
        .get_json("/v1/products/image-quality/metrics")
        .unwrap();
    let on_gpu = metrics["gauges"]["gpu"][0]["value"].as_f64().unwrap();
    assert_eq!(on_gpu, if gpu { 1.0 } else { 0.0 });
}

/// A feed of mostly unknown labels: labeled-studies rejects them, its `rejected-share` check
/// fails, the run is quarantined and the consensus consumers read does not change.
fn bad_annotations_are_quarantined(client: &Client, data: &DemoData) {
    let mut csv = String::from("study_id,annotator_id,label,confidence,annotated_at\n");
    for i in 0..2000 {
        csv.push_str(&format!(
            "study-{:04},ann-09,unsure,0.5,2026-02-01T00:00:00Z\n",
            i % 342
        ));
    }
    let answer = client
        .post_reader(
            "/v1/products/labeled-studies/inputs/annotations?mode=append",
            "text/csv",
            csv.len() as u64,
            &[],
            &mut csv.as_bytes(),
        )
        .unwrap();
    let run = answer["run"].as_str().unwrap().to_string();
    let state = loop {
        let r = client.get_json(&format!("/v1/runs/{run}")).unwrap();
        if !matches!(r["state"].as_str(), Some("queued" | "running")) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(state["state"], "quarantined", "{state}");
    let metrics = client
        .get_json("/v1/products/labeled-studies/metrics")
        .unwrap();
    let failed: Vec<&str> = metrics["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["rejected-share-within-limit"]);
    // Every sample outside the active-learning pool is a labeled study.
    let labeled = tessera_demo_data::annotations::labeled_diagnoses(&data.dataset).len();
    assert_eq!(rows(client, "labeled-studies", "consensus").len(), labeled);
    assert_eq!(rows(client, "labeled-studies", "rejected").len(), 12);
}

/// Every output port of the demo mesh, shared and read back by the official Delta Sharing
/// client: the same columns and, for every column JSON writes as plain values, the same rows
/// as the HTTP API serves.
fn every_demo_table_reads_over_delta_sharing(client: &Client, dir: &std::path::Path) {
    let mut tables = Vec::new();
    let mut expected = serde_json::Map::new();
    for product in PRODUCTS {
        let descriptor = client.get_json(&format!("/v1/products/{product}")).unwrap();
        for port in descriptor["outputs"].as_array().unwrap() {
            let name = port["name"].as_str().unwrap();
            let schema = port["schema"].as_array().unwrap();
            let all: Vec<&str> = schema.iter().map(|c| c["name"].as_str().unwrap()).collect();
            // Timestamps and bytes are written differently by the two encoders.
            let plain: Vec<&str> = schema
                .iter()
                .filter(|c| !matches!(c["type"].as_str(), Some("timestamp" | "binary")))
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            let answer = rows(client, product, name);
            let values: Vec<Vec<Value>> = answer
                .iter()
                .map(|row| plain.iter().map(|c| row[*c].clone()).collect())
                .collect();
            tables.push(format!("{product}/{name}"));
            expected.insert(
                format!("{product}.{name}"),
                serde_json::json!({"all_columns": all, "columns": plain, "rows": values}),
            );
        }
    }
    client
        .post_json(
            "/v1/shares",
            &serde_json::json!({"name": "imaging-mesh", "tables": tables}),
        )
        .unwrap();
    let profile = dir.join("imaging-mesh.share");
    crate::sharing::write_profile(client, "imaging-mesh", &profile);
    let printed = crate::sharing::delta_sharing_client(&serde_json::json!({
        "profile": profile,
        "share": "imaging-mesh",
        "tables": expected,
    }));
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.starts_with("ok load_as_pandas"))
            .count(),
        tables.len(),
        "{printed}"
    );
}
