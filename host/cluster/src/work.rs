//! Run requests on a JetStream work queue: any host with a free slot takes the next one, acks
//! it only once the run has published, and a request whose host dies is delivered again to
//! another host after the ack wait.
//!
//! The queue holds at most two requests per product (one running, one queued), enforced by
//! the server (at most two messages per subject, new ones refused), so the single host's rule
//! holds across the cluster without a lock.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures_util::StreamExt;
use tessera_store::StoreError;
use tessera_store::bridge::{AsyncBridge, Requests};

/// Requests per product the queue holds: the one running and the one waiting.
pub const PER_PRODUCT: i64 = 2;

/// What submitting a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Queued, at this position of the stream.
    Queued(u64),
    /// Refused: the product has a run going and another waiting already.
    Full,
}

/// A queue of run requests shared by the hosts of a cluster.
pub struct WorkQueue {
    bridge: AsyncBridge,
    jetstream: jetstream::Context,
    consumer: jetstream::consumer::PullConsumer,
    subject: String,
}

/// A request this host took: ack it with [`Job::done`] once its run has published, or the
/// queue delivers it again after the ack wait.
pub struct Job {
    message: jetstream::Message,
    requests: Requests,
    /// The product it is for.
    pub product: String,
    /// What was submitted.
    pub payload: Vec<u8>,
    /// How many times it has been delivered, this time included (more than 1: a host took it
    /// before and did not finish).
    pub deliveries: i64,
}

fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("NATS: {what}: {e}"))
}

impl WorkQueue {
    /// The queue `name` on the NATS server at `url` (created when missing), whose requests go
    /// to another host when one holds them `ack_wait` without news.
    pub fn connect(url: &str, name: &str, ack_wait: Duration) -> Result<WorkQueue, StoreError> {
        let bridge = AsyncBridge::new("tessera-work")?;
        let (url, name) = (url.to_string(), name.to_string());
        let subject = format!("tessera.{name}");
        let filter = format!("{subject}.>");
        let (jetstream, consumer) = bridge.wait(async move {
            let client = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connect(url.as_str())
                .await
                .map_err(|e| failed(&format!("connecting to {url}"), e))?;
            let jetstream = jetstream::new(client);
            let stream = jetstream
                .get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![filter.clone()],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::File,
                    max_messages_per_subject: PER_PRODUCT,
                    discard: stream::DiscardPolicy::New,
                    discard_new_per_subject: true,
                    ..Default::default()
                })
                .await
                .map_err(|e| failed(&format!("opening the work queue {name}"), e))?;
            let consumer = stream
                .get_or_create_consumer(
                    "hosts",
                    pull::Config {
                        durable_name: Some("hosts".into()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait,
                        filter_subject: filter,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| failed(&format!("joining the work queue {name}"), e))?;
            Ok::<_, StoreError>((jetstream, consumer))
        })??;
        Ok(WorkQueue {
            bridge,
            jetstream,
            consumer,
            subject,
        })
    }

    /// Queues a request for `product` (a product name: letters, digits, `-` and `_`).
    pub fn submit(&self, product: &str, payload: &[u8]) -> Result<Submitted, StoreError> {
        if product.is_empty()
            || !product
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(StoreError::Conflict(format!(
                "`{product}` is not a product name"
            )));
        }
        let subject = format!("{}.{product}", self.subject);
        let (jetstream, payload) = (self.jetstream.clone(), payload.to_vec());
        let published = self.bridge.wait(async move {
            let ack = jetstream.publish(subject, payload.into()).await?;
            ack.await
        })?;
        match published {
            Ok(ack) => Ok(Submitted::Queued(ack.sequence)),
            Err(e) if e.to_string().contains("per subject") => Ok(Submitted::Full),
            Err(e) => Err(failed(&format!("queueing a run of {product}"), e)),
        }
    }

    /// The next request, waiting up to `wait` for one.
    pub fn take(&self, wait: Duration) -> Result<Option<Job>, StoreError> {
        let consumer = self.consumer.clone();
        let message = self.bridge.wait(async move {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(wait.max(Duration::from_millis(100)))
                .messages()
                .await
                .map_err(|e| failed("taking a run request", e))?;
            match batch.next().await {
                Some(Ok(message)) => Ok(Some(message)),
                Some(Err(e)) => Err(failed("taking a run request", e)),
                None => Ok(None),
            }
        })??;
        let Some(message) = message else {
            return Ok(None);
        };
        let deliveries = message.info().map(|i| i.delivered).unwrap_or(1);
        let product = message
            .subject
            .as_str()
            .strip_prefix(&format!("{}.", self.subject))
            .unwrap_or_default()
            .to_string();
        Ok(Some(Job {
            payload: message.payload.to_vec(),
            message,
            requests: self.bridge.requests()?,
            product,
            deliveries,
        }))
    }
}

impl Job {
    fn acknowledge(&self, kind: AckKind, what: &str) -> Result<(), StoreError> {
        let message = self.message.clone();
        let acked = self
            .requests
            .wait(async move { message.double_ack_with(kind).await })?;
        acked.map_err(|e| failed(what, e))
    }

    /// Tells the queue the run is still going: the ack wait starts again.
    pub fn in_progress(&self) -> Result<(), StoreError> {
        self.acknowledge(AckKind::Progress, "reporting progress")
    }

    /// Removes the request from the queue: its run has published (or failed for good). The
    /// server confirms, so a request acked is never delivered again.
    pub fn done(self) -> Result<(), StoreError> {
        self.acknowledge(AckKind::Ack, "acknowledging a run")
    }

    /// Hands the request back at once, for another host (this one is shutting down).
    pub fn give_back(self) -> Result<(), StoreError> {
        self.acknowledge(AckKind::Nak(None), "handing a run back")
    }
}
