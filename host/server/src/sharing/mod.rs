//! Delta Sharing's rules: shares an admin makes of chosen output ports and grants to tokens,
//! and what a recipient may list and read through them. A share's schemas are products, its
//! tables their output ports, a table's version a published data version. A recipient reads a
//! table only when its token is granted the share *and* the API's access rules let it read the
//! port, so sharing never opens more than the API would.
//!
//! - [`signing`]: the pre-signed, expiring URLs of the Parquet files a query answers with;
//! - [`spark_schema`]: a port's schema as the protocol's `schemaString` (Spark's JSON).

pub mod signing;
pub mod spark_schema;

use std::time::Duration;

use tessera_core::manifest::Manifest;
use tessera_store::{Role, ShareRecord, SharedTable, Version};

use crate::auth::{Caller, NewToken};
use crate::error::{ServiceError, ServiceResult};
use crate::outputs::{VersionChoice, readable_output, readable_version};
use crate::registry::deployed_manifest;
use crate::state::AppState;

/// Most tables one share holds.
pub const MAX_TABLES: usize = 1000;

/// Most table versions one answer (a query from `startingVersion`, a change feed) lists: each
/// needs its Parquet rendition, which the first request for it writes.
pub const MAX_VERSIONS: usize = 100;

/// What an admin asks for when creating a share.
#[derive(Debug, Clone)]
pub struct NewShare {
    /// Its name: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its ports, as `product/port`.
    pub tables: Vec<String>,
}

/// Creates (or replaces the tables of) a share; its grants are kept. Admins only. Every table
/// must be an output port of a deployed product.
pub fn create(state: &AppState, caller: &Caller, new: NewShare) -> ServiceResult<ShareRecord> {
    caller.require_admin()?;
    check_name(&new.name)?;
    if new.tables.is_empty() {
        return Err(ServiceError::bad_parameter(
            "tables",
            "a share holds at least one table (`product/port`)",
        ));
    }
    if new.tables.len() > MAX_TABLES {
        return Err(ServiceError::bad_parameter(
            "tables",
            format!("a share holds at most {MAX_TABLES} tables"),
        ));
    }
    let mut tables = Vec::new();
    for table in &new.tables {
        let Some((product, port)) = table.split_once('/') else {
            return Err(ServiceError::bad_parameter(
                "tables",
                format!("`{table}` is not `product/port`"),
            ));
        };
        let manifest = deployed_manifest(state, product)?;
        if manifest.output(port).is_none() {
            return Err(crate::outputs::no_such_port(&manifest, port));
        }
        tables.push(SharedTable {
            product: product.to_string(),
            port: port.to_string(),
        });
    }
    tables.sort();
    tables.dedup();
    let sharing = state.store().sharing();
    let existing = sharing.share(&new.name)?;
    let share = ShareRecord {
        id: match &existing {
            Some(share) => share.id.clone(),
            None => uuid::Uuid::now_v7().hyphenated().to_string(),
        },
        grants: existing
            .as_ref()
            .map(|s| s.grants.clone())
            .unwrap_or_default(),
        created_at_us: existing
            .as_ref()
            .map_or_else(tessera_store::now_us, |s| s.created_at_us),
        name: new.name,
        description: new.description,
        tables,
    };
    sharing.put_share(&share)?;
    Ok(share)
}

/// The tokens `share` would be granted to with the table set `tables`, each with those tables
/// as `product/port`: what the federation's grant policies judge before a share changes or is
/// granted. Admins only.
pub fn grants_to_judge(
    state: &AppState,
    caller: &Caller,
    share: &str,
    new_token: Option<&str>,
    tables: Option<&[String]>,
) -> ServiceResult<Vec<(tessera_store::TokenRecord, Vec<String>)>> {
    caller.require_admin()?;
    let existing_share = state.store().sharing().share(share)?;
    let tables: Vec<String> = match (tables, &existing_share) {
        (Some(tables), _) => tables.to_vec(),
        (None, Some(record)) => table_names(record),
        (None, None) => return Err(unknown_share(share)),
    };
    let mut ids: Vec<String> = existing_share.map(|s| s.grants).unwrap_or_default();
    ids.extend(new_token.map(str::to_string));
    let tokens = state.store().tokens()?;
    Ok(tokens
        .into_iter()
        .filter(|t| ids.contains(&t.id))
        .map(|t| (t, tables.clone()))
        .collect())
}

/// Grants `share` to the token with public id `token`. Admins only.
pub fn grant(
    state: &AppState,
    caller: &Caller,
    share: &str,
    token: &str,
) -> ServiceResult<ShareRecord> {
    caller.require_admin()?;
    let mut record = existing(state, share)?;
    let known = state.store().tokens()?.iter().any(|t| t.id == token);
    if !known {
        return Err(
            ServiceError::not_found(format!("no token has the id `{token}`"), &[])
                .hint("GET /v1/tokens lists the tokens' ids"),
        );
    }
    if !record.grants.iter().any(|g| g == token) {
        record.grants.push(token.to_string());
        record.grants.sort();
        state.store().sharing().put_share(&record)?;
    }
    Ok(record)
}

/// The tables of `share` as `product/port`: what a recipient of it may read. Admins only.
pub fn tables_of(state: &AppState, caller: &Caller, share: &str) -> ServiceResult<Vec<String>> {
    caller.require_admin()?;
    Ok(table_names(&existing(state, share)?))
}

/// Issues a reader token for a recipient of `share`, granted the share and nothing else, and
/// returns its secret and record. Admins only.
pub fn recipient(
    state: &AppState,
    caller: &Caller,
    share: &str,
    expires_in: Option<Duration>,
) -> ServiceResult<(String, tessera_store::TokenRecord)> {
    caller.require_admin()?;
    existing(state, share)?;
    let (secret, token) = crate::auth::issue(
        state.store(),
        NewToken {
            role: Role::Reader,
            domain: None,
            grants: Vec::new(),
            description: format!("Delta Sharing recipient of `{share}`"),
            expires_in,
        },
    )
    .map_err(|e| ServiceError::bad_request(e.to_string()))?;
    grant(state, caller, share, &token.id)?;
    Ok((secret, token))
}

/// Every share, for an admin.
pub fn all(state: &AppState, caller: &Caller) -> ServiceResult<Vec<ShareRecord>> {
    caller.require_admin()?;
    Ok(state.store().sharing().shares()?)
}

/// Deletes a share. Admins only.
pub fn delete(state: &AppState, caller: &Caller, share: &str) -> ServiceResult<()> {
    caller.require_admin()?;
    if state.store().sharing().delete_share(share)? {
        Ok(())
    } else {
        Err(unknown_share(share))
    }
}

/// The shares `caller` is a recipient of (every share, for an admin). A recipient needs a
/// token.
pub fn visible(state: &AppState, caller: &Caller) -> ServiceResult<Vec<ShareRecord>> {
    let token = caller.token()?;
    let shares = state.store().sharing().shares()?;
    Ok(shares
        .into_iter()
        .filter(|s| token.role == Role::Admin || s.grants.iter().any(|g| g == &token.id))
        .collect())
}

/// The share called `name`, once `caller` is its recipient.
pub fn open(state: &AppState, caller: &Caller, name: &str) -> ServiceResult<ShareRecord> {
    let token = caller.token()?;
    let share = existing(state, name)?;
    if token.role == Role::Admin || share.grants.iter().any(|g| g == &token.id) {
        Ok(share)
    } else {
        Err(ServiceError::forbidden(format!(
            "token {} is not a recipient of share `{name}`",
            token.id
        ))
        .hint("ask the share's admin to grant it to your token"))
    }
}

/// A table of a share, opened for a recipient.
pub struct OpenTable {
    /// The share.
    pub share: ShareRecord,
    /// The product's active manifest.
    pub manifest: std::sync::Arc<Manifest>,
    /// The product: the schema.
    pub product: String,
    /// The port: the table.
    pub port: String,
    /// The caller, with the share's tables among its grants.
    caller: Caller,
}

impl OpenTable {
    /// The published version `choice` names, read under the API's access rules.
    pub fn version(&self, state: &AppState, choice: VersionChoice) -> ServiceResult<Version> {
        readable_version(state, &self.caller, &self.manifest, &self.port, choice).map_err(|e| {
            // A table version is a published data version.
            if e.kind == crate::error::ErrorKind::NotFound {
                e.hint(format!(
                    "{} publishes the versions of this table; retention may have dropped older \
                     ones",
                    self.product
                ))
            } else {
                e
            }
        })
    }

    /// The published versions from `start` to `end` (both included; `end` defaults to the
    /// current one) that retention still keeps, oldest first.
    pub fn versions_between(
        &self,
        state: &AppState,
        start: u64,
        end: Option<u64>,
    ) -> ServiceResult<Vec<Version>> {
        let end = match end {
            Some(end) => end,
            None => self.version(state, VersionChoice::Current)?.number,
        };
        if start > end {
            return Err(ServiceError::bad_parameter(
                "startingVersion",
                format!("{start} is after the ending version {end}"),
            ));
        }
        let mut versions = Vec::new();
        for version in state.store().versions(&self.product)? {
            if (start..=end).contains(&version.number) && version.ports.contains_key(&self.port) {
                // Each version is read under the access it was published with.
                versions.push(self.version(state, VersionChoice::Pinned(version.number))?);
            }
        }
        if versions.len() > MAX_VERSIONS {
            return Err(ServiceError::bad_parameter(
                "startingVersion",
                format!(
                    "versions {start} to {end} are {} versions; ask for at most {MAX_VERSIONS} \
                     at a time",
                    versions.len()
                ),
            ));
        }
        if versions.first().is_none_or(|v| v.number != start) {
            return Err(ServiceError::not_found(
                format!(
                    "{}/{} has no version {start} any more",
                    self.product, self.port
                ),
                &[],
            )
            .hint("start from a version the table still has (GET …/version says the newest)"));
        }
        Ok(versions)
    }
}

/// Table `table` of schema `schema` in share `share`, once `caller` is the share's recipient and
/// the API lets it read the port.
pub fn table(
    state: &AppState,
    caller: &Caller,
    share: &str,
    schema: &str,
    table: &str,
) -> ServiceResult<OpenTable> {
    let share = open(state, caller, share)?;
    let held = share
        .tables
        .iter()
        .any(|t| t.product == schema && t.port == table);
    if !held {
        let listed: Vec<String> = share
            .tables
            .iter()
            .map(|t| format!("{}.{}", t.product, t.port))
            .collect();
        return Err(ServiceError::not_found(
            format!("share `{}` has no table `{schema}.{table}`", share.name),
            &listed,
        ));
    }
    let caller = as_recipient(caller, &share);
    let manifest = readable_output(state, &caller, schema, table)?;
    Ok(OpenTable {
        share,
        manifest,
        product: schema.to_string(),
        port: table.to_string(),
        caller,
    })
}

/// `caller` as a recipient of `share`: its token with the share's tables among its grants.
/// Granting a share grants its tables, as an admin's grant of `product/port` would; every
/// other rule of the API (public reads, domains, expiry, the access a version was published
/// with) applies unchanged.
fn as_recipient(caller: &Caller, share: &ShareRecord) -> Caller {
    match caller {
        Caller::Token(token) => {
            let mut token = token.clone();
            token.grants.extend(table_names(share));
            Caller::Token(token)
        }
        Caller::Anonymous => Caller::Anonymous,
    }
}

fn existing(state: &AppState, name: &str) -> ServiceResult<ShareRecord> {
    state
        .store()
        .sharing()
        .share(name)?
        .ok_or_else(|| unknown_share(name))
}

/// The 404 for a share that does not exist. No listing of those that do: a recipient sees
/// only its own (GET …/shares).
fn unknown_share(name: &str) -> ServiceError {
    ServiceError::of(
        crate::error::ErrorKind::NotFound,
        "not_found",
        format!("no share is called `{name}`"),
    )
    .hint("GET /delta-sharing/shares lists the shares your token may read")
}

/// A share's tables as `product/port`.
pub fn table_names(share: &ShareRecord) -> Vec<String> {
    share
        .tables
        .iter()
        .map(|t| format!("{}/{}", t.product, t.port))
        .collect()
}

fn check_name(name: &str) -> ServiceResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ServiceError::bad_parameter(
            "name",
            format!(
                "`{name}` is not a share name: 1 to 64 lower-case letters, digits, `-` and `_`"
            ),
        ))
    }
}
