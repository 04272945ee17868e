use tessera_sdk::{Context, Result};

#[tessera_sdk::product]
fn run(ctx: &mut Context) -> Result<()> {
    ctx.gauge("ok", 1.0);
    Ok(())
}

fn main() {}
