//! The worker actor: lease → process on a blocking thread → report, until the job ends.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use wattswarm_core::process::{process_chunk, JobSpec};
use wattswarm_core::protocol::{Lease, LeaseReply};

use crate::source::{ChunkOutcome, LeaseSource};

/// How far a worker is, shared with whoever shows progress.
#[derive(Debug, Default)]
pub struct WorkerProgress {
    /// The chunk being processed, or `u32::MAX` when idle.
    pub chunk: AtomicU64,
    /// Input bytes done in that chunk.
    pub bytes: AtomicU64,
    /// Chunks this worker completed.
    pub chunks_done: AtomicU64,
}

/// A worker. It owns no data between chunks: everything a chunk produces is committed to
/// the output and reported before the next lease, so a worker can stop at any time.
pub struct WorkerActor<S: LeaseSource> {
    pub id: String,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    /// How long to wait when the master has nothing to lease yet.
    idle_poll: Duration,
    heartbeat: Duration,
}

impl<S: LeaseSource> WorkerActor<S> {
    pub fn new(id: impl Into<String>, source: S, job: Arc<JobSpec>) -> Self {
        WorkerActor {
            id: id.into(),
            source,
            job,
            progress: Arc::new(WorkerProgress {
                chunk: AtomicU64::new(u32::MAX as u64),
                ..Default::default()
            }),
            idle_poll: Duration::from_millis(100),
            heartbeat: Duration::from_secs(1),
        }
    }

    pub fn progress(&self) -> Arc<WorkerProgress> {
        self.progress.clone()
    }
}

impl<S: LeaseSource> Actor for WorkerActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        let (id, source, job, progress) = (self.id.clone(), self.source.clone(), self.job.clone(), self.progress.clone());
        ctx.spawn(work_loop(id, source, job, progress, self.idle_poll).into_actor(self).map(|_, _, ctx| ctx.stop()));
        // Heartbeats go out from the actor's own loop while a chunk runs elsewhere.
        ctx.run_interval(self.heartbeat, |act, ctx| {
            let chunk = act.progress.chunk.load(Ordering::Relaxed);
            if chunk != u32::MAX as u64 {
                let (source, id, bytes) = (act.source.clone(), act.id.clone(), act.progress.bytes.load(Ordering::Relaxed));
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

async fn work_loop<S: LeaseSource>(
    id: String,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    idle: Duration,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match source.lease(&id).await {
            Ok(LeaseReply::Work(lease)) => {
                backoff = Duration::from_millis(100);
                let outcome = run_lease(&job, lease, &progress).await;
                // A report that cannot be delivered is retried: the chunk is done and
                // committed, and losing the report would only cost a re-run.
                let mut delay = Duration::from_millis(100);
                while let Err(e) = source.report(&id, outcome.clone()).await {
                    tracing::warn!(worker = %id, "could not report, retrying in {delay:?}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
            Ok(LeaseReply::Wait) => tokio::time::sleep(idle).await,
            Ok(LeaseReply::Finished) => return,
            Err(e) => {
                tracing::warn!(worker = %id, "no lease, retrying in {backoff:?}: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn run_lease(job: &Arc<JobSpec>, lease: Lease, progress: &Arc<WorkerProgress>) -> ChunkOutcome {
    let (chunk, attempt) = (lease.chunk.id, lease.attempt);
    progress.bytes.store(0, Ordering::Relaxed);
    progress.chunk.store(chunk as u64, Ordering::Relaxed);
    let (job2, p) = (job.clone(), progress.clone());
    let result = tokio::task::spawn_blocking(move || {
        process_chunk(&job2, &lease.chunk, lease.attempt, &mut |b| {
            p.bytes.fetch_add(b, Ordering::Relaxed);
        })
    })
    .await;
    progress.chunk.store(u32::MAX as u64, Ordering::Relaxed);
    match result {
        Ok(Ok(report)) => {
            progress.chunks_done.fetch_add(1, Ordering::Relaxed);
            ChunkOutcome::Done(report)
        }
        Ok(Err(e)) => ChunkOutcome::Failed {
            chunk,
            attempt,
            error: e.to_string(),
        },
        Err(join) => ChunkOutcome::Failed {
            chunk,
            attempt,
            error: format!("the chunk's thread panicked: {join}"),
        },
    }
}
