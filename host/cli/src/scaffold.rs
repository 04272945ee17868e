//! `tessera new`: scaffold a product crate that builds, tests and runs out of the box.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tessera_core::manifest::is_kebab_name;

const CARGO_TOML: &str = include_str!("templates/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("templates/lib.rs.tmpl");
const PRODUCT_TOML: &str = include_str!("templates/product.toml.tmpl");
const README: &str = include_str!("templates/README.md.tmpl");
const SAMPLE: &str = include_str!("templates/readings.csv");

/// Where the SDK is found: `TESSERA_SDK` if set, else the SDK this binary was built with.
pub fn sdk_dependency() -> String {
    let path = std::env::var_os("TESSERA_SDK")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk"));
    match path.canonicalize() {
        Ok(p) => format!("tessera-sdk = {{ path = {:?} }}", p.display().to_string()),
        Err(_) => "tessera-sdk = \"0.1\"".to_string(),
    }
}

/// Creates a product named `name` in `dir` (which must not exist or be empty).
pub fn scaffold(name: &str, dir: &Path, domain: &str) -> Result<Vec<PathBuf>> {
    if !is_kebab_name(name) {
        bail!(
            "invalid product name `{name}`: use kebab-case (lowercase letters, digits and single hyphens, starting with a letter), e.g. `scan-quality`"
        );
    }
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            dir.display()
        );
    }
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{domain}}", domain)
            .replace("{{sdk}}", &sdk_dependency())
    };
    let files: [(&str, String); 6] = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("product.toml", fill(PRODUCT_TOML)),
        ("README.md", fill(README)),
        ("data/readings.csv", SAMPLE.to_string()),
        (".gitignore", "/target\n/out\n".to_string()),
    ];
    let mut written = Vec::new();
    for (relative, content) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
