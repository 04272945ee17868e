//! Federated computational governance: the federation's rules as code, enforced by the
//! platform at every lifecycle event.
//!
//! - [`evaluate`]: Rego policies (each a module with a `violation` set of messages),
//!   interpreted by `regorus` in a child process ([`sandbox`]) under a time, memory and
//!   output limit, so a hostile or broken policy fails alone; [`zygote`]: the small processes
//!   that fork those children, so the host's size does not make each evaluation slower.
//! - [`input`]: the documented input document a policy sees.
//! - [`diff`]: the contract diff of a new version against the active one, each change
//!   classified breaking, warning or compatible, and the semantic-versioning rule built on it.
//! - [`decide`]: which policies apply, waivers, and the decision record.
//! - [`library`]: the policies shipped with the host.
//! - [`policy`]: checking a policy someone wants to add.
//! - [`standards`]: a product as an ODPS document, an output port's contract as ODCS.
//!
//! Storage of policies, waivers and decisions is `tessera_store::GovernanceCatalog`; the server
//! calls this crate where decisions are made (the registry, the runner, tokens, ingest).

pub mod decide;
pub mod diff;
pub mod evaluate;
pub mod input;
pub mod library;
pub mod policy;
pub mod sandbox;
pub mod semver_rule;
pub mod standards;
pub mod zygote;

pub use decide::{Occasion, applicable, decide};
pub use diff::{ChangeClass, ChangeKind, ContractChange, ContractDiff, Release, diff};
pub use evaluate::{EvalLimits, Evaluated};
pub use input::PolicyInput;
