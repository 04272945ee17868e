//! The roster: which hosts are in the cluster now, with their slots, GPUs and the runs they
//! hold. Each host announces itself every few seconds; the server drops an entry a TTL after
//! its last announcement, so a host that died leaves the roster by itself.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_store::StoreError;

use crate::records::JetStreamRecords;

/// What a host announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host's id, unique in the cluster (letters, digits, `-`, `_`).
    pub host: String,
    /// Where its API listens.
    pub address: String,
    /// Runs it may hold at once.
    pub slots: u32,
    /// The GPUs it lends, by name.
    pub gpus: Vec<String>,
    /// The runs it holds now.
    pub runs: Vec<String>,
}

/// The hosts of a cluster, each entry lasting `ttl` after its host's last announcement.
pub struct Roster {
    records: JetStreamRecords,
    ttl: Duration,
}

impl Roster {
    /// The roster in `bucket` on the NATS server at `url` (at least a second's TTL).
    pub fn connect(url: &str, bucket: &str, ttl: Duration) -> Result<Roster, StoreError> {
        let (records, ttl) = JetStreamRecords::expiring(url, bucket, ttl)?;
        Ok(Roster { records, ttl })
    }

    /// How long an announcement lasts: announce well within it (a third is usual).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Announces (or refreshes) `info`.
    pub fn announce(&self, info: &HostInfo) -> Result<(), StoreError> {
        let value = serde_json::to_vec(info)?;
        self.records.put(&format!("hosts/{}", info.host), &value)?;
        Ok(())
    }

    /// The hosts announced within the TTL, by id. An entry that does not parse (a newer
    /// host's format) is left out with a warning, not an error.
    pub fn hosts(&self) -> Result<Vec<HostInfo>, StoreError> {
        let mut hosts = Vec::new();
        for key in self.records.keys("hosts/")? {
            let Some(record) = self.records.get(&key)? else {
                continue;
            };
            match serde_json::from_slice::<HostInfo>(&record.value) {
                Ok(info) => hosts.push(info),
                Err(e) => tracing::warn!(key, error = %e, "an unreadable roster entry"),
            }
        }
        Ok(hosts)
    }

    /// Leaves the roster at once (a host shutting down cleanly).
    pub fn leave(&self, host: &str) -> Result<(), StoreError> {
        let key = format!("hosts/{host}");
        if let Some(record) = self.records.get(&key)? {
            self.records.delete(&key, record.revision)?;
        }
        Ok(())
    }
}
