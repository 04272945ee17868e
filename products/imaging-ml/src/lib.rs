//! The imaging domain's shared model code, used by the `shadow-models` and `active-learning`
//! products and by the demo's data generator:
//!
//! - [`ModelSpec`]: a small feed-forward model (logistic regression or an MLP) as JSON, with the
//!   feature standardisation it was trained with, so a model travels as one text value;
//! - [`train`]: deterministic full-batch training of those models;
//! - [`metrics`]: AUC, accuracy, F1 and Cohen's kappa;
//! - [`agreement`]: agreement between raters with confidence intervals (Cohen's kappa with its
//!   standard error, Fleiss' kappa, Wilson intervals);
//! - [`comparison`]: DeLong's test of two models' AUCs, the Brier score and the expected
//!   calibration error;
//! - [`device`]: scoring a model on the GPU the host lends, through the SDK's tensors.
//!
//! Everything is plain Rust with no I/O, so it runs the same natively and in a sandbox.

pub mod agreement;
pub mod comparison;
pub mod device;
pub mod metrics;
pub mod model;
pub mod train;

pub use model::{Activation, Layer, ModelSpec};
