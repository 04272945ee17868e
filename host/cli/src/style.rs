//! Terminal styles for the CLI. Output goes through `anstream`, which drops the colours when
//! the stream is not a terminal (or `NO_COLOR` is set).

use anstyle::{AnsiColor, Style};

/// Headings and success marks.
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
/// Failures.
pub const BAD: Style = AnsiColor::Red.on_default().bold();
/// Warnings and hints.
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
/// Names: products, ports, paths.
pub const NAME: Style = AnsiColor::Cyan.on_default();
/// Secondary text.
pub const DIM: Style = Style::new().dimmed();
/// Emphasis.
pub const BOLD: Style = Style::new().bold();

/// Bytes as a short human-readable size.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
