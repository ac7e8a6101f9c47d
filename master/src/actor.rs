//! The master actor: owns the chunk table, merges what workers report, finishes the job.
//!
//! ```text
//!  worker ──RequestLease──▶ ┌────────────┐
//!  worker ──Heartbeat─────▶ │   master   │── all done ──▶ write_results (blocking thread)
//!  worker ──Report────────▶ │ coordinator│                  └─▶ results/, _SUCCESS
//!  people ──GetStatus─────▶ │ + JobAggr. │
//!                           └────────────┘
//! ```
//! Every message is small (a partial aggregate is bounded by the number of groups, not
//! rows), and the mailbox is bounded, so a burst of workers slows down rather than
//! filling memory.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use tokio::sync::oneshot;
use wattswarm_core::aggregate::JobAggregate;
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::process::Settings;
use wattswarm_core::protocol::LeaseReply;
use wattswarm_core::storage::{report_name, Output};
use wattswarm_worker::ChunkOutcome;

use crate::coordinator::{Accept, ChunkCounts, Coordinator, CoordinatorConfig};
use crate::results::{headline, write_results, Headline, JobSummary, RunFacts};
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
    chunk: Option<u32>,
    bytes: u64,
    chunks_done: u64,
}

pub struct MasterActor {
    coord: Coordinator,
    agg: JobAggregate,
    /// Lines per chunk, from accepted reports (turns rejects' indices into line numbers).
    lines: Vec<u64>,
    parquet_bytes: u64,
    output: Output,
    settings: Settings,
    files: usize,
    input_bytes: u64,
    started: Instant,
    workers: HashMap<String, WorkerSeen>,
    done: Option<Done>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Running,
    Finishing,
    Done,
    Failed,
}

impl MasterActor {
    pub fn new(
        chunks: Vec<ChunkSpec>,
        files: usize,
        output: Output,
        settings: Settings,
        config: CoordinatorConfig,
        done: Done,
    ) -> MasterActor {
        let input_bytes = chunks.iter().map(|c| c.len()).sum();
        let n = chunks.len();
        MasterActor {
            coord: Coordinator::new(chunks, &[], config),
            agg: JobAggregate::default(),
            lines: vec![0; n],
            parquet_bytes: 0,
            output,
            settings,
            files,
            input_bytes,
            started: Instant::now(),
            workers: HashMap::new(),
            done: Some(done),
            phase: Phase::Running,
        }
    }

    fn seen(&mut self, worker: &str) -> &mut WorkerSeen {
        let w = self.workers.entry(worker.to_owned()).or_insert(WorkerSeen {
            last_seen: Instant::now(),
            chunk: None,
            bytes: 0,
            chunks_done: 0,
        });
        w.last_seen = Instant::now();
        w
    }

    fn fail_job(&mut self, err: JobError) {
        tracing::error!("job failed: {err}");
        self.phase = Phase::Failed;
        if let Some(tx) = self.done.take() {
            let _ = tx.send(Err(err));
        }
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Finishing;
        let out = self.output.clone();
        let chunks: Vec<ChunkSpec> = self.coord.chunks().cloned().collect();
        let lines = self.lines.clone();
        let agg = self.agg.clone();
        let settings = self.settings.clone();
        let facts = RunFacts {
            seconds: 0.0,
            workers: self.workers.len(),
            files: self.files,
            parquet_bytes: self.parquet_bytes,
        };
        let started = self.started;
        let fut = tokio::task::spawn_blocking(move || {
            let facts = RunFacts {
                seconds: started.elapsed().as_secs_f64(),
                ..facts
            };
            let summary = write_results(&out, &chunks, &lines, &agg, &settings, facts)?;
            Ok::<_, JobError>(JobOutcome {
                summary,
                headline: headline(&agg),
            })
        });
        ctx.spawn(fut.into_actor(self).map(|res, act, _| {
            let res = res.unwrap_or_else(|e| Err(JobError::Core(wattswarm_core::Error::Corrupt {
                path: act.output.root().to_owned(),
                reason: format!("writing the results panicked: {e}"),
            })));
            act.phase = if res.is_ok() { Phase::Done } else { Phase::Failed };
            if let Some(tx) = act.done.take() {
                let _ = tx.send(res);
            }
        }));
    }
}

impl Actor for MasterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
        ctx.run_interval(Duration::from_secs(1), |act, _| {
            for chunk in act.coord.expire(Instant::now()) {
                tracing::warn!(chunk, "lease expired; the chunk goes back to the queue");
            }
        });
        if self.coord.is_empty() {
            self.fail_job(JobError::Core(wattswarm_core::Error::NoInput("(every input file is empty)".into())));
        }
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
            return MessageResult(reply);
        }
        let reply = self.coord.lease(&msg.worker, Instant::now());
        let w = self.seen(&msg.worker);
        w.chunk = match &reply {
            LeaseReply::Work(l) => Some(l.chunk.id),
            _ => None,
        };
        w.bytes = 0;
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
            w.chunk = Some(msg.chunk);
            w.bytes = msg.bytes;
        }
        held
    }
}

/// A worker reports a chunk.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Report {
    pub worker: String,
    pub outcome: ChunkOutcome,
}

impl Handler<Report> for MasterActor {
    type Result = ();

    fn handle(&mut self, msg: Report, ctx: &mut Context<Self>) {
        let w = self.seen(&msg.worker);
        w.chunk = None;
        w.bytes = 0;
        match msg.outcome {
            ChunkOutcome::Done(report) => {
                if self.coord.complete(report.chunk, report.attempt) == Accept::Stale {
                    tracing::info!(chunk = report.chunk, attempt = report.attempt, "late report of an old attempt ignored");
                    return;
                }
                self.seen(&msg.worker).chunks_done += 1;
                // Kept with the output, so a restarted master need not redo the chunk.
                let json = serde_json::to_vec(&report).expect("reports serialise");
                if let Err(e) = self.output.write_atomic(&report_name(report.chunk), &json) {
                    self.fail_job(e.into());
                    return;
                }
                self.agg.merge(&report.aggregate);
                self.lines[report.chunk as usize] = report.aggregate.totals.lines;
                self.parquet_bytes += report.parquet_bytes;
                if self.coord.is_finished() && self.phase == Phase::Running {
                    self.finish(ctx);
                }
            }
            ChunkOutcome::Failed { chunk, attempt, error } => {
                tracing::warn!(chunk, attempt, worker = %msg.worker, "chunk failed: {error}");
                if let Err(ex) = self.coord.fail(chunk, attempt, error) {
                    self.fail_job(JobError::ChunkFailed {
                        chunk,
                        path: ex.spec.path.display().to_string(),
                        start: ex.spec.start,
                        end: ex.spec.end,
                        attempts: ex.attempts,
                        error: ex.error,
                    });
                }
            }
        }
    }
}

/// One worker, as the master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    pub id: String,
    pub chunk: Option<u32>,
    pub chunk_bytes_done: u64,
    pub chunks_done: u64,
    pub seconds_since_seen: f64,
}

/// The job as the master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub phase: Phase,
    pub chunks: ChunkCounts,
    pub input_bytes: u64,
    /// Bytes of done chunks plus the progress of running ones.
    pub bytes_done: u64,
    pub rows: u64,
    pub rejected: u64,
    pub elapsed_seconds: f64,
    pub leases_expired: u64,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Message)]
#[rtype(result = "JobStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for MasterActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let done: u64 = self.coord.chunks().filter(|c| self.coord.is_done(c.id)).map(|c| c.len()).sum();
        let running = self.coord.running();
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerStatus {
                id: id.clone(),
                chunk: running.get(id).copied(),
                chunk_bytes_done: if running.contains_key(id) { w.bytes } else { 0 },
                chunks_done: w.chunks_done,
                seconds_since_seen: w.last_seen.elapsed().as_secs_f64(),
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        let in_flight: u64 = workers.iter().map(|w| w.chunk_bytes_done).sum();
        MessageResult(JobStatus {
            phase: self.phase,
            chunks: self.coord.counts(),
            input_bytes: self.input_bytes,
            bytes_done: (done + in_flight).min(self.input_bytes),
            rows: self.agg.totals.rows,
            rejected: self.agg.totals.rejected,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            leases_expired: self.coord.expired,
            workers,
        })
    }
}
