use tessera_sdk::{Check, Context, Result};

#[tessera_sdk::product(checks = checks)]
fn run(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn checks(_ctx: &mut Context) -> Result<Vec<Check>> {
    Ok(vec![Check::new("out", "always")])
}

fn main() {}
