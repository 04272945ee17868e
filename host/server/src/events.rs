//! What happens on the server, as events: deploys, activations, accepted ingests, run state
//! changes (queued, running, succeeded, failed, interrupted), policy decisions and new published
//! versions. Handlers and the runner publish them on a broadcast bus; clients follow
//! them as Server-Sent Events (`GET /v1/events`, `GET /v1/products/{p}/events`).

use serde::Serialize;
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A product version was deployed.
    Deployed {
        /// Product name.
        product: String,
        /// Code version.
        version: String,
    },
    /// A product version became the one runs use.
    Activated {
        /// Product name.
        product: String,
        /// Code version.
        version: String,
    },
    /// A run changed state.
    Run {
        /// Product name.
        product: String,
        /// Run id.
        run: String,
        /// queued, running, succeeded, failed or interrupted.
        state: String,
        /// Why it failed, if it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Data was accepted into an ingest port.
    Ingested {
        /// Product name.
        product: String,
        /// Ingest port.
        port: String,
        /// The new input version.
        version: u64,
        /// Rows the ingest added.
        rows: u64,
    },
    /// A run's outputs failed an `error` check and were set aside, not published.
    Quarantined {
        /// Product name.
        product: String,
        /// Run id.
        run: String,
        /// The failed checks, as `port: check`.
        failed_checks: Vec<String>,
    },
    /// A product's freshness changed (`fresh`, `stale`).
    Freshness {
        /// Product name.
        product: String,
        /// The new state.
        state: String,
        /// Seconds since its newest version was published.
        age_seconds: f64,
    },
    /// The federation's policies were evaluated at a lifecycle event.
    Decision {
        /// Product name.
        product: String,
        /// The decision record's id (`GET /v1/decisions/{id}`).
        decision: String,
        /// deploy, activate, publish, grant or ingest.
        event: String,
        /// allowed, warned or denied.
        outcome: String,
    },
    /// A new data version was published.
    Published {
        /// Product name.
        product: String,
        /// Data version number.
        version: u64,
        /// The run that produced it.
        run: String,
    },
}

impl Event {
    /// The product the event is about.
    pub fn product(&self) -> &str {
        match self {
            Event::Deployed { product, .. }
            | Event::Activated { product, .. }
            | Event::Run { product, .. }
            | Event::Ingested { product, .. }
            | Event::Quarantined { product, .. }
            | Event::Freshness { product, .. }
            | Event::Decision { product, .. }
            | Event::Published { product, .. } => product,
        }
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Deployed { .. } => "deployed",
            Event::Activated { .. } => "activated",
            Event::Run { .. } => "run",
            Event::Ingested { .. } => "ingested",
            Event::Quarantined { .. } => "quarantined",
            Event::Freshness { .. } => "freshness",
            Event::Decision { .. } => "decision",
            Event::Published { .. } => "published",
        }
    }
}

/// The broadcast bus. Slow subscribers skip what they missed (and are told how much); at
/// shutdown the bus closes and every subscription ends, so no follower holds the server open.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<(u64, Event)>,
    sequence: std::sync::Arc<std::sync::atomic::AtomicU64>,
    closed: std::sync::Arc<watch::Sender<bool>>,
    /// Counts the tokens revoked on this host, so open streams look their token up at once.
    revocations: std::sync::Arc<watch::Sender<u64>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(1024).0,
            sequence: Default::default(),
            closed: std::sync::Arc::new(watch::channel(false).0),
            revocations: std::sync::Arc::new(watch::channel(0).0),
        }
    }
}

/// One follower of the bus, from the moment it subscribed.
pub struct Subscription {
    events: broadcast::Receiver<(u64, Event)>,
    closed: watch::Receiver<bool>,
}

/// What a subscription yields next.
pub enum Next {
    /// An event and its sequence number.
    Event(u64, Event),
    /// The subscriber fell behind and missed this many events.
    Lagged(u64),
    /// The bus closed: the server is shutting down.
    Closed,
}

impl Subscription {
    /// Waits for the next event, or for the bus to close; events sent before it closed are
    /// still delivered.
    pub async fn next(&mut self) -> Next {
        loop {
            match self.events.try_recv() {
                Ok((id, event)) => return Next::Event(id, event),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => return Next::Lagged(missed),
                Err(broadcast::error::TryRecvError::Closed) => return Next::Closed,
                Err(broadcast::error::TryRecvError::Empty) => {}
            }
            if *self.closed.borrow() {
                return Next::Closed;
            }
            tokio::select! {
                received = self.events.recv() => return match received {
                    Ok((id, event)) => Next::Event(id, event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => Next::Lagged(missed),
                    Err(broadcast::error::RecvError::Closed) => Next::Closed,
                },
                // Closed: deliver what was already sent, then end.
                _ = self.closed.wait_for(|closed| *closed) => {}
            }
        }
    }
}

impl Subscription {
    /// The next event already sent, without waiting: `None` when there is none (or only a
    /// gap from lagging behind).
    pub fn try_next(&mut self) -> Option<(u64, Event)> {
        loop {
            match self.events.try_recv() {
                Ok(received) => return Some(received),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    }
}

impl EventBus {
    /// Tells every open stream that a token was revoked: each looks its own token up again
    /// before it sends anything more.
    pub fn token_revoked(&self) {
        self.revocations
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that changes whenever [`EventBus::token_revoked`] is called.
    pub fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Publishes an event to every current subscriber (none is fine).
    pub fn emit(&self, event: Event) {
        let id = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::debug!(id, event = event.name(), product = event.product(), "event");
        let _ = self.sender.send((id, event));
    }

    /// A new subscription, from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            events: self.sender.subscribe(),
            closed: self.closed.subscribe(),
        }
    }

    /// Ends every subscription, now and later: the server is shutting down.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}
