//! The columns a view plots, read from a published version of its port: only the columns the
//! view names, at most [`MAX_POINTS`] rows, numbers as `f64` and everything else as text.

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use tessera_core::io::BatchSource;
use tessera_core::manifest::View;

use crate::error::{ServiceError, ServiceResult};

/// The most rows a view reads; the rest of the port is left out (and said so).
pub const MAX_POINTS: usize = 100_000;

/// The largest magnitude drawn: beyond it, an axis's range and its ticks leave `f64`.
pub const MAX_MAGNITUDE: f64 = 1e100;

/// One plotted column.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    /// Numbers (integers and floats), `None` for nulls.
    Numbers(Vec<Option<f64>>),
    /// Text (and booleans, as `true`/`false`), `None` for nulls.
    Text(Vec<Option<String>>),
}

impl Series {
    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Series::Numbers(v) => v.len(),
            Series::Text(v) => v.len(),
        }
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as a number, if it is one that can be drawn: finite and at most
    /// [`MAX_MAGNITUDE`] in size (larger ones are left out, as nulls are).
    pub fn number(&self, i: usize) -> Option<f64> {
        match self {
            Series::Numbers(v) => v
                .get(i)
                .copied()
                .flatten()
                .filter(|x| x.is_finite() && x.abs() <= MAX_MAGNITUDE),
            Series::Text(_) => None,
        }
    }

    /// Row `i` as a label (numbers printed shortly), `None` for a null.
    pub fn label(&self, i: usize) -> Option<String> {
        match self {
            Series::Numbers(v) => v.get(i).copied().flatten().map(short_number),
            Series::Text(v) => v.get(i).cloned().flatten(),
        }
    }

    /// Row `i` as JSON: a number, a string or null.
    pub fn json(&self, i: usize) -> serde_json::Value {
        match self {
            Series::Numbers(v) => v
                .get(i)
                .copied()
                .flatten()
                .and_then(serde_json::Number::from_f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Series::Text(v) => v
                .get(i)
                .cloned()
                .flatten()
                .map_or(serde_json::Value::Null, serde_json::Value::String),
        }
    }

    fn extend(&mut self, array: &ArrayRef) -> ServiceResult<()> {
        match self {
            Series::Numbers(values) => {
                let floats = arrow::compute::cast(array, &DataType::Float64)
                    .map_err(ServiceError::internal)?;
                let floats = floats.as_primitive::<Float64Type>();
                values.extend(floats.iter());
            }
            Series::Text(values) => {
                let text =
                    arrow::compute::cast(array, &DataType::Utf8).map_err(ServiceError::internal)?;
                let text = text.as_string::<i32>();
                values.extend(text.iter().map(|v| v.map(str::to_string)));
            }
        }
        Ok(())
    }

    fn truncate(&mut self, rows: usize) {
        match self {
            Series::Numbers(v) => v.truncate(rows),
            Series::Text(v) => v.truncate(rows),
        }
    }
}

/// A number as a short label: integers without a fraction, others to 4 significant digits.
pub fn short_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 1e-3 && x.abs() < 1e6 {
        let text = format!("{x:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// What a view plots.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewData {
    /// The x column.
    pub x: Series,
    /// The y column, for the kinds that have one.
    pub y: Option<Series>,
    /// The colour column, if the view names one.
    pub color: Option<Series>,
    /// Whether the port had more than [`MAX_POINTS`] rows (only the first are plotted).
    pub truncated: bool,
}

impl ViewData {
    /// Rows read.
    pub fn rows(&self) -> usize {
        self.x.len()
    }
}

/// Reads what `view` plots from `source`.
pub fn read(source: &mut dyn BatchSource, view: &View) -> ServiceResult<ViewData> {
    let schema = source.schema();
    let names: Vec<&str> = [
        Some(view.x.as_str()),
        view.y.as_deref(),
        view.color.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut indices = Vec::new();
    let mut series = Vec::new();
    for name in &names {
        let index = schema.index_of(name).map_err(|_| {
            ServiceError::unprocessable(
                "view_column_missing",
                format!(
                    "view `{}` plots `{name}`, which the published data does not have",
                    view.name
                ),
            )
            .hint("publish a new version with the column, or fix the view in product.toml")
        })?;
        indices.push(index);
        let numeric = schema.field(index).data_type().is_numeric();
        series.push(if numeric {
            Series::Numbers(Vec::new())
        } else {
            Series::Text(Vec::new())
        });
    }
    let projected = source.project(&indices);
    let mut rows = 0usize;
    let mut truncated = false;
    while let Some(batch) = source.next_batch().map_err(ServiceError::internal)? {
        if rows >= MAX_POINTS {
            truncated = true;
            break;
        }
        for (position, (column, &index)) in series.iter_mut().zip(&indices).enumerate() {
            let at = if projected { position } else { index };
            let array = batch
                .columns()
                .get(at)
                .ok_or_else(|| ServiceError::internal("a batch lost a column"))?;
            column.extend(array)?;
        }
        rows += batch.num_rows();
    }
    if rows > MAX_POINTS {
        truncated = true;
        for column in &mut series {
            column.truncate(MAX_POINTS);
        }
    }
    let mut series = series.into_iter();
    let x = series
        .next()
        .ok_or_else(|| ServiceError::internal("a view without x"))?;
    let y = view.y.as_ref().and_then(|_| series.next());
    let color = view.color.as_ref().and_then(|_| series.next());
    Ok(ViewData {
        x,
        y,
        color,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_read_as_people_write_them() {
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(0.8125), "0.8125");
        assert_eq!(short_number(0.666_666), "0.6667");
        assert_eq!(short_number(1.5e-7), "1.500e-7");
    }

    #[test]
    fn non_finite_numbers_are_not_plotted() {
        let s = Series::Numbers(vec![Some(f64::NAN), Some(f64::INFINITY), Some(1.0), None]);
        assert_eq!(s.number(0), None);
        assert_eq!(s.number(1), None);
        assert_eq!(s.number(2), Some(1.0));
        assert_eq!(s.number(3), None);
        let huge = Series::Numbers(vec![Some(f64::MAX), Some(-1e101), Some(1e100)]);
        assert_eq!(huge.number(0), None);
        assert_eq!(huge.number(1), None);
        assert_eq!(huge.number(2), Some(1e100));
        assert_eq!(s.json(0), serde_json::Value::Null);
    }
}
