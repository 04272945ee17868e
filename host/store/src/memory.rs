//! An in-memory [`Store`] for tests: the same contract as [`crate::SledStore`], nothing on disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tessera_core::io::{BatchSink, BatchSource, DataError, MemorySource, SinkSummary};

use crate::model::{Deployment, PortVersion, RecoveryReport, RunRecord, TokenRecord, Version};
use crate::{Store, StoreError, now_us};

/// One port's data: its schema and batches.
type PortData = (SchemaRef, Vec<RecordBatch>);

#[derive(Default)]
struct State {
    /// (run, port) → staged batches, present once the sink finished.
    staged: HashMap<(String, String), PortData>,
    /// (product, number) → version and its data.
    versions: BTreeMap<(String, u64), (Version, HashMap<String, PortData>)>,
    runs: BTreeMap<String, RunRecord>,
    /// (product, version) → deployment and component bytes.
    deployments: BTreeMap<(String, String), (Deployment, Vec<u8>)>,
    active: HashMap<String, String>,
    tokens: BTreeMap<String, TokenRecord>,
}

/// Everything in memory.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Io("memory store lock poisoned".into()))
    }
}

struct StagingSink {
    store: MemoryStore,
    key: (String, String),
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl BatchSink for StagingSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.batches.push(batch.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, DataError> {
        let rows = self.batches.iter().map(|b| b.num_rows() as u64).sum();
        let bytes = self
            .batches
            .iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum();
        let mut state = self
            .store
            .lock()
            .map_err(|e| DataError::new(e.to_string()))?;
        state.staged.insert(self.key, (self.schema, self.batches));
        Ok(SinkSummary { rows, bytes })
    }
}

impl Store for MemoryStore {
    fn stage(
        &self,
        _product: &str,
        run_id: &str,
        port: &str,
        schema: SchemaRef,
    ) -> Result<Box<dyn BatchSink>, StoreError> {
        Ok(Box::new(StagingSink {
            store: self.clone(),
            key: (run_id.to_string(), port.to_string()),
            schema,
            batches: Vec::new(),
        }))
    }

    fn publish(
        &self,
        product: &str,
        run_id: &str,
        ports: &BTreeMap<String, u64>,
    ) -> Result<Version, StoreError> {
        let mut state = self.lock()?;
        for port in ports.keys() {
            if !state
                .staged
                .contains_key(&(run_id.to_string(), port.clone()))
            {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} staged no output `{port}`"
                )));
            }
        }
        let number = state
            .versions
            .range((product.to_string(), 0)..=(product.to_string(), u64::MAX))
            .next_back()
            .map_or(0, |(k, _)| k.1)
            + 1;
        let mut data = HashMap::new();
        let mut files = BTreeMap::new();
        for (port, rows) in ports {
            if let Some((schema, batches)) =
                state.staged.remove(&(run_id.to_string(), port.clone()))
            {
                let bytes = batches
                    .iter()
                    .map(|b| b.get_array_memory_size() as u64)
                    .sum();
                files.insert(
                    port.clone(),
                    PortVersion {
                        file: format!("memory:{product}/{number}/{port}"),
                        rows: *rows,
                        bytes,
                    },
                );
                data.insert(port.clone(), (schema, batches));
            }
        }
        let version = Version {
            product: product.to_string(),
            number,
            run_id: run_id.to_string(),
            published_at_us: now_us(),
            ports: files,
        };
        state
            .versions
            .insert((product.to_string(), number), (version.clone(), data));
        Ok(version)
    }

    fn discard(&self, run_id: &str) -> Result<(), StoreError> {
        self.lock()?.staged.retain(|(run, _), _| run != run_id);
        Ok(())
    }

    fn current_version(&self, product: &str) -> Result<Option<Version>, StoreError> {
        Ok(self.versions(product)?.pop())
    }

    fn version(&self, product: &str, number: u64) -> Result<Option<Version>, StoreError> {
        Ok(self
            .lock()?
            .versions
            .get(&(product.to_string(), number))
            .map(|(v, _)| v.clone()))
    }

    fn versions(&self, product: &str) -> Result<Vec<Version>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .versions
            .range((product.to_string(), 0)..=(product.to_string(), u64::MAX))
            .map(|(_, (v, _))| v.clone())
            .collect())
    }

    fn read(
        &self,
        product: &str,
        number: u64,
        port: &str,
    ) -> Result<Box<dyn BatchSource>, StoreError> {
        let state = self.lock()?;
        let (_, data) = state
            .versions
            .get(&(product.to_string(), number))
            .ok_or_else(|| StoreError::NotFound(format!("{product} has no version {number}")))?;
        let (schema, batches) = data.get(port).ok_or_else(|| {
            StoreError::NotFound(format!(
                "version {number} of {product} has no port `{port}`"
            ))
        })?;
        Ok(Box::new(
            MemorySource::new(schema.clone(), batches.clone()).with_version(number),
        ))
    }

    fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.lock()?.runs.insert(run.id.clone(), run.clone());
        Ok(())
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.lock()?.runs.get(id).cloned())
    }

    fn runs(&self, product: &str) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self
            .lock()?
            .runs
            .values()
            .filter(|r| r.product == product)
            .cloned()
            .collect();
        runs.sort_by_key(|r| r.created_at_us);
        Ok(runs)
    }

    fn deploy(&self, deployment: &Deployment, component: &[u8]) -> Result<(), StoreError> {
        let key = (deployment.product.clone(), deployment.version.clone());
        let mut state = self.lock()?;
        if state.deployments.contains_key(&key) {
            return Err(StoreError::Conflict(format!(
                "{} {} is already deployed",
                deployment.product, deployment.version
            )));
        }
        state
            .deployments
            .insert(key, (deployment.clone(), component.to_vec()));
        Ok(())
    }

    fn deployments(&self, product: &str) -> Result<Vec<Deployment>, StoreError> {
        let mut found: Vec<Deployment> = self
            .lock()?
            .deployments
            .values()
            .filter(|(d, _)| d.product == product)
            .map(|(d, _)| d.clone())
            .collect();
        found.sort_by_key(|d| d.deployed_at_us);
        Ok(found)
    }

    fn component(&self, product: &str, version: &str) -> Result<Vec<u8>, StoreError> {
        self.lock()?
            .deployments
            .get(&(product.to_string(), version.to_string()))
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| StoreError::NotFound(format!("{product} {version} is not deployed")))
    }

    fn activate(&self, product: &str, version: &str) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if !state
            .deployments
            .contains_key(&(product.to_string(), version.to_string()))
        {
            return Err(StoreError::NotFound(format!(
                "{product} {version} is not deployed"
            )));
        }
        state
            .active
            .insert(product.to_string(), version.to_string());
        Ok(())
    }

    fn active(&self, product: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock()?.active.get(product).cloned())
    }

    fn products(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .lock()?
            .deployments
            .keys()
            .map(|(p, _)| p.clone())
            .collect();
        names.dedup();
        Ok(names)
    }

    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.lock()?
            .tokens
            .insert(token.hash.clone(), token.clone());
        Ok(())
    }

    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.lock()?.tokens.get(hash).cloned())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self.lock()?.tokens.values().cloned().collect())
    }

    fn recover(&self) -> Result<RecoveryReport, StoreError> {
        let mut state = self.lock()?;
        let files_removed = state.staged.len() as u64;
        state.staged.clear();
        let mut report = RecoveryReport {
            files_removed,
            runs_interrupted: Vec::new(),
        };
        for run in state.runs.values_mut() {
            if matches!(
                run.state,
                crate::RunState::Running | crate::RunState::Queued
            ) {
                run.reason = Some(if run.state == crate::RunState::Running {
                    "the host stopped while this run was running".into()
                } else {
                    "the host stopped before this run started".into()
                });
                run.state = crate::RunState::Interrupted;
                report.runs_interrupted.push(run.id.clone());
            }
        }
        Ok(report)
    }
}
