//! Shares for the Delta Sharing protocol, behind [`SharingCatalog`]: an admin's named set of
//! output ports (a share's schemas are products, its tables their ports) and the tokens it is
//! granted to. The protocol and its rules live in the server; this module only says what is
//! kept.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// One output port in a share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SharedTable {
    /// The product: the table's schema.
    pub product: String,
    /// Its output port: the table.
    pub port: String,
}

/// A share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareRecord {
    /// Its name, unique.
    pub name: String,
    /// A random id, stable for the share's life (the protocol's share id).
    pub id: String,
    /// What it is for.
    pub description: String,
    /// The ports it holds, sorted, each once.
    pub tables: Vec<SharedTable>,
    /// The public ids of the tokens it is granted to, sorted, each once.
    pub grants: Vec<String>,
    /// When it was created (µs since the epoch).
    pub created_at_us: i64,
}

/// Where shares are kept.
pub trait SharingCatalog: Send + Sync {
    /// Creates or replaces a share.
    fn put_share(&self, share: &ShareRecord) -> Result<(), StoreError>;

    /// The share called `name`.
    fn share(&self, name: &str) -> Result<Option<ShareRecord>, StoreError>;

    /// Every share, by name.
    fn shares(&self) -> Result<Vec<ShareRecord>, StoreError>;

    /// Deletes the share called `name`; `false` when there is none.
    fn delete_share(&self, name: &str) -> Result<bool, StoreError>;
}
