use tessera_sdk::{Context, Result};

#[tessera_sdk::product(check = checks)]
fn run(_ctx: &mut Context) -> Result<()> {
    Ok(())
}

fn main() {}
