//! Prometheus metrics for `GET /metrics`: runs by product and status, run durations, HTTP
//! requests by route and status, runs executing now, bytes of output served, rows ingested, and
//! per product its freshness, staleness, last run outcome, failing checks and rows per port, and
//! policy decisions by event and outcome, and OpenLineage events by outcome.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    product: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabel {
    product: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    product: String,
    port: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    event: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServedLabels {
    product: String,
    format: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// What became of an OpenLineage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineageOutcome {
    /// The endpoint accepted it.
    Sent,
    /// An attempt failed and another follows.
    Retried,
    /// Given up: refused for good, or every attempt failed.
    Failed,
    /// Never queued: the queue was full.
    Dropped,
}

impl LineageOutcome {
    fn name(self) -> &'static str {
        match self {
            LineageOutcome::Sent => "sent",
            LineageOutcome::Retried => "retried",
            LineageOutcome::Failed => "failed",
            LineageOutcome::Dropped => "dropped",
        }
    }
}

/// The lineage sender's metrics, shared with its thread.
#[derive(Debug, Clone, Default)]
pub struct LineageMetrics {
    events: Family<OutcomeLabel, Counter>,
    queued: Gauge<i64, AtomicI64>,
}

impl LineageMetrics {
    /// One more event with `outcome`.
    pub fn count(&self, outcome: LineageOutcome) {
        self.events
            .get_or_create(&OutcomeLabel {
                outcome: outcome.name(),
            })
            .inc();
    }

    /// Events queued or being sent now.
    pub fn queued(&self, events: i64) {
        self.queued.set(events);
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn run_duration_histogram() -> Histogram {
    // 1 ms to about 9 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

fn request_duration_histogram() -> Histogram {
    // 100 µs to about 50 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    run_seconds: HistogramFamily<ProductLabel>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<RequestLabels>,
    runs_live: Gauge<i64, AtomicI64>,
    bytes_served: Family<ServedLabels, Counter>,
    rows_ingested: Family<ProductLabel, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    freshness_seconds: Family<ProductLabel, Gauge<f64, AtomicU64>>,
    stale: Family<ProductLabel, Gauge<i64, AtomicI64>>,
    last_run_succeeded: Family<ProductLabel, Gauge<i64, AtomicI64>>,
    checks_failing: Family<ProductLabel, Gauge<i64, AtomicI64>>,
    rows: Family<PortLabels, Gauge<i64, AtomicI64>>,
    lineage: LineageMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("runs", "Finished runs by product and status", runs.clone());
        let run_seconds: HistogramFamily<ProductLabel> =
            Family::new_with_constructor(run_duration_histogram);
        registry.register(
            "run_duration_seconds",
            "Run durations by product",
            run_seconds.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let request_seconds: HistogramFamily<RequestLabels> =
            Family::new_with_constructor(request_duration_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method, route and status",
            request_seconds.clone(),
        );
        let runs_live = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "instances_live",
            "Product instances executing now",
            runs_live.clone(),
        );
        let bytes_served = Family::<ServedLabels, Counter>::default();
        registry.register(
            "output_bytes_served",
            "Bytes of published outputs sent to consumers",
            bytes_served.clone(),
        );
        let rows_ingested = Family::<ProductLabel, Counter>::default();
        registry.register(
            "rows_ingested",
            "Rows accepted into ingest ports, by product",
            rows_ingested.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "policy_decisions",
            "Policy evaluations, by lifecycle event and outcome (allowed, warned, denied)",
            decisions.clone(),
        );
        let freshness_seconds = Family::<ProductLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "product_freshness_seconds",
            "Age of each product's newest published version",
            freshness_seconds.clone(),
        );
        let stale = Family::<ProductLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "product_stale",
            "1 when a product's newest version is older than its freshness SLO",
            stale.clone(),
        );
        let last_run_succeeded = Family::<ProductLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "product_last_run_succeeded",
            "1 when a product's last finished run succeeded, 0 otherwise",
            last_run_succeeded.clone(),
        );
        let checks_failing = Family::<ProductLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "product_checks_failing",
            "Checks that failed in a product's last finished run",
            checks_failing.clone(),
        );
        let rows = Family::<PortLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "port_rows",
            "Rows in the current published version of each output port",
            rows.clone(),
        );
        let lineage = LineageMetrics::default();
        registry.register(
            "lineage_events",
            "OpenLineage events by outcome (sent, retried, failed, dropped)",
            lineage.events.clone(),
        );
        registry.register(
            "lineage_queue_depth",
            "OpenLineage events queued or being sent",
            lineage.queued.clone(),
        );
        Metrics {
            lineage,
            freshness_seconds,
            stale,
            last_run_succeeded,
            checks_failing,
            rows,
            rows_ingested,
            decisions,
            registry,
            runs,
            run_seconds,
            requests,
            request_seconds,
            runs_live,
            bytes_served,
        }
    }
}

impl Metrics {
    /// One answered request: its method, matched route (not the raw path, so product names do
    /// not explode the label space), status, and the time to its response head.
    pub fn request(&self, method: String, route: String, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method,
            route,
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.request_seconds.get_or_create(&labels).observe(seconds);
    }

    /// A product's freshness, as last computed.
    pub fn freshness(&self, product: &str, freshness: &crate::freshness::Freshness) {
        let label = ProductLabel {
            product: product.to_string(),
        };
        if let Some(age) = freshness.age_seconds {
            self.freshness_seconds.get_or_create(&label).set(age);
        }
        self.stale.get_or_create(&label).set(i64::from(
            freshness.state == crate::freshness::FreshnessState::Stale,
        ));
    }

    /// How a product's run ended: its state, failing checks and, if it published, the rows of
    /// each port.
    pub fn product_run(
        &self,
        product: &str,
        succeeded: bool,
        checks_failing: usize,
        published_rows: Option<&std::collections::BTreeMap<String, u64>>,
    ) {
        let label = ProductLabel {
            product: product.to_string(),
        };
        self.last_run_succeeded
            .get_or_create(&label)
            .set(i64::from(succeeded));
        self.checks_failing
            .get_or_create(&label)
            .set(i64::try_from(checks_failing).unwrap_or(i64::MAX));
        for (port, rows) in published_rows.into_iter().flatten() {
            self.rows
                .get_or_create(&PortLabels {
                    product: product.to_string(),
                    port: port.clone(),
                })
                .set(i64::try_from(*rows).unwrap_or(i64::MAX));
        }
    }

    /// An ingest was committed.
    pub fn ingested(&self, product: &str, rows: u64) {
        self.rows_ingested
            .get_or_create(&ProductLabel {
                product: product.to_string(),
            })
            .inc_by(rows);
    }

    /// The policies were evaluated at `event` with `outcome`.
    pub fn decision(&self, event: &str, outcome: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A run started executing.
    pub fn run_started(&self) {
        self.runs_live.inc();
    }

    /// A run ended in `status` after `seconds`.
    pub fn run_finished(&self, product: &str, status: &str, seconds: f64) {
        self.runs_live.dec();
        self.runs
            .get_or_create(&RunLabels {
                product: product.into(),
                status: status.into(),
            })
            .inc();
        self.run_seconds
            .get_or_create(&ProductLabel {
                product: product.into(),
            })
            .observe(seconds);
    }

    /// Output bytes sent.
    pub fn served(&self, product: &str, format: &str, bytes: u64) {
        self.bytes_served
            .get_or_create(&ServedLabels {
                product: product.into(),
                format: format.into(),
            })
            .inc_by(bytes);
    }

    /// The lineage sender's metrics.
    pub fn lineage(&self) -> LineageMetrics {
        self.lineage.clone()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }
}
