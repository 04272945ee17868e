//! [`ModelSpec`]: a feed-forward model that carries its inputs, their standardisation and its
//! layers, stored as one JSON text value.

use serde::{Deserialize, Serialize};

/// What a layer applies to its weighted sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^-x)`: the last layer of a binary classifier.
    Sigmoid,
    /// The sums as they are.
    Identity,
}

impl Activation {
    /// The activation of one value.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
        }
    }
}

/// One dense layer: `outputs = activation(weights · inputs + bias)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// One row per output unit, one column per input.
    pub weights: Vec<Vec<f64>>,
    /// One per output unit.
    pub bias: Vec<f64>,
    /// Applied to every output unit.
    pub activation: Activation,
}

/// A binary classifier: standardised features through dense layers to one probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The feature columns it reads, in order.
    pub inputs: Vec<String>,
    /// Subtracted from each feature before the first layer.
    pub mean: Vec<f64>,
    /// Each centred feature is divided by this.
    pub scale: Vec<f64>,
    /// The layers, first to last; the last has one unit with a sigmoid.
    pub layers: Vec<Layer>,
}

impl ModelSpec {
    /// Parses a model from its JSON text and checks its shapes, saying what is wrong.
    pub fn from_json(text: &str) -> Result<ModelSpec, String> {
        let spec: ModelSpec =
            serde_json::from_str(text).map_err(|e| format!("the model is not valid JSON: {e}"))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The model as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that every shape fits the next and the model ends in one sigmoid unit.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.inputs.len();
        if d == 0 {
            return Err("the model reads no inputs".into());
        }
        if self.mean.len() != d || self.scale.len() != d {
            return Err(format!(
                "the model has {d} inputs but {} means and {} scales",
                self.mean.len(),
                self.scale.len()
            ));
        }
        if let Some(i) = self.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!(
                "scale of input `{}` is not positive",
                self.inputs[i]
            ));
        }
        let mut width = d;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.weights.is_empty() || layer.bias.len() != layer.weights.len() {
                return Err(format!(
                    "layer {l} has {} weight rows and {} biases",
                    layer.weights.len(),
                    layer.bias.len()
                ));
            }
            if let Some(row) = layer.weights.iter().position(|r| r.len() != width) {
                return Err(format!(
                    "layer {l}, unit {row} has {} weights for {width} inputs",
                    layer.weights[row].len()
                ));
            }
            let finite = layer.weights.iter().flatten().chain(&layer.bias);
            if finite.clone().any(|w| !w.is_finite()) {
                return Err(format!(
                    "layer {l} has a weight that is not a finite number"
                ));
            }
            width = layer.weights.len();
        }
        match self.layers.last() {
            Some(last) if last.weights.len() == 1 && last.activation == Activation::Sigmoid => {
                Ok(())
            }
            _ => Err("the last layer must have one unit with a sigmoid".into()),
        }
    }

    /// The standardised features of one sample.
    pub fn standardise(&self, features: &[f64]) -> Vec<f64> {
        features
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }

    /// The probability of the positive class for one sample's raw features (CPU).
    pub fn predict(&self, features: &[f64]) -> f64 {
        let mut values = self.standardise(features);
        for layer in &self.layers {
            values = layer
                .weights
                .iter()
                .zip(&layer.bias)
                .map(|(w, b)| {
                    let sum: f64 = w.iter().zip(&values).map(|(w, x)| w * x).sum();
                    layer.activation.apply(sum + b)
                })
                .collect();
        }
        values.first().copied().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logistic() -> ModelSpec {
        ModelSpec {
            inputs: vec!["a".into(), "b".into()],
            mean: vec![1.0, 0.0],
            scale: vec![2.0, 1.0],
            layers: vec![Layer {
                weights: vec![vec![1.0, -1.0]],
                bias: vec![0.5],
                activation: Activation::Sigmoid,
            }],
        }
    }

    #[test]
    fn predicts_a_standardised_logistic_regression() {
        let p = logistic().predict(&[3.0, 1.0]);
        // (3-1)/2 = 1; 1·1 - 1·1 + 0.5 = 0.5
        assert!((p - 1.0 / (1.0 + (-0.5f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn round_trips_through_json_and_rejects_bad_shapes() {
        let json = logistic().to_json();
        assert_eq!(ModelSpec::from_json(&json), Ok(logistic()));
        let mut wrong = logistic();
        wrong.layers[0].weights[0].push(1.0);
        assert_eq!(
            wrong.validate(),
            Err("layer 0, unit 0 has 3 weights for 2 inputs".into())
        );
        let mut relu_last = logistic();
        relu_last.layers[0].activation = Activation::Relu;
        assert!(relu_last.validate().is_err());
        assert!(
            ModelSpec::from_json("{")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
