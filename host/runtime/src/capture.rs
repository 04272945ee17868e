//! Standard output and error of a run, captured in memory up to a limit. Past the limit the
//! bytes are counted and dropped, never written and never an error: a product that prints a
//! lot keeps running, and its log says how much was cut. What it writes past the limit is
//! paced ([`crate::pacing`]): the stream offers no room until that is paid for, and its
//! readiness waits for it, so a blocking write waits.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
    pacer: crate::pacing::Pacer,
}

/// One captured stream; clones share the buffer.
#[derive(Clone)]
pub struct CapturedOutput {
    capacity: usize,
    captured: Arc<Mutex<Captured>>,
}

impl CapturedOutput {
    /// Keeps at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        CapturedOutput {
            capacity,
            captured: Arc::default(),
        }
    }

    fn append(&self, bytes: &[u8]) {
        if let Ok(mut captured) = self.captured.lock() {
            let room = self.capacity.saturating_sub(captured.kept.len());
            let kept = bytes.len().min(room);
            captured
                .kept
                .extend_from_slice(bytes.get(..kept).unwrap_or_default());
            let past = bytes.len() - kept;
            captured.dropped += past as u64;
            if past > 0 {
                captured.pacer.charge(past, std::time::Instant::now());
            }
        }
    }

    /// How long writing past the limit made the writer wait, in all.
    pub fn waited(&self) -> std::time::Duration {
        self.captured
            .lock()
            .map(|c| c.pacer.waited)
            .unwrap_or_default()
    }

    /// How long a writer must wait before this stream takes more.
    fn owed(&self) -> std::time::Duration {
        self.captured
            .lock()
            .map(|c| c.pacer.owed(std::time::Instant::now()))
            .unwrap_or_default()
    }

    /// What was kept, and how many bytes were dropped past the limit.
    pub fn contents(&self) -> (Vec<u8>, u64) {
        self.captured
            .lock()
            .map(|c| (c.kept.clone(), c.dropped))
            .unwrap_or_default()
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        if self.owed().is_zero() {
            Ok(64 * 1024)
        } else {
            Ok(0)
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {
        let owed = self.owed();
        if !owed.is_zero() {
            tokio::time::sleep(owed).await;
        }
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_capacity_and_counts_the_rest() {
        let mut out = CapturedOutput::new(8);
        out.write(Bytes::from_static(b"hello ")).unwrap();
        assert_eq!(out.check_write().unwrap(), 64 * 1024);
        out.write(Bytes::from_static(b"world")).unwrap();
        assert_eq!(out.contents(), (b"hello wo".to_vec(), 3));
        // A few bytes past the limit owe too little to wait for; 4 MiB past it do.
        assert_eq!(out.check_write().unwrap(), 64 * 1024);
        out.write(Bytes::from(vec![b'x'; 4 << 20])).unwrap();
        assert_eq!(out.check_write().unwrap(), 0);
        let owed = out.owed();
        assert!(owed >= crate::pacing::MIN_PAUSE && owed <= crate::pacing::MAX_PAUSE);
        std::thread::sleep(owed + std::time::Duration::from_millis(20));
        assert_eq!(out.check_write().unwrap(), 64 * 1024);
    }
}
