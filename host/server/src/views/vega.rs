//! A view as a Vega-Lite v5 specification with its data inline, for notebook users (Altair
//! reads it with `alt.Chart.from_dict`, Vega tooling renders it).

use serde_json::{Map, Value, json};
use tessera_core::manifest::{View, ViewKind};

use super::data::{Series, ViewData};
use super::svg::BINS;

/// The Vega-Lite schema this module writes.
pub const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v5.json";

fn field_type(series: &Series) -> &'static str {
    match series {
        Series::Numbers(_) => "quantitative",
        Series::Text(_) => "nominal",
    }
}

/// The specification of `view` over `data`.
pub fn spec(view: &View, data: &ViewData) -> Value {
    let mut rows = Vec::with_capacity(data.rows());
    for i in 0..data.rows() {
        let mut row = Map::new();
        row.insert(view.x.clone(), data.x.json(i));
        if let (Some(name), Some(y)) = (&view.y, &data.y) {
            row.insert(name.clone(), y.json(i));
        }
        if let (Some(name), Some(c)) = (&view.color, &data.color) {
            row.insert(name.clone(), c.json(i));
        }
        rows.push(Value::Object(row));
    }
    let x = json!({"field": view.x, "type": field_type(&data.x), "title": view.x});
    let y = |kind: &str| match (&view.y, &data.y) {
        (Some(name), Some(series)) => {
            json!({"field": name, "type": if kind.is_empty() { field_type(series) } else { kind }, "title": name})
        }
        _ => Value::Null,
    };
    let colour = match (&view.color, &data.color) {
        (Some(name), Some(series)) => {
            json!({"field": name, "type": field_type(series), "title": name})
        }
        _ => Value::Null,
    };
    let (mark, encoding) = match view.kind {
        ViewKind::Bar => (
            json!({"type": "bar", "tooltip": true}),
            json!({"x": with(x, "sort", Value::Null), "y": y("quantitative")}),
        ),
        ViewKind::Line => (
            json!({"type": "line", "point": true, "tooltip": true}),
            json!({"x": x, "y": y("quantitative"), "color": colour}),
        ),
        ViewKind::Scatter => (
            json!({"type": "point", "filled": true, "tooltip": true}),
            json!({"x": x, "y": y("quantitative"), "color": colour}),
        ),
        ViewKind::Histogram => (
            json!({"type": "bar", "tooltip": true}),
            json!({
                "x": with(x, "bin", json!({"maxbins": BINS})),
                "y": {"aggregate": "count", "type": "quantitative", "title": "rows"},
            }),
        ),
        ViewKind::Heatmap => (
            json!({"type": "rect", "tooltip": true}),
            json!({
                "x": with(with(x, "type", json!("nominal")), "sort", Value::Null),
                "y": with(y("nominal"), "sort", Value::Null),
                "color": with(colour, "type", json!("quantitative")),
            }),
        ),
    };
    let encoding: Map<String, Value> = encoding
        .as_object()
        .map(|e| {
            e.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "$schema": SCHEMA,
        "title": if view.title.is_empty() { &view.name } else { &view.title },
        "description": format!("{} view `{}`", view.kind.name(), view.name),
        "width": 600,
        "height": 360,
        "data": {"values": rows},
        "mark": mark,
        "encoding": encoding,
    })
}

fn with(mut object: Value, key: &str, value: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_string(), value);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_view_keeps_its_rows_and_encodes_the_value_as_a_quantity() {
        let view = View {
            name: "labels".into(),
            kind: ViewKind::Bar,
            x: "label".into(),
            y: Some("studies".into()),
            color: None,
            title: "Studies by label".into(),
        };
        let data = ViewData {
            x: Series::Text(vec![Some("benign".into()), None]),
            y: Some(Series::Numbers(vec![Some(12.0), Some(f64::NAN)])),
            color: None,
            truncated: false,
        };
        let spec = spec(&view, &data);
        assert_eq!(spec["$schema"], SCHEMA);
        assert_eq!(spec["mark"]["type"], "bar");
        assert_eq!(spec["encoding"]["y"]["type"], "quantitative");
        assert_eq!(spec["encoding"]["x"]["type"], "nominal");
        assert!(spec["encoding"].get("color").is_none());
        assert_eq!(
            spec["data"]["values"],
            json!([{"label": "benign", "studies": 12.0}, {"label": null, "studies": null}])
        );
    }
}
