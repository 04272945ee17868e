//! A sink that computes column statistics of the batches passing through it, so statistics
//! cost no second read of the data. The work runs on a thread of its own beside the run
//! (batches are shared, not copied, and at most a few wait in line), so on a machine with a
//! spare core it adds little to the run's time.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSink, DataError, SinkSummary};

use crate::stats::{PortStats, StatsBuilder};

/// Batches waiting for the statistics thread before the run waits for it.
const QUEUE: usize = 4;

enum Worker {
    /// Batches go to a thread that builds the statistics.
    Thread(Option<SyncSender<RecordBatch>>),
    /// No thread could be started: statistics are built as batches are written.
    Inline(Arc<Mutex<Option<StatsBuilder>>>),
}

/// Wraps a sink; [`StatsHandle::take`] yields the statistics once the sink has finished.
pub struct StatsSink {
    inner: Box<dyn BatchSink>,
    worker: Worker,
}

enum Pending {
    Thread(Option<JoinHandle<PortStats>>),
    Inline(Arc<Mutex<Option<StatsBuilder>>>),
}

/// The other end of a [`StatsSink`].
#[derive(Clone)]
pub struct StatsHandle(Arc<Mutex<Pending>>);

impl StatsSink {
    /// Wraps `inner`, whose batches have `schema`.
    pub fn wrap(inner: Box<dyn BatchSink>, schema: &SchemaRef) -> (StatsSink, StatsHandle) {
        let (sender, batches) = sync_channel::<RecordBatch>(QUEUE);
        let thread_schema = schema.clone();
        let spawned = std::thread::Builder::new()
            .name("tessera-stats".into())
            .spawn(move || {
                let mut builder = StatsBuilder::new(&thread_schema);
                for batch in batches {
                    builder.observe(&batch);
                }
                builder.finish()
            });
        let (worker, pending) = match spawned {
            Ok(thread) => (Worker::Thread(Some(sender)), Pending::Thread(Some(thread))),
            Err(_) => {
                let builder = Arc::new(Mutex::new(Some(StatsBuilder::new(schema))));
                (Worker::Inline(builder.clone()), Pending::Inline(builder))
            }
        };
        (
            StatsSink { inner, worker },
            StatsHandle(Arc::new(Mutex::new(pending))),
        )
    }
}

impl BatchSink for StatsSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.inner.write(batch)?;
        match &mut self.worker {
            Worker::Thread(sender) => {
                // A thread that stopped only loses statistics, never data.
                if let Some(s) = sender
                    && s.send(batch.clone()).is_err()
                {
                    *sender = None;
                }
            }
            Worker::Inline(builder) => {
                if let Ok(mut builder) = builder.lock()
                    && let Some(builder) = builder.as_mut()
                {
                    builder.observe(batch);
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<SinkSummary, DataError> {
        if let Worker::Thread(sender) = &mut self.worker {
            // Closing the queue lets the thread finish.
            sender.take();
        }
        self.inner.finish()
    }
}

impl StatsHandle {
    /// The statistics of everything written (once the sink has finished; later calls get
    /// `None`).
    pub fn take(&self) -> Option<PortStats> {
        let mut pending = self.0.lock().ok()?;
        match &mut *pending {
            Pending::Thread(thread) => thread.take()?.join().ok(),
            Pending::Inline(builder) => builder
                .lock()
                .ok()
                .and_then(|mut b| b.take())
                .map(StatsBuilder::finish),
        }
    }
}
