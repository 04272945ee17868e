//! `tessera share`: Delta Sharing shares on a running server (admin token): `create` a share of
//! output ports, `grant` it to an existing token, `profile` to issue a recipient's token and
//! write the profile file a Delta Sharing client reads, `list` them.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::client::Client;

/// Creates the share `name` of `tables` (`product/port`), or replaces its tables.
pub fn create(client: &Client, name: &str, tables: &[String], description: &str) -> Result<()> {
    if tables.is_empty() {
        bail!("a share holds at least one table: --table PRODUCT/PORT");
    }
    let share = client.post_json(
        "/v1/shares",
        &json!({"name": name, "description": description, "tables": tables}),
    )?;
    let count = share["tables"].as_array().map_or(0, Vec::len);
    anstream::eprintln!("share `{name}` holds {count} table(s)");
    Ok(())
}

/// Grants the share `name` to the token with public id `token`.
pub fn grant(client: &Client, name: &str, token: &str) -> Result<()> {
    client.post_json(
        &format!("/v1/shares/{}/grants", segment(name)?),
        &json!({"token": token}),
    )?;
    anstream::eprintln!("granted share `{name}` to {token}");
    Ok(())
}

/// Issues a recipient token for the share `name` and writes its profile to `out` (owner-only
/// permissions: it holds the token), or prints it.
pub fn profile(
    client: &Client,
    name: &str,
    expires_in: Option<&str>,
    out: Option<&Path>,
) -> Result<()> {
    let body = match expires_in {
        Some(span) => json!({"expires_in": span}),
        None => json!({}),
    };
    let created = client.post_json(&format!("/v1/shares/{}/recipients", segment(name)?), &body)?;
    let profile = serde_json::to_string_pretty(&created["profile"])?;
    match out {
        Some(path) => {
            write_private(path, profile.as_bytes())
                .with_context(|| format!("writing the profile to {}", path.display()))?;
            anstream::eprintln!(
                "wrote {} for token {}; read a table with \
                 delta_sharing.load_as_pandas(\"{}#{name}.PRODUCT.PORT\")",
                path.display(),
                created["token_id"].as_str().unwrap_or("?"),
                path.display()
            );
        }
        None => println!("{profile}"),
    }
    Ok(())
}

/// Prints every share with its tables and grants.
pub fn list(client: &Client, json: bool) -> Result<()> {
    let shares = client.get_json("/v1/shares")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&shares)?);
        return Ok(());
    }
    for share in shares.as_array().into_iter().flatten() {
        let join = |key: &str| {
            share[key]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!(
            "{}\n  tables: {}\n  granted to: {}",
            share["name"].as_str().unwrap_or("?"),
            join("tables"),
            join("grants")
        );
    }
    Ok(())
}

/// A share name as a path segment.
fn segment(name: &str) -> Result<&str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!("`{name}` is not a share name (lower-case letters, digits, `-` and `_`)");
    }
    Ok(name)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")
}
