//! Custom checks: data tests written in code, for rules the manifest's declarative checks
//! cannot express.
//!
//! A product names its check function in the attribute, `#[tessera_sdk::product(checks =
//! NAME)]`. After `run` succeeds, and before anything is published, the host calls it with a
//! [`Context`](crate::Context) where [`Context::input`](crate::Context::input) opens an output
//! port to read back the rows `run` wrote (and the declared inputs, as `run` saw them); outputs
//! cannot be written. It returns one [`Check`] per rule. A failed check with
//! [`Severity::Error`] (the default) quarantines the run; [`Severity::Warn`] is reported and
//! the outputs publish.
//!
//! ```
//! use tessera_sdk::{testing::TestRun, Batch, Check, Context, Result};
//!
//! fn run(ctx: &mut Context) -> Result<()> {
//!     ctx.output("consensus")?.write(
//!         Batch::builder()
//!             .text("label", ["malignant", "benign", "malignant"])
//!             .i64("annotators", [3, 1, 1])
//!             .build()?,
//!     )
//! }
//!
//! fn checks(ctx: &mut Context) -> Result<Vec<Check>> {
//!     let consensus = ctx.input("consensus")?.read_all()?;
//!     let labels = consensus.text("label")?;
//!     let annotators = consensus.i64("annotators")?;
//!     let failing = (0..consensus.num_rows())
//!         .filter(|&row| labels.get(row) == Some("malignant") && annotators.get(row) < Some(2));
//!     Ok(vec![
//!         Check::new("consensus", "malignant-needs-two-annotators")
//!             .rows(consensus.num_rows(), failing),
//!     ])
//! }
//!
//! let mut test = TestRun::new();
//! test.run(run)?;
//! let results = test.check(checks)?;
//! assert!(!results[0].is_passed());
//! assert_eq!(results[0].failing_rows(), &[2]);
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

/// Whether a failed check blocks publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    /// A failure quarantines the run: nothing is published.
    #[default]
    Error,
    /// A failure is reported; the outputs publish.
    Warn,
}

/// The outcome of one custom check on one output port.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    port: String,
    name: String,
    severity: Severity,
    verdict: Option<bool>,
    mostly: Option<f64>,
    evaluated: u64,
    failed: u64,
    failing_rows: Vec<u64>,
    message: Option<String>,
}

/// Failing row indices a check keeps; the host shows the first few with their values.
const KEPT_ROWS: usize = 100;

impl Check {
    /// A check named `name` (unique per port) on output port `port`; it passes until rows fail
    /// or [`Check::passed`] says otherwise, and failures are errors unless [`Check::warn`].
    ///
    /// ```
    /// let check = tessera_sdk::Check::new("consensus", "one-row-per-study");
    /// assert!(check.is_passed());
    /// ```
    pub fn new(port: impl Into<String>, name: impl Into<String>) -> Check {
        Check {
            port: port.into(),
            name: name.into(),
            severity: Severity::Error,
            verdict: None,
            mostly: None,
            evaluated: 0,
            failed: 0,
            failing_rows: Vec::new(),
            message: None,
        }
    }

    /// Makes a failure a warning: reported, but the outputs publish.
    ///
    /// ```
    /// use tessera_sdk::{Check, Severity};
    /// assert_eq!(Check::new("p", "c").warn().severity(), Severity::Warn);
    /// ```
    pub fn warn(mut self) -> Check {
        self.severity = Severity::Warn;
        self
    }

    /// Records a row-level check: `evaluated` rows looked at, and the indices (from 0, in the
    /// port's order) of those that failed. It passes when none failed, or when the share that
    /// passed reaches [`Check::mostly`].
    ///
    /// ```
    /// let check = tessera_sdk::Check::new("p", "c").rows(10, [3, 7]);
    /// assert!(!check.is_passed());
    /// assert_eq!(check.failed(), 2);
    /// ```
    pub fn rows(mut self, evaluated: usize, failing: impl IntoIterator<Item = usize>) -> Check {
        self.evaluated = evaluated as u64;
        self.failed = 0;
        self.failing_rows.clear();
        for row in failing {
            self.failed += 1;
            if self.failing_rows.len() < KEPT_ROWS {
                self.failing_rows.push(row as u64);
            }
        }
        self
    }

    /// The share of looked-at rows (0 to 1) that must pass, as the manifest's `mostly`.
    ///
    /// ```
    /// let check = tessera_sdk::Check::new("p", "c").rows(10, [3]).mostly(0.9);
    /// assert!(check.is_passed());
    /// ```
    pub fn mostly(mut self, fraction: f64) -> Check {
        self.mostly = Some(fraction.clamp(0.0, 1.0));
        self
    }

    /// Sets the verdict of a check on the table as a whole (no rows to point at).
    ///
    /// ```
    /// let check = tessera_sdk::Check::new("p", "c").passed(false).message("no rows at all");
    /// assert!(!check.is_passed());
    /// ```
    pub fn passed(mut self, passed: bool) -> Check {
        self.verdict = Some(passed);
        self
    }

    /// Says what was found, in words; without it the message counts the failing rows.
    pub fn message(mut self, message: impl Into<String>) -> Check {
        self.message = Some(message.into());
        self
    }

    /// The output port.
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a failure blocks publication.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// Rows looked at.
    pub fn evaluated(&self) -> u64 {
        self.evaluated
    }

    /// Rows that failed.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// The first failing row indices (at most 100).
    pub fn failing_rows(&self) -> &[u64] {
        &self.failing_rows
    }

    /// Whether the check passed: the verdict given with [`Check::passed`], otherwise whether the
    /// failing rows stay within what [`Check::mostly`] allows (none, by default).
    pub fn is_passed(&self) -> bool {
        if let Some(verdict) = self.verdict {
            return verdict;
        }
        match self.mostly {
            Some(fraction) if self.evaluated > 0 => {
                let passing = (self.evaluated - self.failed.min(self.evaluated)) as f64;
                passing / self.evaluated as f64 >= fraction
            }
            _ => self.failed == 0,
        }
    }

    /// The message: the one given, or a count of failing rows.
    pub fn message_text(&self) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        match (self.is_passed(), self.failed) {
            (true, 0) => format!("all {} rows passed", self.evaluated),
            (_, 0) => "failed".to_string(),
            (_, failed) => format!("{failed} of {} rows failed", self.evaluated),
        }
    }
}
