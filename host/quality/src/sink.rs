//! A sink that computes column statistics of the batches passing through it, so statistics
//! cost no second read of the data.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSink, DataError, SinkSummary};

use crate::stats::{PortStats, StatsBuilder};

/// Wraps a sink; [`StatsHandle::take`] yields the statistics once the sink has finished.
pub struct StatsSink {
    inner: Box<dyn BatchSink>,
    builder: Arc<Mutex<Option<StatsBuilder>>>,
}

/// The other end of a [`StatsSink`].
#[derive(Clone)]
pub struct StatsHandle(Arc<Mutex<Option<StatsBuilder>>>);

impl StatsSink {
    /// Wraps `inner`, whose batches have `schema`.
    pub fn wrap(inner: Box<dyn BatchSink>, schema: &SchemaRef) -> (StatsSink, StatsHandle) {
        let builder = Arc::new(Mutex::new(Some(StatsBuilder::new(schema))));
        (
            StatsSink {
                inner,
                builder: builder.clone(),
            },
            StatsHandle(builder),
        )
    }
}

impl BatchSink for StatsSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.inner.write(batch)?;
        if let Ok(mut builder) = self.builder.lock()
            && let Some(builder) = builder.as_mut()
        {
            builder.observe(batch);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError> {
        self.inner.finish()
    }
}

impl StatsHandle {
    /// The statistics of everything written (once; later calls get `None`).
    pub fn take(&self) -> Option<PortStats> {
        self.0
            .lock()
            .ok()
            .and_then(|mut builder| builder.take())
            .map(StatsBuilder::finish)
    }
}
