//! The worker actor: lease → produce on a blocking thread → commit → report, until the
//! job ends or the worker is asked to stop. A chunk's commit (closing and renaming its
//! files: on HDFS mostly waits for the DataNode and the NameNode) runs while the next
//! chunk is produced; its report still waits for the commit.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use wattswarm_core::process::{produce_chunk, ChunkReport, JobSpec, Produced};
use wattswarm_core::protocol::{ChunkOutcome, Heartbeat, Lease, LeaseReply, LeaseRequest, Leave, Report, WorkerRef};
use wattswarm_core::retry::{Policy, Retriable};

use crate::metrics::WorkerMetrics;
use crate::source::{LeaseSource, LinkError};

const IDLE: u64 = u32::MAX as u64;

/// How long a worker keeps trying to deliver one report.
pub const REPORT_RETRY: Duration = Duration::from_secs(60);

/// The same, once the worker has been asked to stop: within Docker's 10 s grace period, so
/// a worker whose master is gone still exits by itself after its chunk.
pub const STOPPING_REPORT_RETRY: Duration = Duration::from_secs(3);

/// How often a working worker tells its master how far it is.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Why a worker's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The master said the job is over.
    Finished,
    /// The master runs another job than the one this worker joined.
    JobChanged,
    /// The worker was asked to stop.
    Stopped,
}

/// How far a worker is, shared with its heartbeat and whoever shows progress.
#[derive(Debug)]
pub struct WorkerProgress {
    /// The chunk being processed, or `u32::MAX` when idle.
    pub chunk: AtomicU64,
    /// The chunk whose files are being committed, or `u32::MAX`.
    pub committing: AtomicU64,
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
            committing: AtomicU64::new(IDLE),
            bytes: AtomicU64::new(0),
            chunks_done: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }
}

/// A worker. It owns no data between chunks but the one it is committing: everything a
/// chunk produces is committed to the output and reported by the time the next one is
/// produced, so a worker that stops loses at most the chunks it holds, which the master
/// runs again.
pub struct WorkerActor<S: LeaseSource> {
    /// This worker, in the job it joined.
    pub me: WorkerRef,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    metrics: Option<Arc<WorkerMetrics>>,
    /// How long to wait when the master has nothing to lease yet.
    idle_poll: Duration,
    heartbeat: Duration,
    stopped: Option<tokio::sync::oneshot::Sender<Ended>>,
    ended: Ended,
}

impl<S: LeaseSource> WorkerActor<S> {
    pub fn new(me: WorkerRef, source: S, job: Arc<JobSpec>) -> Self {
        WorkerActor {
            me,
            source,
            job,
            progress: Arc::new(WorkerProgress::default()),
            metrics: None,
            idle_poll: Duration::from_millis(100),
            heartbeat: HEARTBEAT,
            stopped: None,
            ended: Ended::Stopped,
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

    /// Sends on `tx`, when the actor stops, why it stopped.
    pub fn on_stop(mut self, tx: tokio::sync::oneshot::Sender<Ended>) -> Self {
        self.stopped = Some(tx);
        self
    }
}

impl<S: LeaseSource> Actor for WorkerActor<S> {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(tx) = self.stopped.take() {
            let _ = tx.send(self.ended);
        }
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        let lp = Loop {
            me: self.me.clone(),
            source: self.source.clone(),
            job: self.job.clone(),
            progress: self.progress.clone(),
            metrics: self.metrics.clone(),
            idle: self.idle_poll,
        };
        ctx.spawn(lp.run().into_actor(self).map(|ended, act, ctx| {
            act.ended = ended;
            ctx.stop()
        }));
        // Heartbeats go out from the actor's own loop while a chunk runs elsewhere.
        ctx.run_interval(self.heartbeat, |act, ctx| {
            let chunk = act.progress.chunk.load(Ordering::Relaxed);
            let bytes = act.progress.bytes.load(Ordering::Relaxed);
            let committing = act.progress.committing.load(Ordering::Relaxed);
            if let Some(m) = &act.metrics {
                m.chunk_progress_bytes.set(bytes as i64);
            }
            // Both leases it holds are renewed: the chunk it produces and the one it commits
            // (alone, between two chunks, as the heartbeat's chunk).
            let (chunk, bytes, committing) = if chunk != IDLE {
                (chunk, bytes, (committing != IDLE).then_some(committing as u32))
            } else {
                (committing, 0, None)
            };
            if chunk != IDLE {
                let source = act.source.clone();
                let (worker, chunk) = (act.me.worker.clone(), chunk as u32);
                let beat = Heartbeat { from: act.me.clone(), chunk, bytes_done: bytes, committing };
                ctx.spawn(
                    async move {
                        match source.heartbeat(beat).await {
                            Ok(r) if !r.held => {
                                tracing::warn!(worker, chunk, "the master gave this chunk to another worker; its report will be ignored")
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(worker, "heartbeat failed: {e}"),
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
    me: WorkerRef,
    source: S,
    job: Arc<JobSpec>,
    progress: Arc<WorkerProgress>,
    metrics: Option<Arc<WorkerMetrics>>,
    idle: Duration,
}

/// A chunk whose files are being committed on a thread of its own.
struct Committing {
    chunk: u32,
    attempt: u32,
    done: tokio::sync::oneshot::Receiver<wattswarm_core::Result<ChunkReport>>,
}

impl<S: LeaseSource> Loop<S> {
    async fn run(self) -> Ended {
        let id = &self.me.worker;
        // A master that does not answer is waited for as long as it takes: it may be
        // restarting, and resumes the job where it was.
        let mut backoff = Policy::master(None).start();
        let mut committing: Option<Committing> = None;
        let ended = loop {
            if self.progress.stopping.load(Ordering::Relaxed) {
                break Ended::Stopped;
            }
            let asked = LeaseRequest { from: self.me.clone(), committing: committing.as_ref().map(|c| c.chunk) };
            let reply = self.source.lease(asked).await;
            // With no new chunk to overlap with, the one being committed is finished and
            // reported first; then the master is asked again at once.
            if !matches!(reply, Ok(LeaseReply::Work(_))) {
                if let Some(c) = committing.take() {
                    self.complete(c).await;
                    continue;
                }
            }
            match reply {
                Ok(LeaseReply::Work(lease)) => {
                    backoff = Policy::master(None).start();
                    // The previous chunk is committed and reported while this one is produced.
                    let previous = async {
                        if let Some(c) = committing.take() {
                            self.complete(c).await;
                        }
                    };
                    let (produced, ()) = tokio::join!(self.produce(lease), previous);
                    match produced {
                        Ok(p) => committing = Some(self.commit(p)),
                        Err(failed) => self.deliver(failed).await,
                    }
                }
                Ok(LeaseReply::Wait) => tokio::time::sleep(self.idle).await,
                Ok(LeaseReply::Finished) => return Ended::Finished,
                Err(e) => match backoff.after(&e) {
                    Some(d) => {
                        tracing::warn!(worker = %id, "no lease, retrying in {d:?}: {e}");
                        tokio::time::sleep(d).await;
                    }
                    None if e == LinkError::JobChanged => return Ended::JobChanged,
                    None => {
                        tracing::warn!(worker = %id, "no lease: {e}");
                        return Ended::Stopped;
                    }
                },
            }
        };
        if let Some(c) = committing.take() {
            self.complete(c).await;
        }
        if let Err(e) = self.source.leave(Leave { from: self.me.clone() }).await {
            tracing::warn!(worker = %id, "could not say goodbye: {e}");
        }
        ended
    }

    /// Sends a chunk's report, retrying a master that does not answer for at most
    /// [`REPORT_RETRY`] ([`STOPPING_REPORT_RETRY`] once asked to stop). Past that the report is dropped: the chunk's files are committed,
    /// its lease expires, and the master runs it again (the commit rule keeps one copy), so
    /// losing a report costs time, never data, and a worker whose master is gone stops.
    async fn deliver(&self, outcome: ChunkOutcome) {
        let id = &self.me.worker;
        let report = Report { from: self.me.clone(), outcome };
        let mut backoff = Policy::master(Some(REPORT_RETRY)).start();
        while let Err(e) = self.source.report(report.clone()).await {
            if !e.retriable() {
                // Refused (the master logged why and runs the chunk again), or the job
                // changed: sending the same report again cannot help.
                tracing::warn!(worker = %id, "the master did not take this worker's report: {e}");
                return;
            }
            let limit = if self.progress.stopping.load(Ordering::Relaxed) { STOPPING_REPORT_RETRY } else { REPORT_RETRY };
            let Some(delay) = backoff.pause_within(Some(limit)) else {
                tracing::warn!(worker = %id, "could not report for {limit:?}, giving the report up (the master runs the chunk again): {e}");
                return;
            };
            tracing::warn!(worker = %id, "could not report, retrying in {delay:?}: {e}");
            tokio::time::sleep(delay).await;
        }
    }

    /// Reads, parses and encodes a leased chunk on a blocking thread.
    async fn produce(&self, lease: Lease) -> Result<Produced, ChunkOutcome> {
        let (chunk, attempt) = (lease.chunk.id, lease.attempt);
        let p = &self.progress;
        p.bytes.store(0, Ordering::Relaxed);
        p.chunk.store(chunk as u64, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.busy.set(1);
        }
        let (job, p2, id) = (self.job.clone(), p.clone(), self.me.worker.clone());
        let result = tokio::task::spawn_blocking(move || {
            produce_chunk(&job, &lease.chunk, lease.attempt, &id, &mut |b| {
                p2.bytes.fetch_add(b, Ordering::Relaxed);
            })
        })
        .await;
        p.chunk.store(IDLE, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.busy.set(0);
        }
        match result {
            Ok(Ok(produced)) => Ok(produced),
            Ok(Err(e)) => Err(self.failed(chunk, attempt, e.to_string())),
            Err(join) => Err(self.failed(chunk, attempt, format!("the chunk's thread panicked: {join}"))),
        }
    }

    /// Starts committing a produced chunk's files. A commit waits (for the store) and
    /// allocates little, so it gets a short-lived thread of its own rather than one of the
    /// blocking pool's, which would grow, and each pool thread that went on to produce a
    /// chunk would keep a malloc arena as large as a chunk's buffers. (With the whole end
    /// of a chunk on the pool, e5504be, the 11 GB run's peak went from 162-169 MB to
    /// 242-249 MB; this form was measured at 165-186 MB, BENCHMARKS.md.)
    fn commit(&self, produced: Produced) -> Committing {
        let (chunk, attempt) = (produced.chunk(), produced.attempt());
        self.progress.committing.store(chunk as u64, Ordering::Relaxed);
        let (tx, done) = tokio::sync::oneshot::channel();
        // Should the thread not start, `done` reports the chunk failed and it runs again.
        let _ = std::thread::Builder::new().name(format!("commit-{chunk}")).spawn(move || {
            let _ = tx.send(produced.commit());
        });
        Committing { chunk, attempt, done }
    }

    /// Waits for a chunk's commit, then reports the chunk.
    async fn complete(&self, c: Committing) {
        let result = c.done.await;
        self.progress.committing.store(IDLE, Ordering::Relaxed);
        let (chunk, attempt) = (c.chunk, c.attempt);
        let outcome = match result {
            Ok(Ok(report)) => {
                self.progress.chunks_done.fetch_add(1, Ordering::Relaxed);
                let st = &report.stages;
                tracing::debug!(
                    worker = %self.me.worker, chunk, attempt,
                    "chunk done in {:.3} s: read {:.3}, parse {:.3}, encode {:.3}, write {:.3} (of it commit {:.3})",
                    report.seconds, st.read, st.parse, st.encode, st.write, report.commit_seconds
                );
                if let Some(m) = &self.metrics {
                    m.record(&report, report.seconds);
                }
                ChunkOutcome::Done(Box::new(report))
            }
            Ok(Err(e)) => self.failed(chunk, attempt, e.to_string()),
            Err(_) => self.failed(chunk, attempt, "the thread committing the chunk ended without an answer (panicked or did not start)".into()),
        };
        self.deliver(outcome).await;
    }

    fn failed(&self, chunk: u32, attempt: u32, error: String) -> ChunkOutcome {
        if let Some(m) = &self.metrics {
            m.chunks.with_label_values(&["failed"]).inc();
        }
        tracing::warn!(worker = %self.me.worker, chunk, attempt, "chunk failed: {error}");
        ChunkOutcome::Failed { chunk, attempt, error }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use wattswarm_core::protocol::HeartbeatReply;
    use wattswarm_core::storage::Output;

    use super::*;

    /// A master that answers each report with the next scripted result, counting calls.
    #[derive(Clone)]
    struct Scripted(Rc<RefCell<Vec<Result<(), LinkError>>>>, Rc<RefCell<u32>>);

    impl LeaseSource for Scripted {
        async fn lease(&self, _: LeaseRequest) -> Result<LeaseReply, LinkError> {
            Ok(LeaseReply::Finished)
        }
        async fn heartbeat(&self, _: Heartbeat) -> Result<HeartbeatReply, LinkError> {
            Ok(HeartbeatReply { held: true })
        }
        async fn report(&self, _: Report) -> Result<(), LinkError> {
            *self.1.borrow_mut() += 1;
            self.0.borrow_mut().remove(0)
        }
        async fn leave(&self, _: Leave) -> Result<(), LinkError> {
            Ok(())
        }
    }

    /// How many times `deliver` sent one report, given the master's answers in order.
    fn sends(answers: Vec<Result<(), LinkError>>) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let output = Output::local(dir.path());
        let calls = Rc::new(RefCell::new(0));
        let lp = Loop {
            me: WorkerRef { worker: "w1".into(), job_id: "j".into() },
            source: Scripted(Rc::new(RefCell::new(answers)), calls.clone()),
            job: Arc::new(JobSpec { output, households: None, settings: Default::default(), rows: None }),
            progress: Arc::new(WorkerProgress::default()),
            metrics: None,
            idle: Duration::from_millis(1),
        };
        let outcome = ChunkOutcome::Failed { chunk: 0, attempt: 1, error: "x".into() };
        actix_rt::System::new().block_on(lp.deliver(outcome));
        let n = *calls.borrow();
        n
    }

    /// A master with a queue of chunks: what each lease request named as committing,
    /// and which chunks were reported done, in order.
    #[derive(Clone, Default)]
    struct Queue {
        leases: Rc<RefCell<Vec<Lease>>>,
        asked: Rc<RefCell<Vec<Option<u32>>>>,
        done: Rc<RefCell<Vec<u32>>>,
        leased: Rc<RefCell<u32>>,
    }

    impl LeaseSource for Queue {
        async fn lease(&self, r: LeaseRequest) -> Result<LeaseReply, LinkError> {
            self.asked.borrow_mut().push(r.committing);
            if self.leases.borrow().is_empty() {
                // As the master: nothing to lease; finished once every chunk is reported.
                let finished = self.done.borrow().len() as u32 == *self.leased.borrow();
                return Ok(if finished { LeaseReply::Finished } else { LeaseReply::Wait });
            }
            *self.leased.borrow_mut() += 1;
            Ok(LeaseReply::Work(self.leases.borrow_mut().remove(0)))
        }
        async fn heartbeat(&self, _: Heartbeat) -> Result<HeartbeatReply, LinkError> {
            Ok(HeartbeatReply { held: true })
        }
        async fn report(&self, r: Report) -> Result<(), LinkError> {
            match r.outcome {
                ChunkOutcome::Done(report) => self.done.borrow_mut().push(report.chunk),
                ChunkOutcome::Failed { error, .. } => panic!("a chunk failed: {error}"),
            }
            Ok(())
        }
        async fn leave(&self, _: Leave) -> Result<(), LinkError> {
            Ok(())
        }
    }

    #[test]
    fn a_chunk_is_committed_while_the_next_is_produced_and_its_lease_kept_until_reported() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("lcl.csv");
        let mut text = format!("{}\n", wattswarm_core::layout::HEADER_SIX);
        for h in 0..8 {
            for slot in 0..20 {
                text.push_str(&format!("MAC{h:06},Std,2013-01-01 {:02}:{:02}:00.0000000, 0.{slot:03} ,ACORN-A,Affluent\n", slot / 2, 30 * (slot % 2)));
            }
        }
        std::fs::write(&csv, text).unwrap();
        let input = wattswarm_core::input::resolve(csv.to_str().unwrap(), None).unwrap();
        let chunks = wattswarm_core::chunk::plan(&input.files, 2048);
        assert!(chunks.len() >= 3, "several chunks: {}", chunks.len());
        let output = Output::local(dir.path().join("out"));
        output.prepare().unwrap();
        let master = Queue::default();
        *master.leases.borrow_mut() = chunks.iter().map(|c| Lease { chunk: c.clone(), attempt: 1 }).collect();
        let lp = Loop {
            me: WorkerRef { worker: "w1".into(), job_id: "j".into() },
            source: master.clone(),
            job: Arc::new(JobSpec { output: output.clone(), households: None, settings: Default::default(), rows: None }),
            progress: Arc::new(WorkerProgress::default()),
            metrics: None,
            idle: Duration::from_millis(1),
        };
        assert_eq!(actix_rt::System::new().block_on(lp.run()), Ended::Finished);
        let ids: Vec<u32> = chunks.iter().map(|c| c.id).collect();
        // Each request after the first names the chunk still being committed; the last one
        // is committed and reported once nothing is left to lease, then the worker asks again.
        let mut want: Vec<Option<u32>> = vec![None];
        want.extend(ids.iter().map(|&c| Some(c)));
        want.push(None);
        assert_eq!(*master.asked.borrow(), want);
        assert_eq!(*master.done.borrow(), ids, "every chunk reported once, in order");
        for c in &ids {
            assert!(output.exists(&wattswarm_core::storage::part_name(*c)).unwrap(), "part {c} committed");
        }
    }

    #[test]
    fn a_report_is_sent_again_only_while_the_master_does_not_answer() {
        let down = || Err(LinkError::Unreachable { url: "m".into(), reason: "refused".into() });
        assert_eq!(sends(vec![down(), down(), Ok(())]), 3, "retried until taken");
        assert_eq!(sends(vec![Err(LinkError::Refused("bad".into()))]), 1, "a refused report is not sent again");
        assert_eq!(sends(vec![Err(LinkError::JobChanged)]), 1, "nor one for a job that is gone");
    }
}
