//! `identity`: copies the `rows` input to the `copy` output, batch by batch. It measures the
//! cost of moving data from storage through the sandbox and back.

use tessera_sdk::{Context, Result};

/// Rows per batch: large enough to amortize each call, small enough for a modest memory limit.
const BATCH_ROWS: u32 = 64 * 1024;

#[tessera_sdk::product]
fn run(ctx: &mut Context) -> Result<()> {
    let mut out = ctx.output("copy")?;
    for batch in ctx.input("rows")?.batches(BATCH_ROWS) {
        out.write(batch?)?;
    }
    Ok(())
}
