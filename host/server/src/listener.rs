//! The HTTP listener: accepts connections and serves the API over HTTP/1.1 (hyper), with the
//! limits that protect the host before a request reaches a handler.
//!
//! - A client has [`HttpLimits::header_timeout`] to send a request's line and headers, then
//!   [`HttpLimits::body_idle_timeout`] between two pieces of its body and
//!   [`HttpLimits::body_timeout`] for all of it ([`crate::api::body_limits`]); a slow client
//!   holds nothing for long.
//! - hyper answers requests it cannot parse (a garbage request line, conflicting
//!   `Content-Length` headers, a URI over 64 KiB, headers over its buffer or more than 100 of
//!   them) itself, before any handler runs, with an empty body. [`Answering`] recognises those
//!   answers on their way out and gives them the API's one JSON error shape.
//! - At shutdown the listener stops accepting, lets open connections finish for
//!   [`HttpLimits::drain_timeout`], then closes them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::api::error_shape::{ErrorBody, ErrorDetail};
use crate::config::HttpLimits;

/// Serves `app` on `listener` until `shutdown` resolves, then drains open connections.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_timeout))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let responses = Arc::new(Responses::default());
        let io = TokioIo::new(Answering::new(stream, responses.clone()));
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let app = app.clone();
            let open = OpenResponse::new(responses.clone());
            async move {
                let response = app.oneshot(request.map(Body::new)).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        // Held until hyper has taken the whole body.
                        let _ = &open;
                        frame
                    }))
                }))
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        // Finished connections leave the set as they end.
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!(
                drain_timeout = ?limits.drain_timeout,
                open = connections.len(),
                "connections still open at shutdown are closed"
            );
        }
    }
    connections.abort_all();
    Ok(())
}

/// A connection's responses: how many are open (their request reached the API and hyper has
/// not dropped their body), and whether the last one's final bytes may still be on their way
/// to the socket (hyper drops a body before it has written all of it).
#[derive(Default)]
struct Responses {
    open: AtomicUsize,
    tail: std::sync::atomic::AtomicBool,
}

/// Counts one response as open until hyper drops its body.
struct OpenResponse(Arc<Responses>);

impl OpenResponse {
    fn new(responses: Arc<Responses>) -> Self {
        responses.open.fetch_add(1, Ordering::SeqCst);
        OpenResponse(responses)
    }
}

impl Drop for OpenResponse {
    fn drop(&mut self) {
        self.0.tail.store(true, Ordering::SeqCst);
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's socket that rewrites hyper's own error answers (an empty 400, 414 or 431,
/// written when no response of the API is open on the connection) into JSON errors.
pub struct Answering {
    stream: TcpStream,
    responses: Arc<Responses>,
    /// A rewritten answer being written: its bytes, how many are out, and how many bytes of
    /// hyper's answer it replaces.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl Answering {
    fn new(stream: TcpStream, responses: Arc<Responses>) -> Self {
        Answering {
            stream,
            responses,
            pending: None,
        }
    }
}

impl AsyncRead for Answering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Answering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Only between responses: none open, and the last one's bytes flushed.
        if self.pending.is_none()
            && self.responses.open.load(Ordering::SeqCst) == 0
            && !self.responses.tail.load(Ordering::SeqCst)
            && let Some(answer) = json_answer(buf)
        {
            self.pending = Some((answer, 0, buf.len()));
        }
        let this = &mut *self;
        let Some((answer, written, replaces)) = &mut this.pending else {
            return Pin::new(&mut this.stream).poll_write(cx, buf);
        };
        while *written < answer.len() {
            let rest = answer.get(*written..).unwrap_or_default();
            match Pin::new(&mut this.stream).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let replaced = *replaces;
        this.pending = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        // hyper flushes after it wrote a response's last bytes.
        if matches!(flushed, Poll::Ready(Ok(()))) && self.responses.open.load(Ordering::SeqCst) == 0
        {
            self.responses.tail.store(false, Ordering::SeqCst);
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// If `written` is one of hyper's own error answers (status 400, 414 or 431, an empty body, no
/// headers but its length and date), the same answer with a JSON error body.
pub fn json_answer(written: &[u8]) -> Option<Vec<u8>> {
    if written.len() > 512 || !written.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(written).ok()?;
    let mut lines = text.trim_end_matches("\r\n").split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let mut empty = false;
    for header in lines {
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "date" | "connection" => {}
            _ => return None,
        }
    }
    if !empty {
        return None;
    }
    let (code, message, hint) = match status {
        "400" => (
            "bad_request",
            "the request is not valid HTTP/1.1: its request line or a header is malformed, or \
             it has conflicting Content-Length headers",
            "send one request line (METHOD /path HTTP/1.1), well-formed headers and at most \
             one numeric Content-Length",
        ),
        "414" => (
            "uri_too_long",
            "the request's URI is longer than this server reads (64 KiB)",
            "product and port names are short; send long inputs in a body",
        ),
        "431" => (
            "headers_too_large",
            "the request's headers are larger than this server reads (about 400 KiB, or more \
             than 100 headers)",
            "send fewer and shorter headers",
        ),
        _ => return None,
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.to_string(),
            hint: Some(hint.to_string()),
            errors: Vec::new(),
            violations: Vec::new(),
        },
    })
    .ok()?;
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::json_answer;

    #[test]
    fn hyper_answers_become_json() {
        for (status, code) in [
            ("400 Bad Request", "bad_request"),
            ("414 URI Too Long", "uri_too_long"),
            ("431 Request Header Fields Too Large", "headers_too_large"),
        ] {
            let written = format!(
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 13:00:00 GMT\r\n\r\n"
            );
            let answer = String::from_utf8(json_answer(written.as_bytes()).unwrap()).unwrap();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{answer}"
            );
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(
                head.contains(&format!("content-length: {}", body.len())),
                "{head}"
            );
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"]["code"], code);
        }
    }

    #[test]
    fn other_writes_pass_through() {
        for written in [
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "some body bytes\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\ntrailing",
        ] {
            assert!(json_answer(written.as_bytes()).is_none(), "{written}");
        }
    }
}
