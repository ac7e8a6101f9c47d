//! The master actor: owns the chunk table, merges what workers report, finishes the job.
//!
//! ```text
//!  worker ──Register──────▶ ┌─────────────┐
//!  worker ──RequestLease──▶ │   master    │── all done ──▶ write_results (blocking thread)
//!                           │             │── 16 household-day partials ──▶ merge ahead (blocking thread)
//!  worker ──Heartbeat─────▶ │ Coordinator │                 └─▶ results/, _SUCCESS
//!  worker ──Report────────▶ │ JobAggregate│
//!  people ──GetStatus─────▶ └─────────────┘
//! ```
//! Only this actor changes the chunk table and the merged aggregate, so there are no
//! locks. Every message is small (a partial aggregate is bounded by the number of
//! groups, not rows) and the mailbox is bounded, so a burst of workers slows down rather
//! than filling memory.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::oneshot;
use wattswarm_core::aggregate::JobAggregate;
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::input::Input;
use wattswarm_core::lock::OutputLock;
use wattswarm_core::process::Settings;
use wattswarm_core::protocol::{JobInfo, LeaseReply};
use wattswarm_core::storage::{household_day_partial_name, Output};
use wattswarm_worker::ChunkOutcome;

use crate::coordinator::{Accept, ChunkCounts, Coordinator, CoordinatorConfig};
use crate::docker::DockerStatus;
use crate::metrics::MasterMetrics;
use crate::results::{finished_outcome, headline, tables, write_household_days, write_results, DayMerges, Headline, JobSummary, RunFacts};
use crate::state::{seal, Manifest, Prepared, ReportSaver};
use crate::validate::BadReport;
use crate::JobError;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Running,
    Finishing,
    Done,
    Failed,
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

    /// Starts the next household-day merge ahead in a blocking thread, if one is due.
    fn merge_ahead(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(m) = self.days.due() else { return };
        let (out, settings, job, lock) = (self.output.clone(), self.settings.clone(), m.clone(), self.lock.clone());
        let fut = tokio::task::spawn_blocking(move || lock.check().and_then(|_| job.run(&out, &settings)));
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let res = res.unwrap_or_else(|e| {
                Err(wattswarm_core::Error::Corrupt {
                    path: act.output.location().into(),
                    reason: format!("merging household-days panicked: {e}"),
                })
            });
            act.days.merged(m, res);
            if act.finish_when_merged {
                act.finish_when_merged = false;
                act.finish(ctx);
            } else {
                act.merge_ahead(ctx);
            }
        }));
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Finishing;
        if self.days.running() {
            self.finish_when_merged = true;
            return;
        }
        let days = std::mem::take(&mut self.days);
        let (lock, manifest) = (self.lock.clone(), self.manifest.clone());
        let out = self.output.clone();
        let chunks: Vec<ChunkSpec> = self.coord.chunks().cloned().collect();
        let lines = self.lines.clone();
        let agg = self.agg.clone();
        let settings = self.settings.clone();
        let mongo = self.mongo.clone();
        let metrics = self.metrics.clone();
        let (started, workers, files, parquet_bytes) = (self.started, self.contributors.len(), self.input.files.len(), self.parquet_bytes);
        // Each step checks that this master still holds the output, and each can be
        // killed and run again: the partials stay until `_SUCCESS` is written.
        let fut = tokio::task::spawn_blocking(move || {
            let facts = RunFacts {
                seconds: started.elapsed().as_secs_f64(),
                workers,
                files,
                parquet_bytes,
            };
            // Each step's time, for `RUST_LOG=wattswarm_master=info`: the serial finish is
            // what more workers cannot shorten.
            let mut step = Instant::now();
            let mut took = |name: &str| {
                tracing::info!("finish: {name} took {:.3} s", step.elapsed().as_secs_f64());
                step = Instant::now();
            };
            let tables = tables(&agg);
            lock.check()?;
            write_household_days(&out, days, &settings)?;
            took("household_day.parquet");
            wattswarm_core::failpoint("after-household-day");
            lock.check()?;
            let summary = write_results(&out, &chunks, &lines, &agg, &tables, facts)?;
            took("rejects and results");
            wattswarm_core::failpoint("after-results");
            if let Some(m) = &mongo {
                lock.check()?;
                m.export(&out, &tables, &summary)?;
                took("MongoDB export");
                wattswarm_core::failpoint("after-mongo");
            }
            lock.check()?;
            seal(&out, &manifest)?;
            took("_SUCCESS");
            metrics.publish_results(&tables);
            Ok::<_, JobError>(JobOutcome {
                summary,
                headline: headline(&agg)?,
            })
        });
        ctx.spawn(fut.into_actor(self).map(|res, act, _| {
            let res = res.unwrap_or_else(|e| {
                Err(JobError::Core(wattswarm_core::Error::Corrupt {
                    path: act.output.location().into(),
                    reason: format!("writing the results panicked: {e}"),
                }))
            });
            if let Err(e) = &res {
                tracing::error!("job failed: {e}");
            }
            act.end(res);
        }));
    }

    /// The job was done before this master started: its outcome is what `results/` says.
    fn report_finished_before(&mut self) {
        let res = finished_outcome(&self.output).map(|(summary, headline)| JobOutcome { summary, headline }).map_err(JobError::from);
        if res.is_ok() {
            eprintln!("wattswarm master: {} holds this job, finished: nothing to compute", self.output.location());
        }
        self.end(res);
    }

    fn status(&self) -> JobStatus {
        let done: u64 = self.coord.chunks().filter(|c| self.coord.is_done(c.id)).map(|c| c.len()).sum();
        let running = self.coord.running();
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .iter()
            .map(|(id, w)| {
                let chunk = running.get(id).copied();
                let bytes = if chunk.is_some() { w.bytes } else { 0 };
                let secs = w.chunk_started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                WorkerStatus {
                    id: id.clone(),
                    chunk,
                    chunk_bytes_done: bytes,
                    mb_per_second: if chunk.is_some() && secs > 0.0 { bytes as f64 / 1e6 / secs } else { 0.0 },
                    chunks_done: w.chunks_done,
                    bytes_done: w.bytes_done,
                    seconds_since_seen: w.last_seen.elapsed().as_secs_f64(),
                    metrics_url: w.metrics_url.clone(),
                }
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        let in_flight: u64 = workers.iter().map(|w| w.chunk_bytes_done).sum();
        let bytes_done = (done + in_flight).min(self.input_bytes);
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = (bytes_done.saturating_sub(self.bytes_at_start)) as f64 / elapsed.max(1e-3);
        let left = self.input_bytes - bytes_done;
        JobStatus {
            job_id: self.job_id.clone(),
            master_url: self.master_url.clone(),
            phase: self.phase,
            chunks: self.coord.counts(),
            input_bytes: self.input_bytes,
            bytes_done,
            rows: self.agg.totals.rows,
            rejected: self.agg.totals.rejected,
            elapsed_seconds: elapsed,
            mb_per_second: rate / 1e6,
            eta_seconds: if left == 0 { Some(0.0) } else if rate > 0.0 { Some(left as f64 / rate) } else { None },
            leases_expired: self.coord.expired,
            workers_alive: self.alive(),
            workers,
            docker: self.docker.clone(),
        }
    }

    /// Puts expired leases back in the queue, and counts them.
    fn expire_leases(&mut self) {
        for chunk in self.coord.expire(Instant::now()) {
            tracing::warn!(chunk, "lease expired: its worker stopped heartbeating; the chunk goes to another worker");
            self.metrics.leases_expired.inc();
            self.metrics.chunks_retried.inc();
        }
    }

    /// Brings the gauges up to date (before a scrape).
    fn refresh_gauges(&self) {
        let s = self.status();
        let m = &self.metrics;
        for (state, n) in [("pending", s.chunks.pending), ("running", s.chunks.running), ("done", s.chunks.done), ("failed", s.chunks.failed)] {
            m.chunks.with_label_values(&[state]).set(n as i64);
        }
        m.workers_alive.set(s.workers_alive as i64);
        m.progress.set(s.bytes_done as f64 / s.input_bytes.max(1) as f64);
        m.eta.set(s.eta_seconds.unwrap_or(-1.0));
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
                act.fail_job(JobError::Core(wattswarm_core::Error::LockLost { output: act.output.location() }));
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

/// A worker joins (`POST /v1/register`).
#[derive(Message)]
#[rtype(result = "JobInfo")]
pub struct Register {
    pub worker: String,
    pub metrics_url: Option<String>,
}

impl Handler<Register> for MasterActor {
    type Result = MessageResult<Register>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        tracing::info!(worker = %msg.worker, "worker joined");
        self.seen(&msg.worker).metrics_url = msg.metrics_url;
        MessageResult(JobInfo {
            job_id: self.job_id.clone(),
            output: self.output.location().into(),
            households: self.input.households.as_deref().cloned(),
            settings: self.settings.clone(),
            readings: self.mongo.as_ref().and_then(|m| m.readings_namespace()),
        })
    }
}

/// A worker asks for work (and says it is alive and idle).
#[derive(Message)]
#[rtype(result = "LeaseReply")]
pub struct RequestLease {
    pub worker: String,
}

impl Handler<RequestLease> for MasterActor {
    type Result = MessageResult<RequestLease>;

    fn handle(&mut self, msg: RequestLease, _: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Running {
            let reply = if self.phase == Phase::Finishing { LeaseReply::Wait } else { LeaseReply::Finished };
            self.seen(&msg.worker).told_finished = reply == LeaseReply::Finished;
            return MessageResult(reply);
        }
        self.expire_leases();
        let reply = self.coord.lease(&msg.worker, Instant::now());
        let w = self.seen(&msg.worker);
        w.bytes = 0;
        w.chunk_started = matches!(reply, LeaseReply::Work(_)).then(Instant::now);
        MessageResult(reply)
    }
}

/// A worker is alive and `bytes` into `chunk`.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Heartbeat {
    pub worker: String,
    pub chunk: u32,
    pub bytes: u64,
}

impl Handler<Heartbeat> for MasterActor {
    type Result = bool;

    fn handle(&mut self, msg: Heartbeat, _: &mut Context<Self>) -> bool {
        let held = self.coord.heartbeat(&msg.worker, msg.chunk, Instant::now());
        let w = self.seen(&msg.worker);
        if held {
            w.bytes = msg.bytes;
        }
        held
    }
}

/// A worker reports a chunk.
#[derive(Message)]
#[rtype(result = "Result<(), ReportRefused>")]
pub struct Report {
    pub worker: String,
    pub outcome: ChunkOutcome,
}

/// Why a report was not taken (the API answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    #[error("worker {worker} reports chunk {chunk} attempt {attempt}, which {holder} holds")]
    NotTheHolder { worker: String, chunk: u32, attempt: u32, holder: String },
    #[error("{0}; the chunk is run again")]
    Bad(#[from] BadReport),
}

impl MasterActor {
    /// Whether `worker`'s report of `attempt` of `chunk` comes from the lease holder:
    /// `Ok(false)` for an attempt that lost its lease (late, ignored), an error for a
    /// report of an attempt another worker holds.
    fn held_by(&self, worker: &str, chunk: u32, attempt: u32) -> Result<bool, ReportRefused> {
        match self.coord.holder(chunk) {
            Some((w, a)) if a == attempt && w != worker => Err(ReportRefused::NotTheHolder {
                worker: worker.into(),
                chunk,
                attempt,
                holder: w.into(),
            }),
            Some((_, a)) => Ok(a == attempt),
            None => Ok(false),
        }
    }

    /// Checks a held attempt's `Done` report: consistent with its byte range, and with its
    /// files committed.
    fn check_done(&self, report: &wattswarm_core::process::ChunkReport) -> Result<(), BadReport> {
        let chunk = report.chunk;
        let spec = self.coord.spec(chunk).expect("a held chunk exists");
        crate::validate::check(report, spec)?;
        let missing = |what: &str| BadReport { chunk, reason: format!("its {what} is not in the output") };
        let committed = |rel: &str| self.output.exists(rel).unwrap_or(false);
        if !committed(&household_day_partial_name(chunk)) {
            return Err(missing("household-day partial"));
        }
        if report.aggregate.totals.rejected > 0 && !committed(&wattswarm_core::storage::rejects_partial_name(chunk)) {
            return Err(missing("rejects partial"));
        }
        Ok(())
    }

    /// Takes a held attempt's checked report. The chunk leaves its worker at once (the
    /// worker may lease its next chunk) and counts as done once the report is kept with
    /// the output, so a master restarted at any moment resumes every chunk it ever called
    /// done. The save runs on the [`ReportSaver`]'s thread: on HDFS a worker waited 12 to
    /// 40 ms for it before its next lease.
    fn accept_done(&mut self, worker: &str, report: Box<wattswarm_core::process::ChunkReport>, ctx: &mut Context<Self>) {
        let accepted = self.coord.saving(report.chunk, report.attempt);
        debug_assert_eq!(accepted, Accept::Accepted);
        let w = self.seen(worker);
        w.chunks_done += 1;
        w.bytes_done += report.aggregate.totals.input_bytes;
        self.contributors.insert(worker.to_owned());
        let saved = self.saver.save(report);
        ctx.spawn(saved.into_actor(self).map(|res, act, ctx| {
            if act.phase != Phase::Running {
                return; // the job ended meanwhile (another save failed, the lock was lost)
            }
            match res {
                Ok(Ok(report)) => act.report_saved(report, ctx),
                Ok(Err(e)) => act.fail_job(e.into()),
                Err(_) => act.fail_job(JobError::Core(wattswarm_core::Error::Corrupt {
                    path: act.output.location().into(),
                    reason: "the thread saving chunk reports panicked".into(),
                })),
            }
        }));
    }

    /// A chunk's report is kept: the chunk is done and its results join the job's.
    fn report_saved(&mut self, report: Box<wattswarm_core::process::ChunkReport>, ctx: &mut Context<Self>) {
        let accepted = self.coord.complete(report.chunk, report.attempt);
        debug_assert_eq!(accepted, Accept::Accepted);
        self.metrics.record(&report);
        if let Err(e) = self.agg.merge(&report.aggregate) {
            self.fail_job(e.into());
            return;
        }
        self.lines[report.chunk as usize] = report.aggregate.totals.lines;
        self.parquet_bytes += report.parquet_bytes;
        self.days.add(household_day_partial_name(report.chunk));
        if self.coord.is_finished() && self.phase == Phase::Running {
            self.finish(ctx);
        } else {
            self.merge_ahead(ctx);
        }
    }

    /// A failed attempt of the lease holder: the chunk goes back, or fails the job.
    fn attempt_failed(&mut self, chunk: u32, attempt: u32, error: String) {
        self.metrics.chunk_failures.inc();
        match self.coord.fail(chunk, attempt, error) {
            Ok(Accept::Accepted) => self.metrics.chunks_retried.inc(),
            Ok(Accept::Stale) => {}
            Err(ex) => self.fail_job(JobError::ChunkFailed {
                chunk,
                path: ex.spec.path.display().to_string(),
                start: ex.spec.start,
                end: ex.spec.end,
                attempts: ex.attempts,
                error: ex.error,
            }),
        }
    }
}

impl Handler<Report> for MasterActor {
    type Result = Result<(), ReportRefused>;

    fn handle(&mut self, msg: Report, ctx: &mut Context<Self>) -> Self::Result {
        let w = self.seen(&msg.worker);
        w.bytes = 0;
        w.chunk_started = None;
        let taken = self.take_report(&msg.worker, msg.outcome, ctx);
        if let Err(e) = &taken {
            tracing::warn!(worker = %msg.worker, "report refused: {e}");
            self.metrics.reports_refused.inc();
        }
        taken
    }
}

impl MasterActor {
    fn take_report(&mut self, worker: &str, outcome: ChunkOutcome, ctx: &mut Context<Self>) -> Result<(), ReportRefused> {
        match outcome {
            ChunkOutcome::Done(report) => {
                if !self.held_by(worker, report.chunk, report.attempt)? {
                    tracing::info!(chunk = report.chunk, attempt = report.attempt, "late report of an old attempt ignored");
                    self.metrics.stale_reports.inc();
                } else if let Err(b) = self.check_done(&report) {
                    self.attempt_failed(report.chunk, report.attempt, format!("its report was refused: {b}"));
                    return Err(b.into());
                } else {
                    self.accept_done(worker, report, ctx);
                }
            }
            ChunkOutcome::Failed { chunk, attempt, error } => {
                // A late failure is stale to the coordinator too: nothing changes.
                self.held_by(worker, chunk, attempt)?;
                tracing::warn!(chunk, attempt, worker, "chunk failed: {error}");
                self.attempt_failed(chunk, attempt, error);
            }
        }
        Ok(())
    }
}

/// A worker leaves: its leases go back to the queue at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub worker: String,
}

impl Handler<Leave> for MasterActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        let back = self.coord.release_worker(&msg.worker);
        self.metrics.chunks_retried.inc_by(back.len() as u64);
        self.workers.remove(&msg.worker);
        tracing::info!(worker = %msg.worker, handed_back = back.len(), "worker left");
    }
}

/// One worker, as the master sees it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WorkerStatus {
    pub id: String,
    pub chunk: Option<u32>,
    pub chunk_bytes_done: u64,
    pub mb_per_second: f64,
    pub chunks_done: u64,
    pub bytes_done: u64,
    pub seconds_since_seen: f64,
    pub metrics_url: Option<String>,
}

/// The job as the master sees it (`GET /v1/job`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobStatus {
    pub job_id: String,
    pub master_url: Option<String>,
    pub phase: Phase,
    pub chunks: ChunkCounts,
    pub input_bytes: u64,
    /// Bytes of done chunks plus the progress of running ones.
    pub bytes_done: u64,
    pub rows: u64,
    pub rejected: u64,
    pub elapsed_seconds: f64,
    pub mb_per_second: f64,
    pub eta_seconds: Option<f64>,
    pub leases_expired: u64,
    pub workers_alive: usize,
    pub workers: Vec<WorkerStatus>,
    /// What Docker says of the worker containers; none when not asked (`wattswarm run`).
    #[serde(default)]
    pub docker: Option<DockerStatus>,
}

/// The latest view of Docker, from [`crate::docker::watch`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct DockerUpdate(pub DockerStatus);

impl Handler<DockerUpdate> for MasterActor {
    type Result = ();

    fn handle(&mut self, m: DockerUpdate, _: &mut Context<Self>) {
        self.docker = Some(m.0);
    }
}

#[derive(Message)]
#[rtype(result = "JobStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for MasterActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}

/// Updates the gauges, then answers with the metrics text.
#[derive(Message)]
#[rtype(result = "String")]
pub struct RenderMetrics;

impl Handler<RenderMetrics> for MasterActor {
    type Result = String;

    fn handle(&mut self, _: RenderMetrics, _: &mut Context<Self>) -> String {
        self.refresh_gauges();
        self.metrics.render()
    }
}

/// Whether every worker has heard that the job is over (or is gone).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct WorkersReleased;

impl Handler<WorkersReleased> for MasterActor {
    type Result = bool;

    fn handle(&mut self, _: WorkersReleased, _: &mut Context<Self>) -> bool {
        self.workers.values().all(|w| w.told_finished || w.last_seen.elapsed() > self.lease_timeout)
    }
}

/// The job id, to check workers' requests against.
#[derive(Message)]
#[rtype(result = "String")]
pub struct GetJobId;

impl Handler<GetJobId> for MasterActor {
    type Result = String;

    fn handle(&mut self, _: GetJobId, _: &mut Context<Self>) -> String {
        self.job_id.clone()
    }
}
