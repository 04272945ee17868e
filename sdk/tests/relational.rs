//! The relational helpers against naive versions written here: ordered maps and nested loops
//! over the same pseudo-random rows, with nulls, several batches and tuple keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use tessera_sdk::Batch;
use tessera_sdk::relational::{Agg, GroupBy, JoinKind, SortKey, join};

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rows of (k1 text or null, k2 int, v int or null, x float), as plain vectors.
struct Rows {
    k1: Vec<Option<String>>,
    k2: Vec<i64>,
    v: Vec<Option<i64>>,
    x: Vec<f64>,
}

fn rows(seed: u64, n: usize) -> Rows {
    let mut rng = Rng(seed);
    let mut rows = Rows {
        k1: Vec::new(),
        k2: Vec::new(),
        v: Vec::new(),
        x: Vec::new(),
    };
    for _ in 0..n {
        rows.k1.push(match rng.below(13) {
            0 => None,
            k => Some(format!("key{k}")),
        });
        rows.k2.push(rng.below(5) as i64 - 2);
        rows.v.push(match rng.below(7) {
            0 => None,
            _ => Some(rng.below(1000) as i64 - 500),
        });
        rows.x.push((rng.below(1_000_000) as f64) / 1000.0);
    }
    rows
}

fn batch(rows: &Rows, range: std::ops::Range<usize>) -> Batch {
    Batch::builder()
        .text_opt("k1", rows.k1[range.clone()].iter().map(|k| k.as_deref()))
        .i64("k2", rows.k2[range.clone()].iter().copied())
        .i64_opt("v", rows.v[range.clone()].iter().copied())
        .f64("x", rows.x[range].iter().copied())
        .build()
        .unwrap()
}

#[derive(Default, Debug)]
struct Expected {
    rows: i64,
    v_sum: i64,
    v_count: i64,
    v_min: Option<i64>,
    v_max: Option<i64>,
    x_sum: f64,
}

#[test]
fn group_by_a_tuple_key_with_nulls_over_several_batches_matches_a_naive_fold() {
    let data = rows(7, 20_000);
    let mut by = GroupBy::new(
        &["k1", "k2"],
        [
            Agg::count_rows().named("rows"),
            Agg::sum("v"),
            Agg::count("v").named("v_count"),
            Agg::min("v").named("v_min"),
            Agg::max("v").named("v_max"),
            Agg::mean("x").named("x_mean"),
            Agg::sum("x").named("x_sum"),
        ],
    );
    for start in (0..20_000).step_by(3_000) {
        by.add(&batch(&data, start..(start + 3_000).min(20_000)))
            .unwrap();
    }
    let table = by.finish().unwrap();

    let mut expected: BTreeMap<(Option<String>, i64), Expected> = BTreeMap::new();
    for i in 0..data.k1.len() {
        let e = expected
            .entry((data.k1[i].clone(), data.k2[i]))
            .or_default();
        e.rows += 1;
        if let Some(v) = data.v[i] {
            e.v_sum += v;
            e.v_count += 1;
            e.v_min = Some(e.v_min.map_or(v, |m| m.min(v)));
            e.v_max = Some(e.v_max.map_or(v, |m| m.max(v)));
        }
        e.x_sum += data.x[i];
    }
    assert_eq!(table.num_rows(), expected.len());
    let k1 = table.text("k1").unwrap();
    let k2 = table.i64("k2").unwrap();
    for row in 0..table.num_rows() {
        let key = (k1.get(row).map(str::to_string), k2.get(row).unwrap());
        let e = &expected[&key];
        assert_eq!(table.i64("rows").unwrap().get(row), Some(e.rows), "{key:?}");
        assert_eq!(table.i64("v_count").unwrap().get(row), Some(e.v_count));
        let v_sum = table.i64("v").unwrap().get(row);
        assert_eq!(v_sum, (e.v_count > 0).then_some(e.v_sum), "{key:?}");
        assert_eq!(table.i64("v_min").unwrap().get(row), e.v_min);
        assert_eq!(table.i64("v_max").unwrap().get(row), e.v_max);
        let x_sum = table.f64("x_sum").unwrap().get(row).unwrap();
        assert!((x_sum - e.x_sum).abs() <= 1e-9 * e.x_sum.abs().max(1.0));
        let mean = table.f64("x_mean").unwrap().get(row).unwrap();
        assert!((mean - e.x_sum / e.rows as f64).abs() <= 1e-9 * mean.abs().max(1.0));
    }
    // Groups come in order of first appearance.
    let first = (data.k1[0].as_deref(), data.k2[0]);
    assert_eq!((k1.get(0), k2.get(0).unwrap()), first);
}

#[test]
fn a_compensated_sum_keeps_what_a_naive_one_loses() {
    // 1e16 + 1 + 1 + ... − 1e16: a naive f64 sum loses every 1.
    let mut values = vec![1e16];
    values.extend(std::iter::repeat_n(1.0, 1000));
    values.push(-1e16);
    let n = values.len();
    let mut by = GroupBy::new(&["k"], [Agg::sum("x")]);
    by.add(
        &Batch::builder()
            .i64("k", vec![1; n])
            .f64("x", values.iter().copied())
            .build()
            .unwrap(),
    )
    .unwrap();
    let naive: f64 = values.iter().sum();
    assert_ne!(naive, 1000.0);
    assert_eq!(by.finish().unwrap().f64("x").unwrap().values(), &[1000.0]);
}

#[test]
fn group_by_refuses_float_keys_overflow_and_changed_types_with_the_column_named() {
    let floats = Batch::builder()
        .f64("k", [1.0])
        .i64("v", [1])
        .build()
        .unwrap();
    let mut by = GroupBy::new(&["k"], [Agg::sum("v")]);
    let e = by.add(&floats).unwrap_err().to_string();
    assert!(e.contains("`k`") && e.contains("float64"), "{e}");

    let big = Batch::builder()
        .i64("k", [1, 1])
        .i64("v", [i64::MAX, 1])
        .build()
        .unwrap();
    let mut by = GroupBy::new(&["k"], [Agg::sum("v")]);
    let e = by.add(&big).unwrap_err().to_string();
    assert!(e.contains("overflows"), "{e}");

    let mut by = GroupBy::new(&["k"], [Agg::sum("v")]);
    by.add(
        &Batch::builder()
            .i64("k", [1])
            .i64("v", [1])
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = by
        .add(
            &Batch::builder()
                .i64("k", [1])
                .f64("v", [1.0])
                .build()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("`v`") && e.contains("first"), "{e}");
    let e = by
        .add(
            &Batch::builder()
                .text("k", ["1"])
                .i64("v", [1])
                .build()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("`k`"), "{e}");

    let mut by = GroupBy::new(&["k"], [Agg::mean("t")]);
    let e = by
        .add(
            &Batch::builder()
                .i64("k", [1])
                .text("t", ["a"])
                .build()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("mean") && e.contains("text"), "{e}");
}

#[test]
fn joins_match_a_nested_loop() {
    let left = rows(11, 600);
    let right = rows(12, 150);
    let l = batch(&left, 0..600);
    let r = Batch::builder()
        .text_opt("k1", right.k1.iter().map(|k| k.as_deref()))
        .i64("k2", right.k2.iter().copied())
        .f64("x", right.x.iter().copied())
        .build()
        .unwrap();
    for kind in [JoinKind::Inner, JoinKind::Left] {
        let joined = join(&l, &r, &["k1", "k2"], kind).unwrap();
        let mut expected: Vec<(usize, Option<usize>)> = Vec::new();
        for i in 0..600 {
            let mut any = false;
            for j in 0..150 {
                if left.k1[i].is_some() && left.k1[i] == right.k1[j] && left.k2[i] == right.k2[j] {
                    expected.push((i, Some(j)));
                    any = true;
                }
            }
            if !any && kind == JoinKind::Left {
                expected.push((i, None));
            }
        }
        assert_eq!(joined.num_rows(), expected.len(), "{kind:?}");
        let x = joined.f64("x").unwrap();
        let x_right = joined.f64("x_right").unwrap();
        let k1 = joined.text("k1").unwrap();
        for (row, (i, j)) in expected.iter().enumerate() {
            assert_eq!(x.get(row), Some(left.x[*i]));
            assert_eq!(k1.get(row), left.k1[*i].as_deref());
            assert_eq!(x_right.get(row), j.map(|j| right.x[j]));
        }
    }
    let e = join(&l, &r, &["nope"], JoinKind::Inner)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`nope`"), "{e}");
}

#[test]
fn sorting_matches_the_standard_sort_with_nulls_last() {
    let data = rows(5, 2_000);
    let b = batch(&data, 0..2_000);
    let sorted = b.sort_by(&[SortKey::desc("v"), SortKey::asc("x")]).unwrap();
    let mut expected: Vec<(Option<i64>, f64)> =
        data.v.iter().copied().zip(data.x.iter().copied()).collect();
    expected.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => a.1.total_cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(p), Some(q)) => q.cmp(&p).then(a.1.total_cmp(&b.1)),
    });
    let got: Vec<(Option<i64>, f64)> = (0..2_000)
        .map(|i| {
            (
                sorted.i64("v").unwrap().get(i),
                sorted.f64("x").unwrap().get(i).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn integer_keys_that_widen_their_range_or_leave_it_keep_their_groups() {
    // Narrow at first (100..110), widened (0..5), then far beyond any table (2^40), then
    // back: every value keeps one group, whichever way it was looked up.
    let batches: [Vec<i64>; 4] = [
        (100..110).collect(),
        (0..5).chain(100..103).collect(),
        vec![1 << 40, 3, 1 << 40, -(1 << 40)],
        (0..5).chain([1 << 40]).collect(),
    ];
    let mut by = GroupBy::new(&["k"], [Agg::count_rows().named("n")]);
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for keys in &batches {
        for &k in keys {
            *expected.entry(k).or_default() += 1;
        }
        by.add(
            &Batch::builder()
                .i64("k", keys.iter().copied())
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    let table = by.finish().unwrap();
    let got: BTreeMap<i64, i64> = table
        .i64("k")
        .unwrap()
        .values()
        .iter()
        .copied()
        .zip(table.i64("n").unwrap().values().iter().copied())
        .collect();
    assert_eq!(table.num_rows(), expected.len());
    assert_eq!(got, expected);
}
