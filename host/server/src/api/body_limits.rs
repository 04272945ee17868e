//! Time limits on request bodies: a body that pauses longer than
//! [`HttpLimits::body_idle_timeout`](crate::config::HttpLimits::body_idle_timeout) between two
//! pieces, or takes longer than
//! [`HttpLimits::body_timeout`](crate::config::HttpLimits::body_timeout) in all, ends with a
//! [`BodyTimeout`] error, which handlers answer with a 408. A middleware wraps every request's
//! body, so no handler can forget it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub use crate::body_timeout::{BodyTimeout, is_body_timeout};
use crate::state::AppState;

/// The middleware: every request body gets the configured limits.
pub async fn limit_bodies(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.config().http;
    let (idle, total) = (limits.body_idle_timeout, limits.body_timeout);
    next.run(request.map(|body| Body::new(TimedBody::new(body, idle, total))))
        .await
}

/// A body with an idle and a total deadline.
pub struct TimedBody {
    inner: Body,
    idle: Duration,
    total: Duration,
    idle_deadline: Pin<Box<Sleep>>,
    total_deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    /// `inner`, ending with an error after `idle` without a piece or `total` in all.
    pub fn new(inner: Body, idle: Duration, total: Duration) -> Self {
        let now = Instant::now();
        TimedBody {
            inner,
            idle,
            total,
            idle_deadline: Box::pin(tokio::time::sleep_until(now + idle)),
            total_deadline: Box::pin(tokio::time::sleep_until(now + total)),
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            let next = Instant::now() + this.idle;
            this.idle_deadline.as_mut().reset(next);
            return Poll::Ready(frame);
        }
        if this.total_deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout::new(format!(
                "the request body took longer than {:?} in all",
                this.total
            ))))));
        }
        if this.idle_deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout::new(format!(
                "the request body paused for more than {:?}",
                this.idle
            ))))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_sending_times_out() {
        let (mut sender, body) = hyper_body_channel();
        sender.push(Bytes::from_static(b"first"));
        let mut timed = TimedBody::new(body, Duration::from_secs(5), Duration::from_secs(60));
        let first = timed.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"first"));
        let error = timed.frame().await.unwrap().unwrap_err();
        assert!(is_body_timeout(&error), "{error}");
        assert!(error.to_string().contains("paused"), "{error}");
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_times_out_in_all() {
        let (sender, body) = hyper_body_channel();
        let mut timed = TimedBody::new(body, Duration::from_secs(5), Duration::from_secs(10));
        let feeder = tokio::spawn(async move {
            let mut sender = sender;
            loop {
                tokio::time::sleep(Duration::from_secs(4)).await;
                sender.push(Bytes::from_static(b"x"));
            }
        });
        let mut pieces = 0;
        let error = loop {
            match timed.frame().await.unwrap() {
                Ok(_) => pieces += 1,
                Err(e) => break e,
            }
        };
        assert!(is_body_timeout(&error));
        assert!(error.to_string().contains("in all"), "{error}");
        // Pieces at 4 s and 8 s; at 10 s the body has taken too long.
        assert_eq!(pieces, 2);
        feeder.abort();
    }

    /// A body fed by hand, piece by piece.
    struct Feeder(tokio::sync::mpsc::UnboundedSender<Bytes>);

    impl Feeder {
        fn push(&mut self, bytes: Bytes) {
            let _ = self.0.send(bytes);
        }
    }

    fn hyper_body_channel() -> (Feeder, Body) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        (Feeder(tx), Body::from_stream(stream))
    }
}
