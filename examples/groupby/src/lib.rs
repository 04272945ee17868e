//! `groupby`: the two group-by queries of db-benchmark's group-by task over the `x` input,
//! with the SDK's [`GroupBy`]: `sum(v1), mean(v3) by id1` and `sum(v1) by id1, id4`. The
//! `query` parameter picks one or both, so each can be timed alone.

use tessera_sdk::relational::{Agg, GroupBy};
use tessera_sdk::{Batch, Context, Error, Result};

/// Rows per batch read from the host.
const BATCH_ROWS: u32 = 256 * 1024;

#[tessera_sdk::product]
fn run(ctx: &mut Context) -> Result<()> {
    let query = ctx.parameter_text("query")?;
    let (by_id1, by_id1_id4) = match query.as_str() {
        "scan" => {
            // Reads what `id1` reads and aggregates nothing: the cost of the data path alone.
            let mut rows = 0;
            for batch in ctx
                .input_columns("x", &["id1", "v1", "v3"])?
                .batches(BATCH_ROWS)
            {
                rows += batch?.num_rows();
            }
            ctx.gauge("rows", rows as f64);
            (false, false)
        }
        "id1" => (true, false),
        "id1_id4" => (false, true),
        "both" => (true, true),
        other => {
            return Err(Error::invalid(format!(
                "parameter `query` is `{other}`; use id1, id1_id4, both or scan"
            )));
        }
    };
    let mut queries = Vec::new();
    if by_id1 {
        queries.push((
            "by_id1",
            GroupBy::new(&["id1"], [Agg::sum("v1"), Agg::mean("v3")]),
        ));
    }
    if by_id1_id4 {
        queries.push((
            "by_id1_id4",
            GroupBy::new(&["id1", "id4"], [Agg::sum("v1")]),
        ));
    }
    let mut columns: Vec<&str> = Vec::new();
    for column in queries.iter().flat_map(|(_, q)| q.columns()) {
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    for batch in ctx.input_columns("x", &columns)?.batches(BATCH_ROWS) {
        let batch = batch?;
        for (_, query) in &mut queries {
            query.add(&batch)?;
        }
    }
    for (port, query) in queries {
        let table = query.finish()?;
        // No rows in: no groups, and no columns to type them; write the port empty.
        if table.num_columns() > 0 {
            ctx.output(port)?.write(table)?;
        }
    }
    // Every port publishes, empty where its query was not asked for or found nothing.
    ctx.output("by_id1")?.write(empty_by_id1()?)?;
    ctx.output("by_id1_id4")?.write(empty_by_id1_id4()?)?;
    Ok(())
}

fn empty_by_id1() -> Result<Batch> {
    Batch::builder()
        .text("id1", Vec::<&str>::new())
        .i64("v1", [])
        .f64("v3", [])
        .build()
}

fn empty_by_id1_id4() -> Result<Batch> {
    Batch::builder()
        .text("id1", Vec::<&str>::new())
        .i64("id4", [])
        .i64("v1", [])
        .build()
}
