use tessera_sdk::{Context, Result};

#[tessera_sdk::product(checks = checks)]
fn run(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn checks(_ctx: &mut Context) -> Result<bool> {
    Ok(true)
}

fn main() {}
