//! `tessera token create`: makes an API token offline, straight in the data directory, so an
//! operator can create the first admin token before the server starts.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tessera_server::auth::{self, NewToken};
use tessera_store::{Role, SledStore};

/// Parses `admin`, `owner` or `reader`.
pub fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "admin" => Ok(Role::Admin),
        "owner" => Ok(Role::Owner),
        "reader" => Ok(Role::Reader),
        other => Err(format!(
            "`{other}` is not a role; use admin, owner or reader"
        )),
    }
}

/// Creates the token in `data` (creating the directory on first use) and returns its secret
/// and public id.
pub fn create(data: &Path, token: NewToken) -> Result<(String, String)> {
    if data.exists() && !data.is_dir() {
        bail!("{} is a file, not a data directory", data.display());
    }
    let store = SledStore::open(data).with_context(|| {
        format!(
            "cannot open {}; if `tessera serve` is running on it, create the token through the server (POST /v1/tokens with an admin token)",
            data.display()
        )
    })?;
    let (secret, record) = auth::issue(&store, token)?;
    Ok((secret, record.id))
}
