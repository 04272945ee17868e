//! Cron schedules (`trigger.schedule`, UTC): which products are due at a given time.
//!
//! Expressions are parsed by `croner` (validated at deploy). The table remembers, per product,
//! the next time it is due; [`CronTable::due`] returns the products whose time has come and
//! moves each to its following occurrence, so a schedule fires once per occurrence however often
//! it is polled. A host that was down over several occurrences fires once when it comes back.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;

struct Entry {
    expression: String,
    cron: Cron,
    next_us: Option<i64>,
}

/// The schedules of the active products.
#[derive(Default)]
pub struct CronTable {
    entries: BTreeMap<String, Entry>,
}

fn to_datetime(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

fn next_after(cron: &Cron, us: i64) -> Option<i64> {
    cron.find_next_occurrence(&to_datetime(us), false)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// The occurrence of `expression` a run queued at `at_us` is for (the latest at or before it)
/// and the occurrence after that, as OpenLineage's nominal start and end times; `None` for an
/// expression that does not parse or never occurred.
pub fn nominal_window(expression: &str, at_us: i64) -> Option<(i64, Option<i64>)> {
    let cron = Cron::from_str(expression).ok()?;
    let start = cron
        .find_previous_occurrence(&to_datetime(at_us), true)
        .ok()?
        .timestamp_micros();
    Some((start, next_after(&cron, start)))
}

impl CronTable {
    /// Sets (or, with `None`, removes) a product's schedule as of `now_us`. An unchanged
    /// expression keeps its next occurrence. Returns an error for an expression that does not
    /// parse.
    pub fn set(
        &mut self,
        product: &str,
        expression: Option<&str>,
        now_us: i64,
    ) -> Result<(), String> {
        let Some(expression) = expression else {
            self.entries.remove(product);
            return Ok(());
        };
        if self
            .entries
            .get(product)
            .is_some_and(|e| e.expression == expression)
        {
            return Ok(());
        }
        let cron = Cron::from_str(expression)
            .map_err(|e| format!("invalid cron expression `{expression}`: {e}"))?;
        let next_us = next_after(&cron, now_us);
        self.entries.insert(
            product.to_string(),
            Entry {
                expression: expression.to_string(),
                cron,
                next_us,
            },
        );
        Ok(())
    }

    /// The products due at `now_us`; each moves on to its next occurrence after `now_us`.
    pub fn due(&mut self, now_us: i64) -> Vec<String> {
        let mut due = Vec::new();
        for (product, entry) in &mut self.entries {
            if entry.next_us.is_some_and(|next| next <= now_us) {
                due.push(product.clone());
                entry.next_us = next_after(&entry.cron, now_us);
            }
        }
        due
    }

    /// The next occurrence of one product's schedule.
    pub fn next_of(&self, product: &str) -> Option<i64> {
        self.entries.get(product).and_then(|e| e.next_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_micros())
            .unwrap_or_default()
    }

    #[test]
    fn a_scheduled_run_is_for_the_occurrence_before_it() {
        // Queued 7 s after 12:05, the occurrence of a five-minute schedule it is for.
        assert_eq!(
            nominal_window("*/5 * * * *", at("2026-01-01T12:05:07Z")),
            Some((at("2026-01-01T12:05:00Z"), Some(at("2026-01-01T12:10:00Z"))))
        );
        // Queued on the occurrence itself.
        assert_eq!(
            nominal_window("0 3 * * *", at("2026-01-02T03:00:00Z")),
            Some((at("2026-01-02T03:00:00Z"), Some(at("2026-01-03T03:00:00Z"))))
        );
        assert_eq!(nominal_window("not cron", at("2026-01-02T03:00:00Z")), None);
    }

    #[test]
    fn a_schedule_fires_once_per_occurrence() {
        let mut table = CronTable::default();
        table
            .set("nightly", Some("0 3 * * *"), at("2026-01-01T12:00:00Z"))
            .unwrap();
        table
            .set("five", Some("*/5 * * * *"), at("2026-01-01T12:00:00Z"))
            .unwrap();
        assert_eq!(table.next_of("nightly"), Some(at("2026-01-02T03:00:00Z")));
        assert!(table.due(at("2026-01-01T12:04:59Z")).is_empty());
        assert_eq!(table.due(at("2026-01-01T12:05:00Z")), ["five"]);
        // Polling again at the same time fires nothing more.
        assert!(table.due(at("2026-01-01T12:05:00Z")).is_empty());
        assert_eq!(table.next_of("five"), Some(at("2026-01-01T12:10:00Z")));
        // A host down for a day fires each schedule once when it comes back.
        let mut both = table.due(at("2026-01-02T12:00:00Z"));
        both.sort();
        assert_eq!(both, ["five", "nightly"]);
        assert_eq!(table.next_of("nightly"), Some(at("2026-01-03T03:00:00Z")));
    }

    #[test]
    fn schedules_change_and_go() {
        let mut table = CronTable::default();
        let now = at("2026-01-01T00:00:30Z");
        table.set("p", Some("* * * * *"), now).unwrap();
        assert_eq!(table.next_of("p"), Some(at("2026-01-01T00:01:00Z")));
        table.set("p", Some("0 * * * *"), now).unwrap();
        assert_eq!(table.next_of("p"), Some(at("2026-01-01T01:00:00Z")));
        table.set("p", None, now).unwrap();
        assert_eq!(table.next_of("p"), None);
        let err = table.set("p", Some("every day"), now).unwrap_err();
        assert!(err.contains("invalid cron expression"), "{err}");
    }
}
