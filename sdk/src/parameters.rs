//! The product's `[parameters]`: settings written in `product.toml` (thresholds, budgets,
//! names) that the product reads at run time, so its owner tunes it without changing code.
//!
//! ```toml
//! [parameters]
//! min_kappa = 0.6
//! batch_size = 20
//! ```
//!
//! ```
//! use tessera_sdk::{testing::TestRun, Context, Result};
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let min_kappa = ctx.parameter_f64("min_kappa")?;     // an integer is accepted too
//!     let batch = ctx.parameter_i64("batch_size")?;
//!     assert_eq!((min_kappa, batch), (0.6, 20));
//!     Ok(())
//! }
//!
//! TestRun::new()
//!     .parameters_from_manifest("[parameters]\nmin_kappa = 0.6\nbatch_size = 20\n")?
//!     .run(run)?;
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};

/// One value of `[parameters]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    /// `true` or `false`.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Number(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parameter::Boolean(b) => write!(f, "{b}"),
            Parameter::Integer(i) => write!(f, "{i}"),
            Parameter::Number(n) => write!(f, "{n}"),
            Parameter::Text(t) => write!(f, "{t:?}"),
        }
    }
}

impl From<bool> for Parameter {
    fn from(value: bool) -> Self {
        Parameter::Boolean(value)
    }
}

impl From<i64> for Parameter {
    fn from(value: i64) -> Self {
        Parameter::Integer(value)
    }
}

impl From<f64> for Parameter {
    fn from(value: f64) -> Self {
        Parameter::Number(value)
    }
}

impl From<&str> for Parameter {
    fn from(value: &str) -> Self {
        Parameter::Text(value.to_string())
    }
}

impl From<String> for Parameter {
    fn from(value: String) -> Self {
        Parameter::Text(value)
    }
}

fn missing(name: &str) -> Error {
    Error::not_found(format!(
        "parameter `{name}` is not set; add it under [parameters] in product.toml"
    ))
}

fn wrong_type(name: &str, value: &Parameter, wanted: &str) -> Error {
    Error::invalid(format!(
        "parameter `{name}` is {value}, not {wanted}; change it under [parameters] in product.toml"
    ))
}

/// `value` as a number (an integer converts).
pub(crate) fn as_f64(name: &str, value: Option<Parameter>) -> Result<f64> {
    match value {
        Some(Parameter::Number(n)) => Ok(n),
        Some(Parameter::Integer(i)) => Ok(i as f64),
        Some(other) => Err(wrong_type(name, &other, "a number")),
        None => Err(missing(name)),
    }
}

/// `value` as a whole number.
pub(crate) fn as_i64(name: &str, value: Option<Parameter>) -> Result<i64> {
    match value {
        Some(Parameter::Integer(i)) => Ok(i),
        Some(other) => Err(wrong_type(name, &other, "a whole number")),
        None => Err(missing(name)),
    }
}

/// `value` as text.
pub(crate) fn as_text(name: &str, value: Option<Parameter>) -> Result<String> {
    match value {
        Some(Parameter::Text(t)) => Ok(t),
        Some(other) => Err(wrong_type(name, &other, "text")),
        None => Err(missing(name)),
    }
}

/// `value` as a boolean.
pub(crate) fn as_bool(name: &str, value: Option<Parameter>) -> Result<bool> {
    match value {
        Some(Parameter::Boolean(b)) => Ok(b),
        Some(other) => Err(wrong_type(name, &other, "true or false")),
        None => Err(missing(name)),
    }
}

/// The `[parameters]` table of a manifest's text, for native tests.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn from_manifest(text: &str) -> Result<Vec<(String, Parameter)>> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| Error::invalid(format!("product.toml does not parse: {e}")))?;
    let Some(parameters) = table.get("parameters") else {
        return Ok(Vec::new());
    };
    let Some(parameters) = parameters.as_table() else {
        return Err(Error::invalid(
            "[parameters] in product.toml is not a table",
        ));
    };
    parameters
        .iter()
        .map(|(name, value)| {
            let value = match value {
                toml::Value::Boolean(b) => Parameter::Boolean(*b),
                toml::Value::Integer(i) => Parameter::Integer(*i),
                toml::Value::Float(f) => Parameter::Number(*f),
                toml::Value::String(s) => Parameter::Text(s.clone()),
                other => {
                    return Err(Error::invalid(format!(
                        "parameter `{name}` is a {}; parameters are booleans, numbers or text",
                        other.type_str()
                    )));
                }
            };
            Ok((name.clone(), value))
        })
        .collect()
}
