//! Reading an input one batch ahead on a thread of its own, so the host decodes the next batch
//! while the product works on the current one. A reader starts it at its second batch: an
//! input that fits in one batch costs no thread. The thread's CPU time is added to the run's:
//! a run's reported CPU time stays what it cost, whichever thread spent it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSource, DataError};

/// CPU time, in nanoseconds, that a run's read-ahead threads have spent.
pub(crate) type ReadAheadCpu = Arc<AtomicU64>;

type Next = Result<Option<RecordBatch>, DataError>;

/// A source read on its own thread, at most one batch ahead of the product (the channel holds
/// one, the thread may be decoding the next): host memory stays within two batches.
pub(crate) struct ReadAhead {
    receiver: Receiver<Next>,
    finished: bool,
}

impl ReadAhead {
    /// Starts reading `source`, adding the thread's CPU time to `cpu`. The thread ends at the
    /// source's end or error, or after its next batch once this is dropped.
    pub(crate) fn start(
        mut source: Box<dyn BatchSource>,
        cpu: ReadAheadCpu,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel::<Next>(1);
        std::thread::Builder::new()
            .name("tessera-read-ahead".into())
            .spawn(move || {
                let mut last = crate::cpu::thread_cpu_time();
                loop {
                    let next = source.next_batch();
                    let more = matches!(next, Ok(Some(_)));
                    let now = crate::cpu::thread_cpu_time();
                    if let (Some(before), Some(now)) = (last, now) {
                        let spent = now.saturating_sub(before).as_nanos();
                        cpu.fetch_add(u64::try_from(spent).unwrap_or(u64::MAX), Ordering::Relaxed);
                    }
                    last = now;
                    if sender.send(next).is_err() || !more {
                        break;
                    }
                }
            })?;
        Ok(ReadAhead {
            receiver,
            finished: false,
        })
    }

    /// The next batch, waiting for the thread if it is still decoding it.
    pub(crate) fn next_batch(&mut self) -> Next {
        if self.finished {
            return Ok(None);
        }
        match self.receiver.recv() {
            Ok(next) => {
                self.finished = !matches!(next, Ok(Some(_)));
                next
            }
            Err(_) => {
                self.finished = true;
                Err(DataError::new("the input's reader stopped before its end"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use tessera_core::io::{BatchSource, DataError};

    use super::*;

    /// Three batches of busy work, then an error: a stand-in for a file that breaks.
    struct Source {
        schema: SchemaRef,
        left: u32,
    }

    impl BatchSource for Source {
        fn schema(&self) -> SchemaRef {
            self.schema.clone()
        }

        fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
            if self.left == 0 {
                return Err(DataError::new("row 7: broken"));
            }
            self.left -= 1;
            let mut x = 0i64;
            for i in 0..5_000_000i64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            let array = Arc::new(Int64Array::from(vec![x]));
            Ok(Some(
                RecordBatch::try_new(self.schema.clone(), vec![array]).unwrap(),
            ))
        }
    }

    #[test]
    fn batches_arrive_in_order_then_the_error_and_the_cpu_time_is_counted() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let cpu = ReadAheadCpu::default();
        let mut ahead =
            ReadAhead::start(Box::new(Source { schema, left: 3 }), cpu.clone()).unwrap();
        for _ in 0..3 {
            assert_eq!(ahead.next_batch().unwrap().unwrap().num_rows(), 1);
        }
        let e = ahead.next_batch().unwrap_err();
        assert!(e.to_string().contains("row 7"), "{e}");
        assert!(ahead.next_batch().unwrap().is_none());
        if crate::cpu::thread_cpu_time().is_some() {
            assert!(cpu.load(Ordering::Relaxed) > 0);
        }
    }
}
