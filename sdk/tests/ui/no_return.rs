use tessera_sdk::Context;

#[tessera_sdk::product]
fn run(_ctx: &mut Context) {}

fn main() {}
