use tessera_sdk::{Context, Result};

#[tessera_sdk::product]
fn run(ctx: &Context) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
