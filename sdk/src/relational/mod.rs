//! Relational work inside a product, as plain Rust: [`GroupBy`] with sums, means, counts,
//! minima and maxima; [`join`] of two inputs on key columns; sorting and picking rows
//! ([`crate::Batch::sort_by`], [`crate::Batch::take`]); and the fast hash maps they use
//! ([`FastMap`], [`FastSet`]).
//!
//! ```
//! use tessera_sdk::{Batch, Context, Result};
//! use tessera_sdk::relational::{Agg, GroupBy, SortKey};
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     let mut by = GroupBy::new(&["label"], [Agg::count_rows().named("studies"), Agg::mean("agreement")]);
//!     let columns = by.columns();
//!     for batch in ctx.input_columns("votes", &columns)?.batches(64 * 1024) {
//!         by.add(&batch?)?;
//!     }
//!     let table = by.finish()?.sort_by(&[SortKey::desc("studies")])?;
//!     ctx.output("labels")?.write(table)
//! }
//!
//! let votes = Batch::builder()
//!     .text("label", ["benign", "malignant", "benign"])
//!     .f64("agreement", [1.0, 0.5, 0.75])
//!     .build()?;
//! let mut test = tessera_sdk::testing::TestRun::new().input("votes", votes);
//! test.run(run)?;
//! let labels = test.output("labels")?;
//! assert_eq!(labels.text("label")?.get(0), Some("benign"));
//! assert_eq!(labels.i64("studies")?.values(), &[2, 1]);
//! assert_eq!(labels.f64("agreement")?.values(), &[0.875, 0.5]);
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

mod group;
mod join;
mod keys;
mod rows;

pub use group::{Agg, GroupBy};
pub use join::{JoinKind, join};
pub use rows::SortKey;

/// A hash map with a fast, non-cryptographic hasher (FxHash): several times faster than the
/// standard library's on short keys such as ids and labels. It does not resist keys chosen to
/// collide; a product hashes its own inputs, inside its own time limit.
///
/// ```
/// let mut counts: tessera_sdk::relational::FastMap<&str, u32> = Default::default();
/// *counts.entry("benign").or_default() += 1;
/// assert_eq!(counts["benign"], 1);
/// ```
pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// A hash set with the hasher of [`FastMap`].
///
/// ```
/// let mut seen: tessera_sdk::relational::FastSet<i64> = Default::default();
/// assert!(seen.insert(7));
/// assert!(!seen.insert(7));
/// ```
pub type FastSet<K> = rustc_hash::FxHashSet<K>;
