//! Sends OpenLineage events to the configured endpoint without ever making a run wait: events
//! go into a bounded queue (a full queue drops the new event and counts it), and one thread of
//! their own POSTs them in order, retrying refusals that may pass later (a 5xx, a 408, a 429,
//! a connection that failed) with a doubling backoff. Outcomes are counted in Prometheus
//! (`tessera_lineage_events_total{outcome}`), and the log says when the endpoint starts and
//! stops failing, not at every event.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::LineageConfig;
use crate::metrics::{LineageMetrics, LineageOutcome};

/// The longest wait between two attempts at one event.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The sending end; cheap to share behind the server state. Without an endpoint it sends
/// nothing.
pub struct Emitter {
    queue: Option<SyncSender<Vec<u8>>>,
    shared: Arc<Shared>,
}

/// What the emitter and its sending thread share.
struct Shared {
    /// Events queued or being sent.
    pending: Mutex<usize>,
    /// Signalled whenever `pending` drops.
    settled: Condvar,
    metrics: LineageMetrics,
    /// Runs whose `START` was sent and whose end was not yet.
    started: Mutex<HashSet<String>>,
}

impl Shared {
    fn settle_one(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = pending.saturating_sub(1);
            self.metrics
                .queued(i64::try_from(*pending).unwrap_or(i64::MAX));
        }
        self.settled.notify_all();
    }
}

impl Emitter {
    /// An emitter for `config`; with an endpoint configured, starts the sending thread.
    pub fn new(config: &LineageConfig, metrics: LineageMetrics) -> Emitter {
        let shared = Arc::new(Shared {
            pending: Mutex::new(0),
            settled: Condvar::new(),
            metrics,
            started: Mutex::new(HashSet::new()),
        });
        let Some(url) = config.openlineage_url.clone() else {
            return Emitter {
                queue: None,
                shared,
            };
        };
        let (queue, events) = std::sync::mpsc::sync_channel(config.queue);
        let endpoint = Endpoint {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(config.timeout))
                .build()
                .into(),
            url,
            authorization: config.api_key.as_ref().map(|key| format!("Bearer {key}")),
            attempts: config.attempts,
            backoff: config.backoff,
        };
        let sender_shared = shared.clone();
        let started = std::thread::Builder::new()
            .name("tessera-lineage".into())
            .spawn(move || endpoint.serve(events, &sender_shared));
        match started {
            Ok(_) => Emitter {
                queue: Some(queue),
                shared,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the lineage sender; no OpenLineage events will be sent");
                Emitter {
                    queue: None,
                    shared,
                }
            }
        }
    }

    /// Whether events go anywhere.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues one event, or drops it (counted) when the queue is full. Never waits.
    pub fn send<T: serde::Serialize>(&self, event: &T) {
        let Some(queue) = &self.queue else {
            return;
        };
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an OpenLineage event");
                self.shared.metrics.count(LineageOutcome::Failed);
                return;
            }
        };
        if let Ok(mut pending) = self.shared.pending.lock() {
            *pending += 1;
            self.shared
                .metrics
                .queued(i64::try_from(*pending).unwrap_or(i64::MAX));
        }
        match queue.try_send(body) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.settle_one();
                self.shared.metrics.count(LineageOutcome::Dropped);
                tracing::debug!("the lineage queue is full; an event was dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.settle_one();
                self.shared.metrics.count(LineageOutcome::Dropped);
            }
        }
    }

    /// Notes that a run's `START` was sent.
    pub fn mark_started(&self, run: &str) {
        if let Ok(mut started) = self.shared.started.lock() {
            started.insert(run.to_string());
        }
    }

    /// Whether a run's `START` was sent; forgets it (its end is being sent).
    pub fn take_started(&self, run: &str) -> bool {
        self.shared
            .started
            .lock()
            .is_ok_and(|mut started| started.remove(run))
    }

    /// Waits until every queued event is sent or given up, or `within` passes; the number of
    /// events still unsent then.
    pub fn flush(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        let Ok(mut pending) = self.shared.pending.lock() else {
            return 0;
        };
        while *pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.shared.settled.wait_timeout(pending, left) {
                Ok((guard, _)) => pending = guard,
                Err(_) => return 0,
            }
        }
        *pending
    }
}

/// Where events go, and how hard to try.
struct Endpoint {
    agent: ureq::Agent,
    url: String,
    authorization: Option<String>,
    attempts: u32,
    backoff: Duration,
}

/// How one attempt went.
enum Attempt {
    Accepted,
    /// Worth another try: the answer or the error, in words.
    Retry(String),
    /// Refused for good (a 4xx other than 408 and 429).
    Refused(String),
}

impl Endpoint {
    /// Sends queued events, in order, until the emitter goes.
    fn serve(self, events: Receiver<Vec<u8>>, shared: &Shared) {
        let mut failing = false;
        for body in events {
            let delivered = self.deliver(&body, shared);
            match (&delivered, failing) {
                (Ok(()), true) => {
                    tracing::info!(url = %self.url, "the OpenLineage endpoint accepts events again");
                    failing = false;
                }
                (Err(why), false) => {
                    tracing::warn!(url = %self.url, error = %why, "an OpenLineage event was not delivered; later ones are tried");
                    failing = true;
                }
                _ => {}
            }
            shared.settle_one();
        }
    }

    fn deliver(&self, body: &[u8], shared: &Shared) -> Result<(), String> {
        let mut wait = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.attempt(body) {
                Attempt::Accepted => {
                    shared.metrics.count(LineageOutcome::Sent);
                    return Ok(());
                }
                Attempt::Refused(why) => {
                    shared.metrics.count(LineageOutcome::Failed);
                    return Err(why);
                }
                Attempt::Retry(why) => last = why,
            }
            if attempt < self.attempts {
                shared.metrics.count(LineageOutcome::Retried);
                std::thread::sleep(wait);
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
        shared.metrics.count(LineageOutcome::Failed);
        Err(format!("{last} (after {} attempts)", self.attempts))
    }

    fn attempt(&self, body: &[u8]) -> Attempt {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        match request.send(body) {
            Ok(response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => Attempt::Accepted,
                    408 | 429 | 500..=599 => {
                        Attempt::Retry(format!("the endpoint answered {status}"))
                    }
                    _ => Attempt::Refused(format!("the endpoint refused the event with {status}")),
                }
            }
            Err(e) => Attempt::Retry(format!("cannot reach the endpoint: {e}")),
        }
    }
}
