//! Sources and sinks that add up the time spent in them, so `tessera run` can say how much of a
//! run the host spent reading inputs and writing outputs (decoding, conforming, encoding, file
//! I/O) beside the product's own time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSink, BatchSource, DataError, SinkSummary};

/// Time added up by the wrappers of one direction (all inputs, or all outputs).
#[derive(Debug, Clone, Default)]
pub struct Spent(Arc<AtomicU64>);

impl Spent {
    /// The time added up so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        let began = Instant::now();
        let out = work();
        let nanos = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
        out
    }
}

/// A source whose reads are timed.
pub struct TimedSource {
    inner: Box<dyn BatchSource>,
    spent: Spent,
}

impl TimedSource {
    /// Wraps `inner`, adding its reading time to `spent`.
    pub fn new(inner: Box<dyn BatchSource>, spent: &Spent) -> TimedSource {
        TimedSource {
            inner,
            spent: spent.clone(),
        }
    }
}

impl BatchSource for TimedSource {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn version(&self) -> u64 {
        self.inner.version()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        let inner = &mut self.inner;
        self.spent.time(|| inner.next_batch())
    }

    fn project(&mut self, columns: &[usize]) -> bool {
        let inner = &mut self.inner;
        self.spent.time(|| inner.project(columns))
    }

    fn keep_dictionaries(&mut self) -> bool {
        let inner = &mut self.inner;
        self.spent.time(|| inner.keep_dictionaries())
    }
}

/// A sink whose writes (and finish) are timed.
pub struct TimedSink {
    inner: Box<dyn BatchSink>,
    spent: Spent,
}

impl TimedSink {
    /// Wraps `inner`, adding its writing time to `spent`.
    pub fn new(inner: Box<dyn BatchSink>, spent: &Spent) -> TimedSink {
        TimedSink {
            inner,
            spent: spent.clone(),
        }
    }
}

impl BatchSink for TimedSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        let inner = &mut self.inner;
        self.spent.time(|| inner.write(batch))
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError> {
        let TimedSink { inner, spent } = *self;
        spent.time(|| inner.finish())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use tessera_core::io::{MemorySink, MemorySource};

    use super::*;

    #[test]
    fn reads_and_writes_are_added_up_and_passed_through() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let (reading, writing) = (Spent::default(), Spent::default());
        let mut source = TimedSource::new(
            Box::new(MemorySource::new(schema.clone(), vec![batch.clone()])),
            &reading,
        );
        let memory = MemorySink::new();
        let mut sink: Box<dyn BatchSink> =
            Box::new(TimedSink::new(Box::new(memory.clone()), &writing));
        while let Some(batch) = source.next_batch().unwrap() {
            sink.write(&batch).unwrap();
        }
        assert_eq!(sink.finish().unwrap().rows, 3);
        assert_eq!(memory.batches(), vec![batch]);
        assert!(reading.total() > Duration::ZERO);
        assert!(writing.total() > Duration::ZERO);
    }
}
