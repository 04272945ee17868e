//! `tessera token`: `create` makes an API token offline, straight in the data directory, so an
//! operator can create the first admin token before the server starts; `list` and `revoke`
//! ask a running server (with an admin token).

use std::path::Path;

use anyhow::{Context, Result, bail};
use tessera_server::auth::{self, NewToken};
use tessera_store::{Role, Storage};

/// Parses `admin`, `owner`, `reader` or `governance`.
pub fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("`{text}` is not a role; use admin, owner, reader or governance"))
}

/// Creates the token in `data` (creating the directory on first use) and returns its secret
/// and public id.
pub fn create(data: &Path, token: NewToken) -> Result<(String, String)> {
    if data.exists() && !data.is_dir() {
        bail!("{} is a file, not a data directory", data.display());
    }
    let store = Storage::local(data).with_context(|| {
        format!(
            "cannot open {}; if `tessera serve` is running on it, create the token through the server (POST /v1/tokens with an admin token)",
            data.display()
        )
    })?;
    let (secret, record) = auth::issue(&store, token)?;
    Ok((secret, record.id))
}

/// Prints a server's tokens: id, role, domain, expiry, description (or the JSON).
pub fn list(client: &crate::client::Client, json: bool) -> Result<()> {
    let tokens = client.get_json("/v1/tokens")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&tokens)?);
        return Ok(());
    }
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    println!(
        "{:<22} {:<7} {:<18} {:<27} description",
        "id", "role", "domain", "expires"
    );
    for token in tokens.as_array().into_iter().flatten() {
        let expired = token.get("expired").and_then(serde_json::Value::as_bool) == Some(true);
        let expires = match (text(token, "expires_at"), expired) {
            (at, true) => format!("{at} (expired)"),
            (at, false) if at == "-" => "never".to_string(),
            (at, false) => at,
        };
        println!(
            "{:<22} {:<7} {:<18} {:<27} {}",
            text(token, "id"),
            text(token, "role"),
            text(token, "domain"),
            expires,
            text(token, "description")
        );
    }
    Ok(())
}

/// Revokes the token with public id `id` on the server.
pub fn revoke(client: &crate::client::Client, id: &str) -> Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("`{id}` is not a token id; `tessera token list` shows them");
    }
    client.delete(&format!("/v1/tokens/{id}"))
}
