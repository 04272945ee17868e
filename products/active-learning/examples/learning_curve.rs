//! A simulated learning curve on the real Breast Cancer Wisconsin data: starting from 10
//! labeled samples, label 10 more per round, chosen either by this product's selection
//! (entropy shortlist + k-center greedy) or at random, retrain a logistic regression, and
//! measure its AUC and accuracy on the held-out eval split. Averaged over 20 seeds.
//!
//! ```sh
//! cargo run --release -p active-learning --example learning_curve
//! ```

use active_learning::{k_center, shortlist};
use imaging_ml::ModelSpec;
use imaging_ml::metrics::{Confusion, auc};
use imaging_ml::train::{Training, train};
use tessera_demo_data::cancer::{Dataset, Split};
use tessera_demo_data::rng::Rng;

const START: usize = 10;
const STEP: usize = 10;
const BUDGET: usize = 100;
const SEEDS: u64 = 20;

#[derive(Clone, Copy, PartialEq)]
enum Strategy {
    Active,
    Random,
}

fn fit(features: &[String], x: &[Vec<f64>], y: &[bool], labeled: &[usize]) -> ModelSpec {
    let rows: Vec<Vec<f64>> = labeled.iter().map(|&i| x[i].clone()).collect();
    let labels: Vec<bool> = labeled.iter().map(|&i| y[i]).collect();
    train(features, &rows, &labels, &Training::default())
}

fn pick(
    strategy: Strategy,
    spec: &ModelSpec,
    x: &[Vec<f64>],
    labeled: &[usize],
    rng: &mut Rng,
) -> Vec<usize> {
    let unlabeled: Vec<usize> = (0..x.len()).filter(|i| !labeled.contains(i)).collect();
    match strategy {
        Strategy::Random => {
            let mut left = unlabeled;
            (0..STEP)
                .map(|_| left.swap_remove(rng.below(left.len())))
                .collect()
        }
        Strategy::Active => {
            let scores: Vec<f64> = unlabeled.iter().map(|&i| spec.predict(&x[i])).collect();
            let short = shortlist(&scores, STEP * 4);
            let points: Vec<Vec<f64>> = short
                .iter()
                .map(|&j| spec.standardise(&x[unlabeled[j]]))
                .collect();
            let squared: Vec<f32> = points
                .iter()
                .flat_map(|a| {
                    points.iter().map(move |b| {
                        a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>() as f32
                    })
                })
                .collect();
            k_center(&short, &squared, STEP)
                .into_iter()
                .map(|p| unlabeled[p.index])
                .collect()
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/data/breast_cancer_wisconsin.csv");
    let data = Dataset::read(&csv)?;
    let features = data.features.clone();
    let (test_x, test_y) = data.rows(Split::Eval, &features);
    let (mut x, mut y) = data.rows(Split::Train, &features);
    let (pool_x, pool_y) = data.rows(Split::Pool, &features);
    x.extend(pool_x);
    y.extend(pool_y);

    let rounds = (BUDGET - START) / STEP + 1;
    // [strategy][round] → (sum of AUC, sum of accuracy)
    let mut totals = [vec![(0.0, 0.0); rounds], vec![(0.0, 0.0); rounds]];
    for seed in 0..SEEDS {
        let mut rng = Rng::new(1000 + seed);
        let initial: Vec<usize> = loop {
            let mut all: Vec<usize> = (0..x.len()).collect();
            let start: Vec<usize> = (0..START)
                .map(|_| all.swap_remove(rng.below(all.len())))
                .collect();
            if start.iter().any(|&i| y[i]) && start.iter().any(|&i| !y[i]) {
                break start;
            }
        };
        for (s, strategy) in [Strategy::Active, Strategy::Random].into_iter().enumerate() {
            let mut labeled = initial.clone();
            let mut picker = Rng::new(2000 + seed);
            for total in totals[s].iter_mut() {
                let spec = fit(&features, &x, &y, &labeled);
                let scores: Vec<f64> = test_x.iter().map(|r| spec.predict(r)).collect();
                let predicted: Vec<bool> = scores.iter().map(|p| *p >= 0.5).collect();
                total.0 += auc(&scores, &test_y).unwrap_or(0.5);
                total.1 += Confusion::of(&predicted, &test_y).accuracy().unwrap_or(0.0);
                if labeled.len() < BUDGET {
                    labeled.extend(pick(strategy, &spec, &x, &labeled, &mut picker));
                }
            }
        }
    }
    println!(
        "labels | active AUC | random AUC | active accuracy | random accuracy   ({} pool samples, {} eval samples, mean of {SEEDS} seeds)",
        x.len(),
        test_x.len()
    );
    let n = SEEDS as f64;
    for (r, (active, random)) in totals[0].iter().zip(&totals[1]).enumerate() {
        println!(
            "{:>6} | {:>10.4} | {:>10.4} | {:>15.4} | {:>15.4}",
            START + r * STEP,
            active.0 / n,
            random.0 / n,
            active.1 / n,
            random.1 / n
        );
    }
    Ok(())
}
