//! A request body as a blocking `Read`, fed from the async side chunk by chunk with
//! back-pressure, and cut off at a byte limit.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// The blocking end: reads what the async end forwards.
pub struct ChannelReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(message)) => return Err(std::io::Error::other(message)),
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        if let Some(to) = buf.get_mut(..n) {
            to.copy_from_slice(&chunk);
        }
        Ok(n)
    }
}

/// A body split into a reader for a blocking decoder and the task that feeds it.
pub struct Pipe {
    /// Read this on a blocking thread.
    pub reader: ChannelReader,
    /// Set once the body went past the limit.
    pub too_large: Arc<AtomicBool>,
    /// Set when the body broke off because the client was too slow.
    pub timed_out: Arc<AtomicBool>,
}

/// Reads and drops the rest of a body, up to `limit` bytes in all, so that a client still
/// sending gets the answer instead of a broken connection (a client sending more than the
/// limit gets the answer and a closed connection).
pub async fn drain(body: Body, limit: u64) {
    drain_stream(&mut body.into_data_stream(), 0, limit).await;
}

async fn drain_stream(stream: &mut axum::body::BodyDataStream, mut seen: u64, limit: u64) {
    while let Some(Ok(bytes)) = stream.next().await {
        seen += bytes.len() as u64;
        if seen > limit {
            return;
        }
    }
}

/// Starts forwarding `body` into a [`Pipe`]; more than `limit` bytes ends the body with an
/// error and sets `too_large`. Returns the pipe and the forwarding future (await it beside the
/// decoder), which gives the bytes the body had.
pub fn pipe(body: Body, limit: u64) -> (Pipe, impl std::future::Future<Output = u64>) {
    let (sender, chunks) = mpsc::channel::<Result<Bytes, String>>(8);
    let too_large = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = too_large.clone();
    let slow = timed_out.clone();
    let forward = async move {
        let mut stream = body.into_data_stream();
        let mut seen = 0u64;
        while let Some(chunk) = stream.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    seen += bytes.len() as u64;
                    if seen > limit {
                        flag.store(true, Ordering::SeqCst);
                        let _ = sender
                            .send(Err(format!("the body is larger than {limit} bytes")))
                            .await;
                        return seen;
                    }
                    Ok(bytes)
                }
                Err(e) => {
                    if crate::body_timeout::is_body_timeout(&e) {
                        slow.store(true, Ordering::SeqCst);
                    }
                    Err(format!("the body could not be read: {e}"))
                }
            };
            if item.is_err() {
                // The client broke off.
                let _ = sender.send(item).await;
                return seen;
            }
            if sender.send(item).await.is_err() {
                // The decoder stopped reading (it found enough problems, or the data ended):
                // take the rest so the client can finish sending and read the answer.
                drain_stream(&mut stream, seen, limit).await;
                return seen;
            }
        }
        seen
    };
    (
        Pipe {
            reader: ChannelReader {
                chunks,
                current: Bytes::new(),
            },
            too_large,
            timed_out,
        },
        forward,
    )
}
