//! Deterministic full-batch training of [`ModelSpec`]s by gradient descent on the log loss:
//! the same data and settings always give the same weights, on every machine.

use crate::model::{Activation, Layer, ModelSpec};

/// How to train.
#[derive(Debug, Clone)]
pub struct Training {
    /// Passes over the data.
    pub epochs: usize,
    /// Step size.
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the biases).
    pub l2: f64,
    /// Hidden units of an MLP; 0 trains a logistic regression.
    pub hidden: usize,
    /// Seed of the initial weights of an MLP.
    pub seed: u64,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            epochs: 300,
            learning_rate: 0.5,
            l2: 1e-3,
            hidden: 0,
            seed: 7,
        }
    }
}

/// Trains a binary classifier on `rows` (raw features, in `inputs` order) and `labels`.
/// Features are standardised with the rows' own mean and standard deviation.
pub fn train(inputs: &[String], rows: &[Vec<f64>], labels: &[bool], t: &Training) -> ModelSpec {
    let d = inputs.len();
    let n = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let scale: Vec<f64> = (0..d)
        .map(|j| {
            let var = rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
            if var > 0.0 { var.sqrt() } else { 1.0 }
        })
        .collect();
    let mut spec = ModelSpec {
        inputs: inputs.to_vec(),
        mean,
        scale,
        layers: Vec::new(),
    };
    let x: Vec<Vec<f64>> = rows.iter().map(|r| spec.standardise(r)).collect();
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    spec.layers = if t.hidden == 0 {
        vec![logistic(&x, &y, t)]
    } else {
        mlp(&x, &y, t)
    };
    spec
}

fn logistic(x: &[Vec<f64>], y: &[f64], t: &Training) -> Layer {
    let d = x.first().map_or(0, Vec::len);
    let n = x.len().max(1) as f64;
    let (mut w, mut b) = (vec![0.0; d], 0.0);
    for _ in 0..t.epochs {
        let mut grad = vec![0.0; d];
        let mut grad_b = 0.0;
        for (row, &target) in x.iter().zip(y) {
            let z: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let error = Activation::Sigmoid.apply(z) - target;
            for (g, v) in grad.iter_mut().zip(row) {
                *g += error * v;
            }
            grad_b += error;
        }
        for (wj, g) in w.iter_mut().zip(&grad) {
            *wj -= t.learning_rate * (g / n + t.l2 * *wj);
        }
        b -= t.learning_rate * grad_b / n;
    }
    Layer {
        weights: vec![w],
        bias: vec![b],
        activation: Activation::Sigmoid,
    }
}

/// Uniform in [-1, 1) from a SplitMix64 stream.
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn mlp(x: &[Vec<f64>], y: &[f64], t: &Training) -> Vec<Layer> {
    let d = x.first().map_or(0, Vec::len);
    let h = t.hidden;
    let n = x.len().max(1) as f64;
    let mut state = t.seed;
    let limit = (6.0 / (d + h) as f64).sqrt();
    let mut w1: Vec<Vec<f64>> = (0..h)
        .map(|_| (0..d).map(|_| uniform(&mut state) * limit).collect())
        .collect();
    let mut b1 = vec![0.0; h];
    let mut w2: Vec<f64> = (0..h).map(|_| uniform(&mut state) * limit).collect();
    let mut b2 = 0.0;
    for _ in 0..t.epochs {
        let mut g1 = vec![vec![0.0; d]; h];
        let mut gb1 = vec![0.0; h];
        let mut g2 = vec![0.0; h];
        let mut gb2 = 0.0;
        for (row, &target) in x.iter().zip(y) {
            let hidden: Vec<f64> = w1
                .iter()
                .zip(&b1)
                .map(|(w, b)| (w.iter().zip(row).map(|(a, b)| a * b).sum::<f64>() + b).max(0.0))
                .collect();
            let z: f64 = hidden.iter().zip(&w2).map(|(a, b)| a * b).sum::<f64>() + b2;
            let error = Activation::Sigmoid.apply(z) - target;
            gb2 += error;
            for k in 0..h {
                g2[k] += error * hidden[k];
                if hidden[k] > 0.0 {
                    let back = error * w2[k];
                    gb1[k] += back;
                    for (g, v) in g1[k].iter_mut().zip(row) {
                        *g += back * v;
                    }
                }
            }
        }
        for k in 0..h {
            for j in 0..d {
                w1[k][j] -= t.learning_rate * (g1[k][j] / n + t.l2 * w1[k][j]);
            }
            b1[k] -= t.learning_rate * gb1[k] / n;
            w2[k] -= t.learning_rate * (g2[k] / n + t.l2 * w2[k]);
        }
        b2 -= t.learning_rate * gb2 / n;
    }
    vec![
        Layer {
            weights: w1,
            bias: b1,
            activation: Activation::Relu,
        },
        Layer {
            weights: vec![w2],
            bias: vec![b2],
            activation: Activation::Sigmoid,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::auc;

    /// Two noisy clusters along the line x0 + x1.
    fn data() -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut state = 3;
        let rows: Vec<Vec<f64>> = (0..200)
            .map(|_| vec![uniform(&mut state) * 5.0 + 10.0, uniform(&mut state) * 5.0])
            .collect();
        let labels = rows
            .iter()
            .map(|r| r[0] - 10.0 + r[1] + uniform(&mut state) > 0.0)
            .collect();
        (rows, labels)
    }

    #[test]
    fn logistic_regression_and_mlp_separate_the_classes() {
        let (rows, labels) = data();
        let inputs = vec!["x0".to_string(), "x1".to_string()];
        for hidden in [0, 6] {
            let spec = train(
                &inputs,
                &rows,
                &labels,
                &Training {
                    hidden,
                    ..Training::default()
                },
            );
            assert_eq!(spec.validate(), Ok(()));
            let scores: Vec<f64> = rows.iter().map(|r| spec.predict(r)).collect();
            let auc = auc(&scores, &labels).unwrap_or_default();
            assert!(auc > 0.95, "hidden {hidden}: AUC {auc}");
        }
    }

    #[test]
    fn training_is_deterministic() {
        let (rows, labels) = data();
        let inputs = vec!["x0".to_string(), "x1".to_string()];
        let t = Training {
            hidden: 4,
            epochs: 20,
            ..Training::default()
        };
        assert_eq!(
            train(&inputs, &rows, &labels, &t),
            train(&inputs, &rows, &labels, &t)
        );
    }
}
