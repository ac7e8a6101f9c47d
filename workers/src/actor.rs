//! The worker actor: lease → process on a blocking thread → report, until the job ends
//! or the worker is asked to stop.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use wattswarm_core::process::{process_chunk, JobSpec};
use wattswarm_core::protocol::{Lease, LeaseReply};

use crate::metrics::WorkerMetrics;
use crate::source::{ChunkOutcome, LeaseSource};

const IDLE: u64 = u32::MAX as u64;

/// How long a worker keeps trying to deliver one report.
pub const REPORT_RETRY: Duration = Duration::from_secs(60);

/// The same, once the worker has been asked to stop: within Docker's 10 s grace period, so
/// a worker whose master is gone still exits by itself after its chunk.
pub const STOPPING_REPORT_RETRY: Duration = Duration::from_secs(3);

/// How far a worker is, shared with its heartbeat and whoever shows progress.
#[derive(Debug)]
pub struct WorkerProgress {
    /// The chunk being processed, or `u32::MAX` when idle.
    pub chunk: AtomicU64,
    /// Input bytes done in that chunk.
    pub bytes: AtomicU64,
    /// Chunks this worker completed.
    pub chunks_done: AtomicU64,
    /// Set to stop after the current chunk (SIGTERM).
    pub stopping: AtomicBool,
}

impl Default for WorkerProgress {
    fn default() -> Self {
        WorkerProgress {
            chunk: AtomicU64::new(IDLE),
            bytes: AtomicU64::new(0),
            chunks_done: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }
}

/// A worker. It owns no data between chunks: everything a chunk produces is committed to
/// the output and reported before the next lease, so a worker can stop at any time.
pub struct WorkerActor<S: LeaseSource> {
    pub id: String,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    metrics: Option<Arc<WorkerMetrics>>,
    /// How long to wait when the master has nothing to lease yet.
    idle_poll: Duration,
    heartbeat: Duration,
    stopped: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<S: LeaseSource> WorkerActor<S> {
    pub fn new(id: impl Into<String>, source: S, job: Arc<JobSpec>) -> Self {
        WorkerActor {
            id: id.into(),
            source,
            job,
            progress: Arc::new(WorkerProgress::default()),
            metrics: None,
            idle_poll: Duration::from_millis(100),
            heartbeat: Duration::from_secs(1),
            stopped: None,
        }
    }

    pub fn with_metrics(mut self, m: Arc<WorkerMetrics>) -> Self {
        self.metrics = Some(m);
        self
    }

    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Shares a progress record made by the caller (to stop the worker from outside).
    pub fn with_progress(mut self, p: Arc<WorkerProgress>) -> Self {
        self.progress = p;
        self
    }

    /// Sends on `tx` when the actor stops.
    pub fn on_stop(mut self, tx: tokio::sync::oneshot::Sender<()>) -> Self {
        self.stopped = Some(tx);
        self
    }
}

impl<S: LeaseSource> Actor for WorkerActor<S> {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(tx) = self.stopped.take() {
            let _ = tx.send(());
        }
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        let lp = Loop {
            id: self.id.clone(),
            source: self.source.clone(),
            job: self.job.clone(),
            progress: self.progress.clone(),
            metrics: self.metrics.clone(),
            idle: self.idle_poll,
        };
        ctx.spawn(lp.run().into_actor(self).map(|_, _, ctx| ctx.stop()));
        // Heartbeats go out from the actor's own loop while a chunk runs elsewhere.
        ctx.run_interval(self.heartbeat, |act, ctx| {
            let chunk = act.progress.chunk.load(Ordering::Relaxed);
            let bytes = act.progress.bytes.load(Ordering::Relaxed);
            if let Some(m) = &act.metrics {
                m.chunk_progress_bytes.set(bytes as i64);
            }
            if chunk != IDLE {
                let (source, id) = (act.source.clone(), act.id.clone());
                ctx.spawn(
                    async move {
                        if let Err(e) = source.heartbeat(&id, chunk as u32, bytes).await {
                            tracing::warn!(worker = %id, "heartbeat failed: {e}");
                        }
                    }
                    .into_actor(act),
                );
            }
        });
    }
}

/// The worker's loop, owned by its actor.
struct Loop<S> {
    id: String,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    metrics: Option<Arc<WorkerMetrics>>,
    idle: Duration,
}

impl<S: LeaseSource> Loop<S> {
    async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        while !self.progress.stopping.load(Ordering::Relaxed) {
            match self.source.lease(&self.id).await {
                Ok(LeaseReply::Work(lease)) => {
                    backoff = Duration::from_millis(100);
                    let outcome = self.run_lease(lease).await;
                    self.deliver(outcome).await;
                }
                Ok(LeaseReply::Wait) => tokio::time::sleep(self.idle).await,
                Ok(LeaseReply::Finished) => return,
                Err(e) => {
                    tracing::warn!(worker = %self.id, "no lease, retrying in {backoff:?}: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        if let Err(e) = self.source.leave(&self.id).await {
            tracing::warn!(worker = %self.id, "could not say goodbye: {e}");
        }
    }

    /// Sends a chunk's report, retrying a master that does not answer for at most
    /// [`REPORT_RETRY`] ([`STOPPING_REPORT_RETRY`] once asked to stop). Past that the report is dropped: the chunk's files are committed,
    /// its lease expires, and the master runs it again (the commit rule keeps one copy), so
    /// losing a report costs time, never data, and a worker whose master is gone stops.
    async fn deliver(&self, outcome: ChunkOutcome) {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = self.source.report(&self.id, outcome.clone()).await {
            let limit = if self.progress.stopping.load(Ordering::Relaxed) { STOPPING_REPORT_RETRY } else { REPORT_RETRY };
            if started.elapsed() + delay > limit {
                tracing::warn!(worker = %self.id, "could not report for {limit:?}, giving the report up (the master runs the chunk again): {e}");
                return;
            }
            tracing::warn!(worker = %self.id, "could not report, retrying in {delay:?}: {e}");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn run_lease(&self, lease: Lease) -> ChunkOutcome {
        let (chunk, attempt) = (lease.chunk.id, lease.attempt);
        let p = &self.progress;
        p.bytes.store(0, Ordering::Relaxed);
        p.chunk.store(chunk as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.busy.set(1);
        }
        let (job, p2, id) = (self.job.clone(), p.clone(), self.id.clone());
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            process_chunk(&job, &lease.chunk, lease.attempt, &id, &mut |b| {
                p2.bytes.fetch_add(b, Ordering::Relaxed);
            })
        })
        .await;
        p.chunk.store(IDLE, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.busy.set(0);
        }
        let failed = |error: String| {
            if let Some(m) = &self.metrics {
                m.chunks.with_label_values(&["failed"]).inc();
            }
            tracing::warn!(worker = %self.id, chunk, attempt, "chunk failed: {error}");
            ChunkOutcome::Failed { chunk, attempt, error }
        };
        match result {
            Ok(Ok(report)) => {
                p.chunks_done.fetch_add(1, Ordering::Relaxed);
                let st = &report.stages;
                tracing::debug!(
                    worker = %self.id, chunk, attempt,
                    "chunk done in {:.3} s: read {:.3}, parse {:.3}, encode {:.3}, write {:.3} (of it commit {:.3})",
                    report.seconds, st.read, st.parse, st.encode, st.write, report.commit_seconds
                );
                if let Some(m) = &self.metrics {
                    m.record(&report, started.elapsed().as_secs_f64());
                }
                ChunkOutcome::Done(Box::new(report))
            }
            Ok(Err(e)) => failed(e.to_string()),
            Err(join) => failed(format!("the chunk's thread panicked: {join}")),
        }
    }
}
