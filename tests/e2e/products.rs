//! `examples/hello` and `products/labeled-studies`, built from source and run end to end; their
//! outputs are checked against values computed here independently.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use tessera_core::formats::{FileSource, Format};
use tessera_core::io::{BatchSource, MemorySink};
use tessera_runtime::RunRequest;
use tessera_store::{Storage, Store};
use tessera_tests::fixtures;

fn text(batch: &RecordBatch, column: &str) -> Vec<String> {
    let array = batch
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..array.len())
        .map(|i| array.value(i).to_string())
        .collect()
}

fn drain(mut source: Box<dyn BatchSource>) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    while let Some(b) = source.next_batch().unwrap() {
        out.push(b);
    }
    out
}

#[test]
fn hello_greets_everyone_in_their_language() {
    let wasm = std::fs::read(tessera_tests::built("examples/hello")).unwrap();
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&wasm).unwrap();
    let csv = tessera_tests::workspace().join("examples/hello/data/people.csv");
    let people = FileSource::open(
        &csv,
        Format::Csv,
        product
            .manifest()
            .input("people")
            .unwrap()
            .ingest_schema()
            .unwrap(),
    )
    .unwrap();
    let sink = MemorySink::new();
    let outcome = product.run_blocking(
        RunRequest::new("hello-1", 0)
            .input("people", Box::new(people))
            .output("greetings", Box::new(sink.clone())),
    );
    assert!(outcome.succeeded(), "{:?}", outcome.status);

    // Independently: read the CSV by hand and greet.
    let expected: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let (name, language) = line.split_once(',').unwrap();
            match language {
                "fr" => format!("Bonjour, {name} !"),
                "de" => format!("Hallo, {name}!"),
                "es" => format!("¡Hola, {name}!"),
                _ => format!("Hello, {name}!"),
            }
        })
        .collect();
    let batches = sink.batches();
    let greetings: Vec<String> = batches.iter().flat_map(|b| text(b, "greeting")).collect();
    assert_eq!(greetings, expected);
    assert_eq!(outcome.outputs["greetings"].rows, expected.len() as u64);
    assert_eq!(
        outcome.gauges.get("people_greeted"),
        Some(&(expected.len() as f64))
    );
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.message == format!("greeted {} people", expected.len())),
        "{:?}",
        outcome.log
    );
    assert!(outcome.peak_memory > 0 && outcome.peak_memory <= 64 << 20);
}

/// The committed CSV is exactly what the generator makes from the real data set.
#[test]
fn the_annotation_fixture_is_generated_from_the_real_data() {
    let root = tessera_tests::workspace();
    let generated = fixtures::annotations_csv(&fixtures::annotations(
        &root.join("examples/data/breast_cancer_wisconsin.csv"),
    ));
    let path = root.join("products/labeled-studies/data/annotations.csv");
    if std::env::var_os("TESSERA_REGENERATE_FIXTURES").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "{} is stale; run the tests once with TESSERA_REGENERATE_FIXTURES=1",
        path.display()
    );
}

/// Consensus computed independently of the product: sort each study's votes.
pub(crate) fn expected_consensus(
    annotations: &[fixtures::Annotation],
) -> BTreeMap<String, (String, f64, i64)> {
    let mut latest: HashMap<(&str, &str), &fixtures::Annotation> = HashMap::new();
    for a in annotations {
        let key = (a.study_id.as_str(), a.annotator_id.as_str());
        if latest
            .get(&key)
            .is_none_or(|b| a.annotated_at > b.annotated_at)
        {
            latest.insert(key, a);
        }
    }
    let mut by_study: HashMap<&str, Vec<&fixtures::Annotation>> = HashMap::new();
    for ((study, _), a) in latest {
        by_study.entry(study).or_default().push(a);
    }
    by_study
        .into_iter()
        .map(|(study, votes)| {
            let mut tally: Vec<(String, usize, f64)> = Vec::new();
            for v in &votes {
                match tally.iter_mut().find(|t| t.0 == v.label) {
                    Some(t) => {
                        t.1 += 1;
                        t.2 += v.confidence.unwrap_or(0.0);
                    }
                    None => tally.push((v.label.clone(), 1, v.confidence.unwrap_or(0.0))),
                }
            }
            tally.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0)));
            let (label, count, _) = tally[0].clone();
            (
                study.to_string(),
                (label, count as f64 / votes.len() as f64, votes.len() as i64),
            )
        })
        .collect()
}

#[test]
fn labeled_studies_publishes_consensus_that_matches_an_independent_count() {
    let root = tessera_tests::workspace();
    let annotations =
        fixtures::annotations(&root.join("examples/data/breast_cancer_wisconsin.csv"));
    let expected = expected_consensus(&annotations);
    // Every sample but the active-learning pool (4 in 10) is a study: 342 of 569.
    assert_eq!(expected.len(), 342);

    let wasm = std::fs::read(tessera_tests::built("products/labeled-studies")).unwrap();
    let runtime = tessera_tests::runtime();
    let product = runtime.load(&wasm).unwrap();
    let manifest = product.manifest().clone();
    let data = tempfile::tempdir().unwrap();
    let store = Storage::local(data.path()).unwrap();
    let csv = root.join("products/labeled-studies/data/annotations.csv");
    let source = FileSource::open(
        &csv,
        Format::Csv,
        manifest
            .input("annotations")
            .unwrap()
            .ingest_schema()
            .unwrap(),
    )
    .unwrap();
    let mut request =
        RunRequest::new("ls-1", 1_780_272_000_000_000).input("annotations", Box::new(source));
    for port in &manifest.outputs {
        request = request.output(
            &port.name,
            store
                .stage(
                    &manifest.product.name,
                    "ls-1",
                    &port.name,
                    port.schema.to_arrow(),
                )
                .unwrap(),
        );
    }
    let outcome = product.run_blocking(request);
    assert!(outcome.succeeded(), "{:?}", outcome.status);
    let rows: BTreeMap<String, u64> = outcome
        .outputs
        .iter()
        .map(|(k, v)| (k.clone(), v.rows))
        .collect();
    let version = store
        .publish(
            "labeled-studies",
            "ls-1",
            &tessera_store::Publication::outputs(rows.clone()),
        )
        .unwrap();
    assert_eq!(version.number, 1);
    assert_eq!(version.ports["consensus"].rows, 342);

    let consensus = drain(store.read("labeled-studies", 1, "consensus").unwrap());
    let mut seen = 0;
    for batch in &consensus {
        let studies = text(batch, "study_id");
        let labels = text(batch, "label");
        let agreement = batch
            .column_by_name("agreement")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let annotators = batch
            .column_by_name("annotators")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            let (label, share, count) = &expected[&studies[i]];
            assert_eq!(&labels[i], label, "study {}", studies[i]);
            assert!(
                (agreement.value(i) - share).abs() < 1e-12,
                "study {}",
                studies[i]
            );
            assert_eq!(annotators.value(i), *count, "study {}", studies[i]);
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len());

    let mut per_label: BTreeMap<String, i64> = BTreeMap::new();
    for (label, _, _) in expected.values() {
        *per_label.entry(label.clone()).or_default() += 1;
    }
    let counts = drain(store.read("labeled-studies", 1, "label_counts").unwrap());
    let labels = text(&counts[0], "label");
    let studies = counts[0]
        .column_by_name("studies")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let got: BTreeMap<String, i64> = labels
        .into_iter()
        .zip(studies.values().iter().copied())
        .collect();
    assert_eq!(got, per_label);
    // The simulated annotators are mostly right: consensus recovers most diagnoses.
    let truth: HashMap<String, String> =
        fixtures::diagnoses(&root.join("examples/data/breast_cancer_wisconsin.csv"))
            .into_iter()
            .collect();
    let correct = expected
        .iter()
        .filter(|(study, (label, _, _))| &truth[*study] == label)
        .count();
    assert!(
        correct as f64 / expected.len() as f64 > 0.9,
        "{correct} of {} correct",
        expected.len()
    );
}
