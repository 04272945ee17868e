//! Waiting for asynchronous clients (object stores, NATS) from the synchronous storage layer.
//!
//! The storage traits are synchronous: they run on blocking threads and on runtime workers
//! alike. An [`AsyncBridge`] owns a small runtime of its own and waits for each request on a
//! channel, so it may be called from any thread without nesting runtimes.

use crate::StoreError;

/// A runtime of one worker that runs requests for callers that wait.
pub struct AsyncBridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl AsyncBridge {
    /// A bridge whose worker thread is named `name`.
    pub fn new(name: &str) -> Result<AsyncBridge, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(AsyncBridge {
            runtime: Some(runtime),
        })
    }

    /// A handle that runs requests on the bridge's runtime.
    pub fn requests(&self) -> Result<Requests, StoreError> {
        let runtime = self.runtime.as_ref();
        let runtime = runtime.ok_or_else(|| StoreError::Io("the bridge is closed".into()))?;
        Ok(Requests {
            handle: runtime.handle().clone(),
        })
    }

    /// Runs `request` on the bridge's runtime and waits for its answer.
    pub fn wait<T: Send + 'static>(
        &self,
        request: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.requests()?.wait(request)
    }
}

impl Drop for AsyncBridge {
    fn drop(&mut self) {
        // A runtime dropped on a runtime's thread would block it; let it wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs requests on a bridge's runtime and waits for them on the calling thread.
#[derive(Clone)]
pub struct Requests {
    handle: tokio::runtime::Handle,
}

impl Requests {
    /// Runs `request` and waits for its answer.
    pub fn wait<T: Send + 'static>(
        &self,
        request: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = done.send(request.await);
        });
        answer
            .recv()
            .map_err(|_| StoreError::Io("the bridge's runtime stopped".into()))
    }
}
