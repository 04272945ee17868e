//! `tessera build`: compile a product crate to a `wasm32-wasip2` component in release mode and
//! embed its `product.toml` (and README) so one `.wasm` file is the whole product.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use tessera_core::manifest::Manifest;
use tessera_core::package;

use crate::style;

/// The WebAssembly target products are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A packaged product.
#[derive(Debug, Clone)]
pub struct Built {
    /// The packaged component.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The manifest that was embedded.
    pub manifest: Manifest,
}

/// How chatty a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A spinner and the target-install notice on standard error.
    Show,
    /// Nothing but compiler errors.
    Quiet,
}

/// Makes sure the `wasm32-wasip2` target is installed, installing it with rustup if not.
pub fn ensure_target(progress: Progress) -> Result<()> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == TARGET),
        // Without rustup we cannot check; let cargo say whether the target is there.
        _ => return Ok(()),
    };
    if installed {
        return Ok(());
    }
    if progress == Progress::Show {
        anstream::eprintln!(
            "{}installing{} the {TARGET} target (rustup target add {TARGET})",
            style::WARN.render(),
            style::WARN.render_reset()
        );
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("running rustup target add")?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed; install the target by hand and retry");
    }
    Ok(())
}

/// Builds the product crate in `dir` and packages it.
pub fn build(dir: &Path, progress: Progress) -> Result<Built> {
    let manifest_path = dir.join("product.toml");
    let manifest_text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "reading {} (a product directory needs one; `tessera new` makes one)",
            manifest_path.display()
        )
    })?;
    let manifest = Manifest::parse(&manifest_text, &manifest_path.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!(
            "{} not found: a product is a Rust crate with product.toml beside its Cargo.toml",
            cargo_toml.display()
        );
    }
    ensure_target(progress)?;

    let bar = match progress {
        Progress::Show => {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar.set_message(format!("building {}", manifest.product.name));
            Some(bar)
        }
        Progress::Quiet => None,
    };
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&cargo_toml)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .stdout(Stdio::piped())
        .stderr(if progress == Progress::Show {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .context("starting cargo")?;
    let stderr_lines = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(std::result::Result::ok)
                .collect::<Vec<_>>()
        })
    });
    let mut artifact: Option<PathBuf> = None;
    let mut compiled = 0usize;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            compiled += 1;
            if let Some(bar) = &bar {
                bar.set_message(format!(
                    "building {} ({compiled} crates, now {})",
                    manifest.product.name,
                    message["target"]["name"].as_str().unwrap_or("?")
                ));
            }
            let is_cdylib = message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
            let in_dir = message["manifest_path"].as_str().is_some_and(|p| {
                Path::new(p) == cargo_toml || same_file(Path::new(p), &cargo_toml)
            });
            if is_cdylib && in_dir {
                artifact = message["filenames"].as_array().and_then(|f| {
                    f.iter()
                        .filter_map(|f| f.as_str())
                        .find(|f| f.ends_with(".wasm"))
                        .map(PathBuf::from)
                });
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    let stderr = stderr_lines.and_then(|h| h.join().ok()).unwrap_or_default();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !status.success() {
        for line in &stderr {
            anstream::eprintln!("{line}");
        }
        bail!("cargo build failed for {}", dir.display());
    }
    let Some(artifact) = artifact else {
        bail!(
            "cargo built no WebAssembly library for {}; the crate needs `[lib] crate-type = [\"cdylib\"]`",
            dir.display()
        );
    };
    let wasm =
        std::fs::read(&artifact).with_context(|| format!("reading {}", artifact.display()))?;
    let readme = std::fs::read_to_string(dir.join("README.md")).ok();
    let packaged = package::embed(&wasm, &manifest_text, readme.as_deref())
        .map_err(|e| anyhow::anyhow!("{} : {e}", artifact.display()))?;
    let out = artifact.with_file_name(format!("{}.tessera.wasm", manifest.product.name));
    write_whole(&out, &packaged)?;
    Ok(Built {
        path: out,
        size: packaged.len() as u64,
        manifest,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Embeds a manifest (and README) into an existing component, e.g. one built with
/// `cargo component build`.
pub fn package_file(
    component: &Path,
    manifest: &Path,
    readme: Option<&Path>,
    out: &Path,
) -> Result<Manifest> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let parsed = Manifest::parse(&text, &manifest.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let wasm =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let readme = match readme {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let packaged = package::embed(&wasm, &text, readme.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", component.display()))?;
    write_whole(out, &packaged)?;
    Ok(parsed)
}

/// Writes `bytes` to a file beside `out`, then renames it over `out`: a reader (another build
/// of the same product, a deploy) sees the old file or the new one, never a part.
fn write_whole(out: &Path, bytes: &[u8]) -> Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let partial = out.with_file_name(format!(".{name}.{}.{unique}.partial", std::process::id()));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| {
        let _ = std::fs::remove_file(&partial);
        format!("writing {}", out.display())
    })
}
