tessera_sdk::ports!(manifest = "no-such-product.toml");

fn main() {}
