//! The master actor: owns the chunk table, merges what workers report, finishes the job.
//!
//! ```text
//!  worker ──Register──────▶ ┌─────────────┐
//!  worker ──LeaseRequest──▶ │   master    │── all done ──▶ write_results (blocking thread)
//!                           │             │── 16 household-day partials ──▶ merge ahead (blocking thread)
//!  worker ──Heartbeat─────▶ │ Coordinator │                 └─▶ results/, _SUCCESS
//!  worker ──Report────────▶ │ JobAggregate│
//!  people ──GetStatus─────▶ └─────────────┘
//! ```
//! Only this actor changes the chunk table and the merged aggregate, so there are no
//! locks. Every message is small (a partial aggregate is bounded by the number of
//! groups, not rows) and the mailbox is bounded, so a burst of workers slows down rather
//! than filling memory.
//!
//! The workers' requests are [`wattswarm_core::protocol`]'s types, handled here as they
//! come from an actor in the same process or from [`crate::http`]. [`reports`] takes a
//! chunk's report, [`finish`] ends the job, [`status`] answers people.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;
use wattswarm_core::aggregate::JobAggregate;
use wattswarm_core::input::Input;
use wattswarm_core::lock::OutputLock;
use wattswarm_core::process::Settings;
use wattswarm_core::protocol::{Heartbeat, HeartbeatReply, JobInfo, LeaseReply, LeaseRequest, Leave, Register};
use wattswarm_core::storage::{household_day_partial_name, Output};

use crate::coordinator::{Coordinator, CoordinatorConfig};
use crate::docker::DockerStatus;
use crate::metrics::MasterMetrics;
use crate::results::{DayMerges, Headline, JobSummary};
use crate::state::{Manifest, Prepared, ReportSaver};
use crate::JobError;

mod finish;
mod reports;
mod status;

pub use status::{GetStatus, JobStatus, Phase, RenderMetrics, WorkerStatus, WorkersReleased};

/// What a finished job hands back.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub summary: JobSummary,
    pub headline: Headline,
}

pub type Done = oneshot::Sender<Result<JobOutcome, JobError>>;

#[derive(Debug, Clone)]
struct WorkerSeen {
    last_seen: Instant,
    bytes: u64,
    chunk_started: Option<Instant>,
    chunks_done: u64,
    bytes_done: u64,
    metrics_url: Option<String>,
    /// Told that the job is over.
    told_finished: bool,
}

/// Everything the master actor starts from.
pub struct MasterSetup {
    pub prepared: Prepared,
    pub input: Input,
    pub output: Output,
    pub settings: Settings,
    pub coordinator: CoordinatorConfig,
    pub metrics: Arc<MasterMetrics>,
    /// The URL workers reach this master at, shown in the status.
    pub master_url: Option<String>,
    /// MongoDB, when the job writes there.
    pub mongo: Option<Arc<crate::mongo::MongoJob>>,
    /// The output's lock, which this master holds: checked before every commit, given
    /// up when the job ends.
    pub lock: Arc<OutputLock>,
}

pub struct MasterActor {
    job_id: String,
    manifest: Manifest,
    lock: Arc<OutputLock>,
    /// The job was finished before this master started: nothing to compute.
    finished_before: bool,
    /// Merging the resumed reports failed (a sum overflowed): the job fails at start.
    broken: Option<JobError>,
    /// Workers that completed at least one chunk (the summary's `workers`).
    contributors: std::collections::BTreeSet<String>,
    coord: Coordinator,
    agg: JobAggregate,
    /// Lines per chunk, from accepted reports (turns rejects' indices into line numbers).
    lines: Vec<u64>,
    parquet_bytes: u64,
    output: Output,
    settings: Settings,
    input: Input,
    input_bytes: u64,
    lease_timeout: Duration,
    started: Instant,
    /// Input bytes done when this master started (resumed chunks), for the rate.
    bytes_at_start: u64,
    workers: HashMap<String, WorkerSeen>,
    done: Option<Done>,
    phase: Phase,
    metrics: Arc<MasterMetrics>,
    master_url: Option<String>,
    mongo: Option<Arc<crate::mongo::MongoJob>>,
    last_waiting_note: Instant,
    /// The worker containers, when the master runs with the Docker socket.
    docker: Option<DockerStatus>,
    /// The household-day merge, run ahead as chunks finish.
    days: DayMerges,
    /// Every chunk is done but a merge ahead still runs: finish when it ends.
    finish_when_merged: bool,
    saver: ReportSaver,
}

impl MasterActor {
    pub fn new(setup: MasterSetup, done: Done) -> MasterActor {
        let MasterSetup {
            prepared,
            input,
            output,
            settings,
            coordinator,
            metrics,
            master_url,
            mongo,
            lock,
        } = setup;
        let input_bytes = prepared.chunks.iter().map(|c| c.len()).sum();
        let n = prepared.chunks.len();
        let done_ids: Vec<u32> = prepared.done.iter().map(|r| r.chunk).collect();
        let mut agg = JobAggregate::default();
        let mut lines = vec![0; n];
        let mut parquet_bytes = 0;
        let mut bytes_at_start = 0;
        let mut days = DayMerges::new(lock.tag());
        let mut broken = None;
        for r in &prepared.done {
            days.add(household_day_partial_name(r.chunk));
            if let Err(e) = agg.merge(&r.aggregate) {
                broken.get_or_insert(JobError::from(e));
            }
            lines[r.chunk as usize] = r.aggregate.totals.lines;
            parquet_bytes += r.parquet_bytes;
            bytes_at_start += r.aggregate.totals.input_bytes;
        }
        metrics.chunks_resumed.inc_by(done_ids.len() as u64);
        metrics.input_bytes.set(input_bytes as i64);
        MasterActor {
            job_id: prepared.manifest.job_id.clone(),
            manifest: prepared.manifest.clone(),
            saver: ReportSaver::start(output.clone(), lock.clone()),
            lock,
            finished_before: prepared.finished,
            broken,
            contributors: Default::default(),
            lease_timeout: coordinator.lease_timeout,
            coord: Coordinator::new(prepared.chunks, &done_ids, coordinator),
            agg,
            lines,
            parquet_bytes,
            output,
            settings,
            input,
            input_bytes,
            started: Instant::now(),
            bytes_at_start,
            workers: HashMap::new(),
            done: Some(done),
            phase: Phase::Running,
            metrics,
            master_url,
            mongo,
            last_waiting_note: Instant::now(),
            docker: None,
            days,
            finish_when_merged: false,
        }
    }

    fn seen(&mut self, worker: &str) -> &mut WorkerSeen {
        let w = self.workers.entry(worker.to_owned()).or_insert(WorkerSeen {
            last_seen: Instant::now(),
            bytes: 0,
            chunk_started: None,
            chunks_done: 0,
            bytes_done: 0,
            metrics_url: None,
            told_finished: false,
        });
        w.last_seen = Instant::now();
        w
    }

    fn alive(&self) -> usize {
        self.workers.values().filter(|w| w.last_seen.elapsed() < self.lease_timeout).count()
    }

    /// Forgets workers silent for ten lease timeouts that hold no lease: the table (and
    /// `/v1/job`) stays the size of the workers that are really there.
    fn prune_workers(&mut self) {
        let running = self.coord.running();
        let limit = self.lease_timeout * 10;
        self.workers.retain(|id, w| w.last_seen.elapsed() < limit || running.contains_key(id));
    }

    /// Ends the job with `result`: gives the output's lock up and tells the waiter.
    fn end(&mut self, result: Result<JobOutcome, JobError>) {
        if self.done.is_none() {
            return; // ended already (a lost lock while the results were written)
        }
        self.phase = if result.is_ok() { Phase::Done } else { Phase::Failed };
        self.lock.release();
        if let Some(tx) = self.done.take() {
            let _ = tx.send(result);
        }
    }

    fn fail_job(&mut self, err: JobError) {
        tracing::error!("job failed: {err}");
        if let Some(m) = &self.mongo {
            m.failed(&err.to_string());
        }
        self.end(Err(err));
    }

    /// Puts expired leases back in the queue, and counts them.
    fn expire_leases(&mut self) {
        for chunk in self.coord.expire(Instant::now()) {
            tracing::warn!(chunk, "lease expired: its worker stopped heartbeating; the chunk goes to another worker");
            self.metrics.leases_expired.inc();
            self.metrics.chunks_retried.inc();
        }
    }

}

impl Actor for MasterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        ctx.run_interval(Duration::from_secs(1), |act, _| {
            act.expire_leases();
            act.prune_workers();
            if act.lock.is_lost() && matches!(act.phase, Phase::Running | Phase::Finishing) {
                act.fail_job(JobError::Core(wattswarm_core::Error::LockLost { output: act.output.location().to_string() }));
            }
            if act.phase == Phase::Running && act.alive() == 0 && act.last_waiting_note.elapsed() >= Duration::from_secs(10) {
                act.last_waiting_note = Instant::now();
                let c = act.coord.counts();
                eprintln!(
                    "wattswarm master: waiting for workers ({} of {} chunks left); start some with: wattswarm worker --master {}",
                    c.pending + c.running,
                    act.coord.len(),
                    act.master_url.as_deref().unwrap_or("URL")
                );
            }
        });
        if let Some(e) = self.broken.take() {
            self.fail_job(e);
        } else if self.finished_before {
            self.report_finished_before();
        } else if self.coord.is_empty() {
            self.fail_job(JobError::Core(wattswarm_core::Error::NoInput("(every input file is empty)".into())));
        } else if self.coord.is_finished() {
            self.finish(ctx);
        }
    }
}

/// A worker joins.
impl Handler<Register> for MasterActor {
    type Result = MessageResult<Register>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        tracing::info!(worker = %msg.worker, "worker joined");
        self.seen(&msg.worker).metrics_url = msg.metrics_url;
        MessageResult(JobInfo {
            job_id: self.job_id.clone(),
            output: self.output.location().clone(),
            households: self.input.households.as_deref().cloned(),
            settings: self.settings.clone(),
            readings: self.mongo.as_ref().and_then(|m| m.readings_namespace()),
        })
    }
}

/// A worker asks for work (and says it is alive and idle).
impl Handler<LeaseRequest> for MasterActor {
    type Result = MessageResult<LeaseRequest>;

    fn handle(&mut self, msg: LeaseRequest, _: &mut Context<Self>) -> Self::Result {
        let worker = &msg.from.worker;
        if self.phase != Phase::Running {
            let reply = if self.phase == Phase::Finishing { LeaseReply::Wait } else { LeaseReply::Finished };
            self.seen(worker).told_finished = reply == LeaseReply::Finished;
            return MessageResult(reply);
        }
        self.expire_leases();
        let reply = self.coord.lease(worker, msg.committing, Instant::now());
        let w = self.seen(worker);
        w.bytes = 0;
        w.chunk_started = matches!(reply, LeaseReply::Work(_)).then(Instant::now);
        MessageResult(reply)
    }
}

/// A worker is alive and `bytes_done` into `chunk`.
impl Handler<Heartbeat> for MasterActor {
    type Result = MessageResult<Heartbeat>;

    fn handle(&mut self, msg: Heartbeat, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let held = self.coord.heartbeat(&msg.from.worker, msg.chunk, now);
        if let Some(c) = msg.committing {
            self.coord.heartbeat(&msg.from.worker, c, now);
        }
        let w = self.seen(&msg.from.worker);
        if held {
            w.bytes = msg.bytes_done;
        }
        MessageResult(HeartbeatReply { held })
    }
}

/// A worker leaves: its leases go back to the queue at once.
impl Handler<Leave> for MasterActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        let worker = &msg.from.worker;
        let back = self.coord.release_worker(worker);
        self.metrics.chunks_retried.inc_by(back.len() as u64);
        self.workers.remove(worker);
        tracing::info!(worker = %worker, handed_back = back.len(), "worker left");
    }
}

