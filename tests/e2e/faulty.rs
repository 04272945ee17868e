//! A catalog that fails on purpose: the sled catalog, except that the next publish commit can
//! be made to fail as a disk would, and one input version can be made to vanish for one read as
//! if retention had dropped it, so a test sees what the host does then.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tessera_core::quality::PortStats;
use tessera_store::{
    Catalog, Deployment, DropCommit, Garbage, InputCommit, InputCommitted, InputVersion,
    RetainedMajor, RunRecord, SledCatalog, StoreError, TokenRecord, UnfinishedRuns, Version,
    VersionCommit,
};

pub(crate) struct FaultyCatalog {
    inner: SledCatalog,
    fail_next_publish: AtomicBool,
    hidden_input: Mutex<Option<(String, String, u64)>>,
}

impl FaultyCatalog {
    pub(crate) fn new(inner: SledCatalog) -> FaultyCatalog {
        FaultyCatalog {
            inner,
            fail_next_publish: AtomicBool::new(false),
            hidden_input: Mutex::new(None),
        }
    }

    /// Makes the next read of input version `number` of `product/port` find nothing.
    pub(crate) fn hide_input_once(&self, product: &str, port: &str, number: u64) {
        *self.hidden_input.lock().unwrap() = Some((product.into(), port.into(), number));
    }

    /// Makes the next publish commit fail with an I/O error, changing nothing.
    pub(crate) fn fail_next_publish(&self) {
        self.fail_next_publish.store(true, Ordering::SeqCst);
    }
}

type R<T> = Result<T, StoreError>;

impl Catalog for FaultyCatalog {
    fn governance(&self) -> &dyn tessera_store::GovernanceCatalog {
        self.inner.governance()
    }

    fn sharing(&self) -> &dyn tessera_store::SharingCatalog {
        self.inner.sharing()
    }

    fn commit_version(&self, commit: &VersionCommit) -> R<()> {
        if self.fail_next_publish.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Io("the disk went away (on purpose)".into()));
        }
        self.inner.commit_version(commit)
    }

    fn create_deployment(&self, d: &Deployment, component: &str) -> R<bool> {
        self.inner.create_deployment(d, component)
    }
    fn deployment(&self, product: &str, version: &str) -> R<Option<Deployment>> {
        self.inner.deployment(product, version)
    }
    fn component_key(&self, product: &str, version: &str) -> R<Option<String>> {
        self.inner.component_key(product, version)
    }
    fn deployments(&self, product: &str) -> R<Vec<Deployment>> {
        self.inner.deployments(product)
    }
    fn set_active(&self, product: &str, version: &str, retained: &[RetainedMajor]) -> R<()> {
        self.inner.set_active(product, version, retained)
    }
    fn active(&self, product: &str) -> R<Option<String>> {
        self.inner.active(product)
    }
    fn retained_majors(&self, product: &str) -> R<Vec<RetainedMajor>> {
        self.inner.retained_majors(product)
    }
    fn latest_version_number(&self, product: &str) -> R<Option<u64>> {
        self.inner.latest_version_number(product)
    }
    fn products(&self) -> R<Vec<String>> {
        self.inner.products()
    }
    fn current_version_number(&self, product: &str) -> R<Option<u64>> {
        self.inner.current_version_number(product)
    }
    fn version(&self, product: &str, number: u64) -> R<Option<Version>> {
        self.inner.version(product, number)
    }
    fn versions(&self, product: &str) -> R<Vec<Version>> {
        self.inner.versions(product)
    }
    fn stats(&self, product: &str, number: u64) -> R<BTreeMap<String, PortStats>> {
        self.inner.stats(product, number)
    }
    fn current_input(&self, product: &str, port: &str) -> R<Option<InputVersion>> {
        self.inner.current_input(product, port)
    }
    fn input_version(&self, product: &str, port: &str, number: u64) -> R<Option<InputVersion>> {
        let mut hidden = self.hidden_input.lock().unwrap();
        if hidden.as_ref() == Some(&(product.to_string(), port.to_string(), number)) {
            *hidden = None;
            return Ok(None);
        }
        drop(hidden);
        self.inner.input_version(product, port, number)
    }
    fn input_versions(&self, product: &str, port: &str) -> R<Vec<InputVersion>> {
        self.inner.input_versions(product, port)
    }
    fn ingest_ports(&self, product: &str) -> R<Vec<String>> {
        self.inner.ingest_ports(product)
    }
    fn commit_input(&self, commit: &InputCommit) -> R<InputCommitted> {
        self.inner.commit_input(commit)
    }
    fn keyed_input(&self, p: &str, port: &str, key: &str, now: i64) -> R<Option<InputVersion>> {
        self.inner.keyed_input(p, port, key, now)
    }
    fn drop_versions(&self, commit: &DropCommit) -> R<()> {
        self.inner.drop_versions(commit)
    }
    fn garbage(&self, before_us: i64) -> R<Vec<Garbage>> {
        self.inner.garbage(before_us)
    }
    fn forget_garbage(&self, garbage: &[Garbage]) -> R<()> {
        self.inner.forget_garbage(garbage)
    }
    fn usage(&self, product: &str) -> R<Option<u64>> {
        self.inner.usage(product)
    }
    fn set_usage(&self, product: &str, bytes: u64) -> R<()> {
        self.inner.set_usage(product, bytes)
    }
    fn put_run(&self, run: &RunRecord) -> R<()> {
        self.inner.put_run(run)
    }
    fn update_run(&self, run: &RunRecord) -> R<bool> {
        self.inner.update_run(run)
    }
    fn interrupt_run(&self, id: &str, reason: &str) -> R<bool> {
        self.inner.interrupt_run(id, reason)
    }
    fn run(&self, id: &str) -> R<Option<RunRecord>> {
        self.inner.run(id)
    }
    fn runs(&self, product: &str) -> R<Vec<RunRecord>> {
        self.inner.runs(product)
    }
    fn runs_page(&self, product: &str, before: Option<&str>, limit: usize) -> R<Vec<RunRecord>> {
        self.inner.runs_page(product, before, limit)
    }
    fn prune_runs(&self, product: &str, keep: usize, at_us: i64) -> R<Vec<String>> {
        self.inner.prune_runs(product, keep, at_us)
    }
    fn interrupt_unfinished(&self, reason: &str) -> R<UnfinishedRuns> {
        self.inner.interrupt_unfinished(reason)
    }
    fn set_quarantined(&self, run: &str, ports: &BTreeMap<String, String>) -> R<()> {
        self.inner.set_quarantined(run, ports)
    }
    fn quarantined(&self, run: &str) -> R<Option<BTreeMap<String, String>>> {
        self.inner.quarantined(run)
    }
    fn schedule_fired(&self, product: &str) -> R<Option<i64>> {
        self.inner.schedule_fired(product)
    }
    fn set_schedule_fired(&self, product: &str, at_us: i64) -> R<()> {
        self.inner.set_schedule_fired(product, at_us)
    }
    fn put_token(&self, token: &TokenRecord) -> R<()> {
        self.inner.put_token(token)
    }
    fn token(&self, hash: &str) -> R<Option<TokenRecord>> {
        self.inner.token(hash)
    }
    fn tokens(&self) -> R<Vec<TokenRecord>> {
        self.inner.tokens()
    }
    fn revoke_token(&self, id: &str) -> R<bool> {
        self.inner.revoke_token(id)
    }
    fn referenced_blobs(&self) -> R<HashSet<String>> {
        self.inner.referenced_blobs()
    }
}
