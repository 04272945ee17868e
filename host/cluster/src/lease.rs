//! Leases: work one host of a cluster owns at a time, held by renewing before the server
//! drops the entry.

use std::time::Duration;

use tessera_store::StoreError;

use crate::records::{JetStreamRecords, Swap};

/// Leases in one bucket, each lasting `ttl` after its last renewal. The server drops an entry
/// `ttl` after it was written, so a holder that stops renewing (it died, or lost its
/// connection) loses the lease without anyone reading a clock.
pub struct Leases {
    records: JetStreamRecords,
    ttl: Duration,
}

/// A lease this host holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The lease's name (what is owned: `scheduler`, …).
    pub name: String,
    /// This host.
    pub holder: String,
    revision: u64,
}

impl Leases {
    /// Leases in `bucket` on the NATS server at `url`, each lasting `ttl` (at least a second).
    pub fn connect(url: &str, bucket: &str, ttl: Duration) -> Result<Leases, StoreError> {
        let (records, ttl) = JetStreamRecords::expiring(url, bucket, ttl)?;
        Ok(Leases { records, ttl })
    }

    /// How long a lease lasts after its last renewal: renew well within it (a third is usual).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease `name` for `holder` when nobody holds it.
    pub fn try_acquire(&self, name: &str, holder: &str) -> Result<Option<Held>, StoreError> {
        match self.records.create(name, holder.as_bytes())? {
            Swap::Written(revision) => Ok(Some(Held {
                name: name.to_string(),
                holder: holder.to_string(),
                revision,
            })),
            Swap::Conflict => Ok(None),
        }
    }

    /// Extends a held lease by another `ttl`; `false` when it was lost meanwhile (it ran out
    /// and another host took it, or it was released): the holder must stop the work at once.
    pub fn renew(&self, held: &mut Held) -> Result<bool, StoreError> {
        match self
            .records
            .update(&held.name, held.holder.as_bytes(), held.revision)?
        {
            Swap::Written(revision) => {
                held.revision = revision;
                Ok(true)
            }
            Swap::Conflict => Ok(false),
        }
    }

    /// Gives a held lease up at once (unless it was lost already).
    pub fn release(&self, held: Held) -> Result<(), StoreError> {
        self.records.delete(&held.name, held.revision).map(|_| ())
    }

    /// Who holds the lease `name` now, if anyone.
    pub fn holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let record = self.records.get(name)?;
        Ok(record.map(|r| String::from_utf8_lossy(&r.value).into_owned()))
    }
}
