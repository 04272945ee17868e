//! When runs happen: one queue slot per product, triggers, debounce, retries and schedules.
//!
//! Every run request — manual, an ingest, a new upstream version, a cron occurrence, a retry —
//! goes through [`Scheduler::request`]. A product has at most one run executing and at most one
//! queued (a retained major, kept running beside the active version for the consumers that pin
//! it, has a slot of its own, and every trigger but a manual request or a retry reaches it too): a request while a run is queued joins that run instead of adding another, so a burst
//! of ingests makes one run. Ingest-triggered runs wait `debounce` for more ingests (each one
//! restarts the wait, up to `max_delay` in all). A global semaphore bounds the runs executing
//! at once over all products.
//!
//! Replays go through the same queue ([`Scheduler::request_replay`]): a product's replays wait
//! in a line of their own (bounded by `max_queued_replays`) and take the product's one run slot
//! and a global permit like any run, so they never run beside the product's normal runs.
//!
//! Queued runs are run records in the store, so they survive a restart: [`Scheduler::resume`]
//! puts them back in line, retries once each run a crash interrupted, and then queues a run of
//! every product with acknowledged input that no settled run has read ([`crate::runner::unread_input`]),
//! so data is never stranded however often the host is killed. A run that fails through the
//! host's fault (not the product's) is retried with exponential backoff. Executing runs live on
//! blocking threads, never on the async workers that serve requests.
//!
//! Cron schedules remember when they last fired (in the store): an occurrence missed while the
//! host was down fires once when it comes back.

pub mod clock;
pub mod cron;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_store::{FailureKind, RecoveryReport, RunCause, RunRecord, RunState, now_us};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::config::SchedulerConfig;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::runner;
use crate::state::{AppState, WeakState};
use clock::Clock;
use cron::CronTable;

/// Why a run is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Someone asked for it (API or CLI).
    Manual,
    /// Data was ingested into one of its ports.
    Input,
    /// An upstream product published a version it reads.
    Upstream,
    /// Its cron schedule came due.
    Schedule,
    /// An earlier attempt was interrupted or failed through the host's fault.
    Retry {
        /// The run retried.
        of: String,
        /// This attempt's number (2 for the first retry).
        attempt: u32,
        /// How long to wait before it starts.
        after: Duration,
    },
    /// At start: acknowledged input that no settled run has read yet.
    PendingInput,
}

impl Cause {
    /// Whether the request reaches the product's retained majors too: data and time move
    /// every version that runs; a manual request or a retry is for one run.
    fn reaches_retained_majors(&self) -> bool {
        matches!(
            self,
            Cause::Input | Cause::Upstream | Cause::Schedule | Cause::PendingInput
        )
    }

    /// The cause recorded with the run.
    pub fn kind(&self) -> RunCause {
        match self {
            Cause::Manual => RunCause::Manual,
            Cause::Input => RunCause::Input,
            Cause::Upstream => RunCause::Upstream,
            Cause::Schedule => RunCause::Schedule,
            Cause::Retry { .. } => RunCause::Retry,
            Cause::PendingInput => RunCause::PendingInput,
        }
    }
}

/// Which queue slot a run takes: its product's, or a retained major's of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    product: String,
    /// The retained major; `None` for the active version.
    line: Option<u64>,
}

impl SlotKey {
    fn of(product: &str, line: Option<u64>) -> SlotKey {
        SlotKey {
            product: product.to_string(),
            line,
        }
    }
}

#[derive(Default)]
struct Slot {
    /// The run executing now.
    running: Option<String>,
    /// The run next in line.
    queued: Option<Pending>,
    /// Replays waiting, oldest first; they start when no normal run is ready.
    replays: VecDeque<String>,
}

struct Pending {
    run_id: String,
    /// When it may start.
    ready_at: Instant,
    /// The latest it may be pushed back to by further ingests.
    latest: Instant,
}

/// The run queue of a server.
pub struct Scheduler {
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<SlotKey, Slot>>,
    cron: Mutex<CronTable>,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
    started: AtomicBool,
    stopping: AtomicBool,
    /// Set while [`Scheduler::resume`] refills the queue: nothing starts until every queued
    /// run, retry and unread input is in line, so a retry joins the run already queued.
    resuming: AtomicBool,
}

impl Scheduler {
    /// A scheduler that runs at most `max_concurrent_runs` at once.
    pub fn new(config: SchedulerConfig, clock: Arc<dyn Clock>, max_concurrent_runs: usize) -> Self {
        Scheduler {
            config,
            clock,
            slots: Mutex::new(HashMap::new()),
            cron: Mutex::new(CronTable::default()),
            permits: Arc::new(Semaphore::new(max_concurrent_runs.max(1))),
            wake: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            resuming: AtomicBool::new(false),
        }
    }

    /// The global bound on executing runs (replays take a permit too).
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// The clock schedules are evaluated against.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Asks for a run of `product`'s active version (and, for data and time triggers, of each
    /// retained major). Returns the active version's queued run this request made, or the one
    /// it joined.
    pub fn request(
        &self,
        state: &AppState,
        product: &str,
        cause: Cause,
    ) -> ServiceResult<RunRecord> {
        let record = self.request_line(state, product, None, cause.clone())?;
        if cause.reaches_retained_majors() {
            for line in crate::registry::live_majors(state, product)? {
                if let Err(e) = self.request_line(state, product, Some(line.major), cause.clone()) {
                    tracing::warn!(%product, major = line.major, error = %e.message, "run of a retained major not queued");
                }
            }
        }
        Ok(record)
    }

    /// Asks for a run of `product`'s active version (`line` `None`) or of its retained major
    /// `line`. Returns the queued run this request made, or the one it joined.
    fn request_line(
        &self,
        state: &AppState,
        product: &str,
        line: Option<u64>,
        cause: Cause,
    ) -> ServiceResult<RunRecord> {
        self.ensure_started(state);
        let now = Instant::now();
        let mut slots = self.lock_slots()?;
        let slot = slots.entry(SlotKey::of(product, line)).or_default();
        if let Some(pending) = &mut slot.queued {
            pending.ready_at = match &cause {
                Cause::Input => (now + self.config.debounce).min(pending.latest),
                Cause::Retry { .. } => pending.ready_at,
                _ => now,
            };
            let id = pending.run_id.clone();
            drop(slots);
            self.wake.notify_one();
            return state
                .store()
                .run(&id)?
                .ok_or_else(|| ServiceError::internal(format!("queued run {id} has no record")));
        }
        let delay = match &cause {
            Cause::Input => self.config.debounce,
            Cause::Retry { after, .. } => *after,
            _ => Duration::ZERO,
        };
        let record = runner::queue(state, product, line, &cause)?;
        slot.queued = Some(Pending {
            run_id: record.id.clone(),
            ready_at: now + delay,
            latest: now + self.config.max_delay.max(delay),
        });
        drop(slots);
        self.wake.notify_one();
        Ok(record)
    }

    /// Puts a recorded replay in its product's line of replays; a 503 when that line is full.
    pub fn request_replay(&self, state: &AppState, record: RunRecord) -> ServiceResult<RunRecord> {
        self.ensure_started(state);
        let mut slots = self.lock_slots()?;
        let slot = slots.entry(SlotKey::of(&record.product, None)).or_default();
        if slot.replays.len() >= self.config.max_queued_replays {
            return Err(ServiceError::busy(format!(
                "{} replays of {} are waiting already; this server queues at most that many",
                slot.replays.len(),
                record.product
            )));
        }
        state.store().put_run(&record)?;
        slot.replays.push_back(record.id.clone());
        drop(slots);
        self.wake.notify_one();
        Ok(record)
    }

    /// Puts the runs a stopped host left queued back in line, retries once each run it
    /// interrupted, then queues a run of each product with input no settled run has read.
    /// Call once, after the store's recovery.
    pub fn resume(&self, state: &AppState, report: &RecoveryReport) {
        self.resuming.store(true, Ordering::SeqCst);
        for id in &report.runs_queued {
            let Ok(Some(record)) = state.store().run(id) else {
                continue;
            };
            self.requeue(state, record);
        }
        for id in &report.runs_interrupted {
            let Ok(Some(record)) = state.store().run(id) else {
                continue;
            };
            if record.attempt >= 2 || record.replay.is_some() {
                continue;
            }
            let retry = Cause::Retry {
                of: id.clone(),
                attempt: record.attempt + 1,
                after: Duration::ZERO,
            };
            match self.request_line(state, &record.product, record.line, retry) {
                Ok(run) => tracing::info!(run = %run.id, retry_of = %id, "interrupted run retried"),
                Err(e) => {
                    tracing::warn!(run = %id, error = %e.message, "cannot retry an interrupted run")
                }
            }
        }
        self.queue_unread_input(state);
        self.resuming.store(false, Ordering::SeqCst);
        self.ensure_started(state);
        self.wake.notify_one();
    }

    /// Puts one run a stopped host left queued back in line: a replay in the replays' line, a
    /// normal run in the product's slot (or, when another normal run holds it already, marks
    /// this one superseded: the one in line reads the same inputs).
    fn requeue(&self, state: &AppState, mut record: RunRecord) {
        let Ok(mut slots) = self.lock_slots() else {
            return;
        };
        let slot = slots
            .entry(SlotKey::of(&record.product, record.line))
            .or_default();
        if record.replay.is_some() {
            slot.replays.push_back(record.id.clone());
            tracing::info!(run = %record.id, product = %record.product, "queued replay resumed");
            return;
        }
        if let Some(pending) = &slot.queued {
            record.state = RunState::Interrupted;
            record.reason = Some(format!("superseded by queued run {}", pending.run_id));
            record.finished_at_us = Some(now_us());
            drop(slots);
            if let Err(e) = state.store().put_run(&record) {
                tracing::error!(run = %record.id, error = %e, "cannot record a superseded run");
            }
            return;
        }
        let now = Instant::now();
        let wait = record.not_before_us.map_or(0, |at| (at - now_us()).max(0));
        let ready_at = now + Duration::from_micros(u64::try_from(wait).unwrap_or(0));
        slot.queued = Some(Pending {
            run_id: record.id.clone(),
            ready_at,
            latest: ready_at,
        });
        tracing::info!(run = %record.id, product = %record.product, "queued run resumed");
    }

    /// Queues a run of every active product that runs on new input and has acknowledged
    /// input no settled run has read (a run interrupted twice leaves such data behind, as does
    /// a crash between an upstream's publish and its wake-up call).
    fn queue_unread_input(&self, state: &AppState) {
        let products = match state.store().products() {
            Ok(products) => products,
            Err(e) => {
                tracing::error!(error = %e, "cannot list products to find unread input");
                return;
            }
        };
        for product in products {
            // A run in line or executing reads the current inputs anyway.
            let busy = self.lock_slots().is_ok_and(|slots| {
                slots
                    .get(&SlotKey::of(&product, None))
                    .is_some_and(|slot| slot.running.is_some() || slot.queued.is_some())
            });
            if busy {
                continue;
            }
            let manifest = match active_manifest(state, &product) {
                Ok(Some((manifest, Some(_)))) if manifest.trigger.on_input => manifest,
                _ => continue,
            };
            match runner::unread_input(state, &manifest) {
                Ok(Some(input)) => match self.request(state, &product, Cause::PendingInput) {
                    Ok(run) => tracing::info!(
                        run = %run.id, %product, %input,
                        "input no run has read yet: run queued"
                    ),
                    Err(e) => tracing::warn!(%product, error = %e.message, "run not queued"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(%product, error = %e, "cannot compare inputs"),
            }
        }
    }

    /// Reads every active product's `trigger.schedule` into the cron table.
    pub fn refresh_schedules(&self, state: &AppState) -> ServiceResult<()> {
        let now = self.clock.now_us();
        let products = state.store().products()?;
        let mut table = self
            .cron
            .lock()
            .map_err(|_| ServiceError::internal("cron table lock poisoned"))?;
        for product in products {
            let schedule = active_manifest(state, &product)?
                .filter(|(_, active)| active.is_some())
                .and_then(|(manifest, _)| manifest.trigger.schedule.clone());
            // Occurrences count from the last time the schedule fired, even in an earlier
            // process: one missed while the host was down is due now. A schedule never fired
            // counts from now, and that is recorded as its start.
            let since = match (&schedule, state.store().schedule_fired(&product)?) {
                (None, _) => now,
                (Some(_), Some(fired)) => fired,
                (Some(_), None) => {
                    state.store().set_schedule_fired(&product, now)?;
                    now
                }
            };
            if let Err(e) = table.set(&product, schedule.as_deref(), since) {
                tracing::warn!(%product, error = %e, "schedule ignored");
            }
        }
        drop(table);
        self.wake.notify_one();
        Ok(())
    }

    /// Requests a run of every product whose schedule is due by the clock. The dispatcher calls
    /// this at least once a second; tests call it after moving a manual clock.
    pub fn poll_schedules(&self, state: &AppState) -> Vec<RunRecord> {
        let now = self.clock.now_us();
        let due = match self.cron.lock() {
            Ok(mut table) => table.due(now),
            Err(_) => return Vec::new(),
        };
        due.iter()
            .filter_map(|product| {
                if let Err(e) = state.store().set_schedule_fired(product, now) {
                    tracing::error!(%product, error = %e, "cannot record that a schedule fired");
                }
                match self.request(state, product, Cause::Schedule) {
                    Ok(run) => Some(run),
                    Err(e) => {
                        tracing::warn!(%product, error = %e.message, "scheduled run not queued");
                        None
                    }
                }
            })
            .collect()
    }

    /// The next time a product's schedule comes due (µs since the epoch).
    pub fn next_scheduled(&self, product: &str) -> Option<i64> {
        self.cron.lock().ok().and_then(|t| t.next_of(product))
    }

    /// Stops starting queued runs (at shutdown); they stay queued in the store.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn lock_slots(&self) -> ServiceResult<std::sync::MutexGuard<'_, HashMap<SlotKey, Slot>>> {
        self.slots
            .lock()
            .map_err(|_| ServiceError::internal("run queue lock poisoned"))
    }

    fn ensure_started(&self, state: &AppState) {
        if self.resuming.load(Ordering::SeqCst) || self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.refresh_schedules(state) {
            tracing::warn!(error = %e.message, "schedules not loaded");
        }
        tokio::spawn(dispatch(state.downgrade()));
    }

    /// Takes every queued run that may start now; returns them and the next time another may.
    fn take_ready(&self) -> (Vec<(SlotKey, String)>, Option<Instant>) {
        let now = Instant::now();
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        let Ok(mut slots) = self.slots.lock() else {
            return (ready, None);
        };
        for (product, slot) in slots.iter_mut() {
            if slot.running.is_some() {
                continue;
            }
            match slot.queued.take() {
                Some(pending) if pending.ready_at <= now => {
                    slot.running = Some(pending.run_id.clone());
                    ready.push((product.clone(), pending.run_id));
                    continue;
                }
                Some(pending) => {
                    next = Some(next.map_or(pending.ready_at, |n| n.min(pending.ready_at)));
                    slot.queued = Some(pending);
                }
                None => {}
            }
            if let Some(replay) = slot.replays.pop_front() {
                slot.running = Some(replay.clone());
                ready.push((product.clone(), replay));
            }
        }
        (ready, next)
    }

    fn finished(&self, key: &SlotKey) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(key)
        {
            slot.running = None;
        }
        self.wake.notify_one();
    }
}

/// The dispatcher: starts ready runs, fires schedules, sleeps until the next thing to do.
async fn dispatch(weak: WeakState) {
    loop {
        let Some(state) = weak.upgrade() else {
            return;
        };
        let scheduler = state.scheduler();
        if scheduler.stopping.load(Ordering::SeqCst) {
            return;
        }
        let (ready, next) = scheduler.take_ready();
        for (key, run_id) in ready {
            tokio::spawn(execute_queued(state.clone(), key, run_id));
        }
        scheduler.poll_schedules(&state);
        crate::freshness::watch(&state);
        let second = Instant::now() + Duration::from_secs(1);
        let until = next.map_or(second, |n| n.min(second));
        let wake = scheduler.wake.clone();
        drop(state);
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = wake.notified() => {}
        }
    }
}

/// Runs one queued run once a global permit is free, then frees the product's slot and retries
/// the run if the host failed it.
async fn execute_queued(state: AppState, key: SlotKey, run_id: String) {
    let scheduler = state.scheduler();
    let permit = scheduler.permits().acquire_owned().await;
    let record = match state.store().run(&run_id) {
        Ok(Some(record)) if record.state == RunState::Queued => Some(record),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(run = %run_id, error = %e, "cannot read a queued run");
            None
        }
    };
    let finished = match record {
        Some(record) => execute_off_async(&state, record).await,
        None => None,
    };
    drop(permit);
    scheduler.finished(&key);
    let Some(finished) = finished else {
        return;
    };
    let host_fault = finished.state == RunState::Failed
        && finished.failure.is_some_and(FailureKind::is_host_fault);
    if host_fault && finished.attempt < scheduler.config.retries {
        let exponent = finished.attempt.saturating_sub(1).min(16);
        let after = scheduler.config.retry_backoff * 2u32.pow(exponent);
        let retry = Cause::Retry {
            of: finished.id.clone(),
            attempt: finished.attempt + 1,
            after,
        };
        match scheduler.request_line(&state, &key.product, key.line, retry) {
            Ok(run) => {
                tracing::warn!(run = %run.id, retry_of = %finished.id, ?after, "host failure; run retried")
            }
            Err(e) => {
                tracing::error!(run = %finished.id, error = %e.message, "cannot retry the run")
            }
        }
    }
}

/// Executes a run on a blocking thread of its own: loading code, pinning and checking data,
/// hashing, fsyncing and pruning are blocking work, and the async workers serve requests.
/// The run's own awaits (the sandbox) are driven from that thread. `None` if the thread died.
async fn execute_off_async(state: &AppState, record: RunRecord) -> Option<RunRecord> {
    let handle = tokio::runtime::Handle::current();
    let state = state.clone();
    let id = record.id.clone();
    match tokio::task::spawn_blocking(move || handle.block_on(runner::execute(&state, record)))
        .await
    {
        Ok(finished) => Some(finished),
        Err(e) => {
            tracing::error!(run = %id, error = %e, "the run's thread ended abnormally");
            None
        }
    }
}
