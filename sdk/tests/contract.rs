//! `TestRun::for_product` holds a product to its manifest as the host does. Each case is a
//! product that passes a run without a manifest (`TestRun::new`) and fails the run held to
//! the manifest, with the reason the host gives, written out here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use tessera_sdk::testing::TestRun;
use tessera_sdk::{Batch, Check, Context, Error, Result};

const MANIFEST: &str = r#"
[product]
name = "sensor-stats"
domain = "examples"
version = "1.2.0"
owner = "team@example.org"
description = "Count and mean per sensor"
kind = "aggregate"

[[inputs]]
name = "readings"
ingest = { sensor = { type = "text", required = true }, value = "float64" }

[[outputs]]
name = "stats"
schema = { sensor = { type = "text", required = true, unique = true }, readings = "int64", mean = { type = "float64", required = true } }
checks = [{ kind = "range", column = "mean", min = 0.0, max = 100.0, severity = "warn" }]

[parameters]
min_readings = 1
"#;

fn readings() -> Batch {
    Batch::builder()
        .text("sensor", ["a", "b", "a", "c"])
        .f64_opt("value", [Some(1.0), Some(2.0), Some(3.0), None])
        .build()
        .unwrap()
}

/// Held to no manifest, then to `MANIFEST`: the first passes, the second fails with a
/// message that contains `reason`.
fn passes_loosely_fails_held(product: fn(&mut Context) -> Result<()>, reason: &str) -> Error {
    let mut loose = TestRun::new().input("readings", readings());
    loose
        .run(product)
        .expect("the run without a manifest holds the product to nothing");
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings());
    let error = held.run(product).expect_err("the host would refuse it");
    assert!(
        error.message().contains(reason),
        "expected `{reason}` in: {error}"
    );
    error
}

/// A correct product: one row per sensor with readings, the mean of its non-null values.
fn sound(ctx: &mut Context) -> Result<()> {
    let readings = ctx.input("readings")?.read_all()?;
    let (sensors, values) = (readings.text("sensor")?, readings.f64("value")?);
    let mut stats: std::collections::BTreeMap<&str, (i64, f64)> = Default::default();
    for (sensor, value) in sensors.iter().zip(values.iter()) {
        if let (Some(sensor), Some(value)) = (sensor, value) {
            let entry = stats.entry(sensor).or_default();
            entry.0 += 1;
            entry.1 += value;
        }
    }
    let out = Batch::builder()
        .text("sensor", stats.keys())
        .i64("readings", stats.values().map(|s| s.0))
        .f64("mean", stats.values().map(|s| s.1 / s.0 as f64))
        .build()?;
    ctx.output("stats")?.write(out)
}

#[test]
fn a_sound_product_passes_both_and_gets_its_manifest_parameters() {
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings());
    held.run(sound).unwrap();
    held.run(|ctx| {
        assert_eq!(ctx.parameter_i64("min_readings")?, 1);
        assert_eq!(ctx.info().product, "sensor-stats");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_null_in_a_required_column_names_the_port_column_and_row() {
    // Sensor `c` has only a null reading: its mean is null, in a required column.
    fn nulls(ctx: &mut Context) -> Result<()> {
        let readings = ctx.input("readings")?.read_all()?;
        let sensors: Vec<&str> = vec!["a", "b", "c"];
        let _ = readings;
        let out = Batch::builder()
            .text("sensor", &sensors)
            .i64("readings", [2, 1, 0])
            .f64_opt("mean", [Some(2.0), Some(2.0), None])
            .build()?;
        ctx.output("stats")?.write(out)
    }
    let error = passes_loosely_fails_held(
        nulls,
        "output `stats`: null in a required column (row 3, column `mean`)",
    );
    assert!(matches!(error, Error::Invalid(_)));
}

#[test]
fn a_wrong_type_names_the_declared_and_the_written_type() {
    fn integers(ctx: &mut Context) -> Result<()> {
        let out = Batch::builder()
            .text("sensor", ["a"])
            .i64("readings", [1])
            .i64("mean", [2])
            .build()?;
        ctx.output("stats")?.write(out)
    }
    passes_loosely_fails_held(integers, "expected float64, found int64 (column `mean`)");
}

#[test]
fn a_missing_or_undeclared_column_is_refused() {
    fn missing(ctx: &mut Context) -> Result<()> {
        let out = Batch::builder()
            .text("sensor", ["a"])
            .f64("mean", [2.0])
            .build()?;
        ctx.output("stats")?.write(out)
    }
    passes_loosely_fails_held(missing, "missing column `readings`");
    fn extra(ctx: &mut Context) -> Result<()> {
        let out = Batch::builder()
            .text("sensor", ["a"])
            .i64("readings", [1])
            .f64("mean", [2.0])
            .f64("median", [2.0])
            .build()?;
        ctx.output("stats")?.write(out)
    }
    passes_loosely_fails_held(extra, "undeclared column `median`");
}

#[test]
fn a_refused_write_fails_the_run_even_when_the_product_goes_on() {
    fn ignores(ctx: &mut Context) -> Result<()> {
        let bad = Batch::builder().text("sensor", ["a"]).build()?;
        let _ignored = ctx.output("stats")?.write(bad);
        Ok(())
    }
    passes_loosely_fails_held(ignores, "the host fails a run whose write it refused");
}

#[test]
fn undeclared_ports_are_refused_with_the_declared_ones_named() {
    fn writes_elsewhere(ctx: &mut Context) -> Result<()> {
        sound(ctx)?;
        ctx.output("debug")?
            .write(Batch::builder().i64("n", [1]).build()?)
    }
    let error = passes_loosely_fails_held(
        writes_elsewhere,
        "output `debug` is not declared in product.toml (declared outputs: stats)",
    );
    assert!(matches!(error, Error::Denied(_)));
}

#[test]
fn an_input_not_declared_is_refused_even_when_given() {
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings())
        .input("extra", readings());
    let error = held.run(sound).unwrap_err();
    assert_eq!(
        error.message(),
        "input `extra` is not declared in product.toml (declared inputs: readings)"
    );
}

#[test]
fn duplicates_in_a_unique_column_hold_the_output_back() {
    fn duplicates(ctx: &mut Context) -> Result<()> {
        let out = Batch::builder()
            .text("sensor", ["a", "b"])
            .i64("readings", [1, 1])
            .f64("mean", [1.0, 2.0])
            .build()?;
        ctx.output("stats")?.write(out.clone())?;
        ctx.output("stats")?.write(out)
    }
    passes_loosely_fails_held(duplicates, "the host would publish nothing from this run");
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings());
    held.run(duplicates).unwrap_err();
    let unique = held
        .checks()
        .iter()
        .find(|c| c.kind == "unique")
        .expect("`unique = true` is a check");
    assert!(!unique.passed);
    assert_eq!((unique.evaluated, unique.failed), (4, 2));
}

#[test]
fn a_failing_warn_check_is_reported_and_does_not_fail_the_run() {
    fn large(ctx: &mut Context) -> Result<()> {
        let out = Batch::builder()
            .text("sensor", ["a"])
            .i64("readings", [1])
            .f64("mean", [250.0])
            .build()?;
        ctx.output("stats")?.write(out)
    }
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings());
    held.run(large).unwrap();
    let range = held.checks().iter().find(|c| c.kind == "range").unwrap();
    assert!(!range.passed && range.failed == 1);
}

#[test]
fn input_data_ingestion_would_refuse_is_refused() {
    let missing_sensor = Batch::builder()
        .text_opt("sensor", [Some("a"), None])
        .f64("value", [1.0, 2.0])
        .build()
        .unwrap();
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", missing_sensor);
    let error = held.run(sound).unwrap_err();
    assert!(
        error
            .message()
            .starts_with("input `readings`: null in a required column (row 2, column `sensor`)"),
        "{error}"
    );
    // Integers for a float64 column are widened, as ingestion widens them.
    let integers = Batch::builder()
        .text("sensor", ["a"])
        .i64("value", [4])
        .build()
        .unwrap();
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", integers);
    held.run(sound).unwrap();
    assert_eq!(
        held.output("stats").unwrap().f64("mean").unwrap().get(0),
        Some(4.0)
    );
}

#[test]
fn custom_checks_the_host_would_refuse_are_refused() {
    fn misplaced(_: &mut Context) -> Result<Vec<Check>> {
        Ok(vec![Check::new("summary", "plausible").passed(true)])
    }
    let mut loose = TestRun::new().input("readings", readings());
    loose.run(sound).unwrap();
    loose.check(misplaced).unwrap();
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", readings());
    held.run(sound).unwrap();
    let error = held.check(misplaced).unwrap_err();
    assert!(
        error.message().contains(
            "reports on port `summary`, which is not an output of this product (outputs: stats)"
        ),
        "{error}"
    );
}

#[test]
fn batches_are_served_as_given_and_split_only_when_asked() {
    let first = Batch::builder()
        .text("sensor", ["a", "b", "c"])
        .f64("value", [1.0, 2.0, 3.0])
        .build()
        .unwrap();
    let second = Batch::builder()
        .text("sensor", ["d"])
        .f64("value", [4.0])
        .build()
        .unwrap();
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", first)
        .input("readings", second);
    held.run(|ctx| {
        let input = ctx.input("readings")?;
        let sizes: Vec<usize> = input
            .batches(2)
            .map(|b| b.map(|b| b.num_rows()))
            .collect::<Result<_>>()?;
        assert_eq!(sizes, [2, 1, 1]);
        sound_on_nothing(ctx)
    })
    .unwrap();
}

fn sound_on_nothing(ctx: &mut Context) -> Result<()> {
    let out = Batch::builder()
        .text("sensor", ["a"])
        .i64("readings", [0])
        .f64("mean", [0.0])
        .build()?;
    ctx.output("stats")?.write(out)
}

#[test]
fn a_million_rows_run_through_the_contract() {
    let rows = 1_000_000;
    let sensors: Vec<String> = (0..rows).map(|i| format!("s{}", i % 1000)).collect();
    let values: Vec<f64> = (0..rows).map(|i| (i % 100) as f64).collect();
    let batch = Batch::builder()
        .text("sensor", &sensors)
        .f64("value", values)
        .build()
        .unwrap();
    let mut held = TestRun::for_product(MANIFEST)
        .unwrap()
        .input("readings", batch);
    held.run(sound).unwrap();
    let stats = held.output("stats").unwrap();
    assert_eq!(stats.num_rows(), 1000);
    // Sensor s{k} gets values i % 100 for i ≡ k (mod 1000): all ≡ k (mod 100), so its mean
    // is k % 100.
    let means = stats.f64("mean").unwrap();
    let names = stats.text("sensor").unwrap();
    for i in 0..stats.num_rows() {
        let k: usize = names.get(i).unwrap()[1..].parse().unwrap();
        assert_eq!(means.get(i), Some((k % 100) as f64));
    }
}
