//! Tessera's cluster: what several hosts share to act as one, on NATS JetStream.
//!
//! A single host keeps its records in sled and its bytes in files; hosts of a cluster keep
//! their bytes in an object store ([`tessera_store::ObjectBlobs`]) and coordinate through a
//! NATS server with JetStream:
//!
//! - [`JetStreamRecords`]: records in a JetStream key-value bucket, each with a revision, and
//!   compare-and-swap writes ([`JetStreamRecords::create`], [`JetStreamRecords::update`]) for
//!   the pointers that must move atomically, so two hosts can never both win;
//! - [`Leases`]: leases in a bucket whose entries expire on the server, for work one host at a
//!   time owns (cron schedules, debounce): a holder renews before the lease runs out, and a
//!   host that dies stops renewing, so another takes over once the server drops its entry. No
//!   host's clock is trusted;
//! - [`Roster`]: the hosts in the cluster now, with their slots, GPUs and runs, each entry
//!   dropped by the server a TTL after its host last announced itself;
//! - [`WorkQueue`]: run requests on a JetStream work queue that any host with a free slot
//!   takes from, acked only once the run has published, delivered again to another host when
//!   its host dies; at most one running and one queued per product, enforced by the server.
//!
//! Every call is synchronous, like the storage traits, and waits through an
//! [`tessera_store::bridge::AsyncBridge`].

// Sizes and offsets from the server never index unchecked.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod lease;
mod records;
mod roster;
mod work;

pub use lease::{Held, Leases};
pub use records::{JetStreamRecords, Record, Swap};
pub use roster::{HostInfo, Roster};
pub use work::{Job, PER_PRODUCT, Submitted, WorkQueue};
