tessera_sdk::ports!(manifest = "ports.toml");

fn main() {
    // `mean` is declared float64 and required: a text value does not fit.
    let _ = ports::stats::Row {
        sensor: "north".to_string(),
        mean: "12.5".to_string(),
    };
}
