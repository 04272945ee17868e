//! Logging from product code: `tessera_sdk::info!("read {} rows", n)`.
//!
//! Inside the sandbox each line goes to the host, which records it in the run's log and in its
//! own tracing with the product, version and run attached. In native unit tests lines go to
//! standard error.

/// Severity of a log line.
///
/// ```
/// assert!(tessera_sdk::log::Level::Warn > tessera_sdk::log::Level::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// For debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the product handled.
    Warn,
    /// Something failed.
    Error,
}

/// Writes one line at `level`; the macros call this.
///
/// ```
/// tessera_sdk::log::write(tessera_sdk::log::Level::Info, "starting");
/// ```
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Logs at trace level, with `format!` arguments.
///
/// ```
/// tessera_sdk::trace!("row {}", 1);
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, &format!($($arg)*)) };
}

/// Logs at debug level, with `format!` arguments.
///
/// ```
/// tessera_sdk::debug!("batch of {} rows", 10);
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &format!($($arg)*)) };
}

/// Logs at info level, with `format!` arguments.
///
/// ```
/// tessera_sdk::info!("read {} annotations", 42);
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &format!($($arg)*)) };
}

/// Logs at warn level, with `format!` arguments.
///
/// ```
/// tessera_sdk::warn!("{} rows skipped", 3);
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &format!($($arg)*)) };
}

/// Logs at error level, with `format!` arguments.
///
/// ```
/// tessera_sdk::error!("cannot score study {}", "s1");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &format!($($arg)*)) };
}
