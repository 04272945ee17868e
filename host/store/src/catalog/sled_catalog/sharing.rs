//! Shares in sled, by name.

use super::decode;
use crate::StoreError;
use crate::sharing::{ShareRecord, SharingCatalog};

/// The sharing tree of a sled catalog.
pub(crate) struct SledSharing {
    shares: sled::Tree,
}

impl SledSharing {
    pub(crate) fn open(db: &sled::Db) -> Result<SledSharing, StoreError> {
        Ok(SledSharing {
            shares: db.open_tree("shares")?,
        })
    }
}

impl SharingCatalog for SledSharing {
    fn put_share(&self, share: &ShareRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(share)?;
        self.shares.insert(share.name.as_bytes(), value)?;
        self.shares.flush()?;
        Ok(())
    }

    fn share(&self, name: &str) -> Result<Option<ShareRecord>, StoreError> {
        self.shares
            .get(name.as_bytes())?
            .map(|value| decode(&value))
            .transpose()
    }

    fn shares(&self) -> Result<Vec<ShareRecord>, StoreError> {
        self.shares.iter().map(|entry| decode(&entry?.1)).collect()
    }

    fn delete_share(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self.shares.remove(name.as_bytes())?.is_some();
        self.shares.flush()?;
        Ok(removed)
    }
}
