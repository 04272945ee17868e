tessera_sdk::ports!(manifest = "ports.toml");

fn main() {
    let batch = tessera_sdk::Batch::default();
    for row in ports::readings::rows(&batch).unwrap() {
        // `unit` is not a column of `readings` in ports.toml.
        let _ = row.unit;
    }
}
