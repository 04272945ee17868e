//! Models on the GPU the host lends (or its CPU path when it has none), through the SDK's
//! tensors.

use tessera_sdk::{Gpu, Result};

use crate::model::{Activation, ModelSpec};

/// Scores of `rows` (raw features in the model's input order) on the GPU (or the host's CPU
/// path): standardise, then per layer `activation(x · Wᵀ + b)` on the device.
pub fn scores_on(gpu: &Gpu, spec: &ModelSpec, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
    let n = rows.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|r| spec.standardise(r))
        .map(|v| v as f32)
        .collect();
    let mut activations = gpu.tensor(&x, &[n, spec.inputs.len()])?;
    for layer in &spec.layers {
        let (units, width) = (layer.weights.len(), layer.weights[0].len());
        // Wᵀ: width × units, row-major.
        let mut w = vec![0.0f32; width * units];
        for (u, row) in layer.weights.iter().enumerate() {
            for (i, v) in row.iter().enumerate() {
                w[i * units + u] = *v as f32;
            }
        }
        let bias: Vec<f32> = (0..n)
            .flat_map(|_| layer.bias.iter().map(|b| *b as f32))
            .collect();
        let sums = activations
            .matmul(&gpu.tensor(&w, &[width, units])?)?
            .add(&gpu.tensor(&bias, &[n, units])?)?;
        activations = match layer.activation {
            Activation::Relu => sums.relu()?,
            Activation::Sigmoid => sums.sigmoid()?,
            Activation::Identity => sums,
        };
    }
    Ok(activations.to_vec()?.into_iter().map(f64::from).collect())
}
