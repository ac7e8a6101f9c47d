//! The chunk table: which chunk is pending, leased to whom until when, done or failed.
//!
//! A plain state machine with the clock passed in, so tests drive time explicitly. The
//! master actor owns one; nothing else changes chunk state.
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::protocol::{Lease, LeaseReply};

#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// A lease not renewed (by a heartbeat) for this long goes back to pending.
    pub lease_timeout: Duration,
    /// A chunk that fails this many times fails the job.
    pub max_attempts: u32,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            lease_timeout: Duration::from_secs(30),
            max_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    Running { worker: String, attempt: u32, deadline: Instant },
    /// The attempt's report is accepted and being kept with the output: no worker holds
    /// the chunk any more, and it is not done until the report is saved.
    Saving { attempt: u32 },
    Done,
    Failed,
}

#[derive(Debug, Clone)]
struct Entry {
    spec: ChunkSpec,
    state: State,
    /// Attempts handed out so far (the next attempt number is `attempts + 1`).
    attempts: u32,
    failures: u32,
    last_error: Option<String>,
}

/// Chunks by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkCounts {
    pub pending: u32,
    /// Leased, or done by a worker with its report still being saved.
    pub running: u32,
    pub done: u32,
    pub failed: u32,
}

/// What happened to a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// The chunk is now done with this attempt's results.
    Accepted,
    /// The report is from an attempt that no longer holds the lease; ignored.
    Stale,
}

/// A chunk failed for the last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub spec: ChunkSpec,
    pub attempts: u32,
    pub error: String,
}

pub struct Coordinator {
    entries: Vec<Entry>,
    queue: VecDeque<u32>,
    config: CoordinatorConfig,
    /// Leases that expired, over the job.
    pub expired: u64,
}

impl Coordinator {
    /// A table of `chunks`, of which `done` are already complete (a resumed job).
    pub fn new(chunks: Vec<ChunkSpec>, done: &[u32], config: CoordinatorConfig) -> Coordinator {
        let mut entries: Vec<Entry> = chunks
            .into_iter()
            .map(|spec| Entry {
                spec,
                state: State::Pending,
                attempts: 0,
                failures: 0,
                last_error: None,
            })
            .collect();
        for &d in done {
            if let Some(e) = entries.get_mut(d as usize) {
                e.state = State::Done;
            }
        }
        let queue = entries.iter().filter(|e| e.state == State::Pending).map(|e| e.spec.id).collect();
        Coordinator {
            entries,
            queue,
            config,
            expired: 0,
        }
    }

    pub fn chunks(&self) -> impl Iterator<Item = &ChunkSpec> {
        self.entries.iter().map(|e| &e.spec)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hands the next pending chunk to `worker`. A worker works on one lease at a time: one
    /// that asks again has given up its chunk (a restarted process with the same id), so
    /// that chunk goes back to the queue first; only the chunk it says it is still
    /// `committing` (its files being closed while it parses the next) stays its own.
    pub fn lease(&mut self, worker: &str, committing: Option<u32>, now: Instant) -> LeaseReply {
        self.expire(now);
        self.release_worker_but(worker, committing);
        match self.queue.pop_front() {
            Some(id) => {
                let e = &mut self.entries[id as usize];
                e.attempts += 1;
                e.state = State::Running {
                    worker: worker.to_owned(),
                    attempt: e.attempts,
                    deadline: now + self.config.lease_timeout,
                };
                LeaseReply::Work(Lease {
                    chunk: e.spec.clone(),
                    attempt: e.attempts,
                })
            }
            None if self.is_finished() => LeaseReply::Finished,
            None => LeaseReply::Wait,
        }
    }

    /// Renews a lease; false if `worker` no longer holds it.
    pub fn heartbeat(&mut self, worker: &str, chunk: u32, now: Instant) -> bool {
        let timeout = self.config.lease_timeout;
        match self.entries.get_mut(chunk as usize).map(|e| &mut e.state) {
            Some(State::Running { worker: w, deadline, .. }) if w == worker => {
                *deadline = now + timeout;
                true
            }
            _ => false,
        }
    }

    /// Who holds the lease of `chunk`, and for which attempt.
    pub fn holder(&self, chunk: u32) -> Option<(&str, u32)> {
        match &self.entries.get(chunk as usize)?.state {
            State::Running { worker, attempt, .. } => Some((worker, *attempt)),
            _ => None,
        }
    }

    /// The chunk's spec, if there is such a chunk.
    pub fn spec(&self, chunk: u32) -> Option<&ChunkSpec> {
        self.entries.get(chunk as usize).map(|e| &e.spec)
    }

    /// Takes a completed attempt from its worker while its report is saved: the worker
    /// may lease again at once, and neither its next lease nor an expiry puts the chunk
    /// back. [`Self::complete`] then marks it done.
    pub fn saving(&mut self, chunk: u32, attempt: u32) -> Accept {
        match self.entries.get_mut(chunk as usize) {
            Some(e) if matches!(&e.state, State::Running { attempt: a, .. } if *a == attempt) => {
                e.state = State::Saving { attempt };
                Accept::Accepted
            }
            _ => Accept::Stale,
        }
    }

    /// Records a completed attempt (running, or being saved).
    pub fn complete(&mut self, chunk: u32, attempt: u32) -> Accept {
        match self.entries.get_mut(chunk as usize) {
            Some(e) if matches!(&e.state, State::Running { attempt: a, .. } | State::Saving { attempt: a } if *a == attempt) => {
                e.state = State::Done;
                Accept::Accepted
            }
            _ => Accept::Stale,
        }
    }

    /// Records a failed attempt: the chunk goes back to pending, or fails the job once it
    /// has failed `max_attempts` times.
    pub fn fail(&mut self, chunk: u32, attempt: u32, error: String) -> Result<Accept, Exhausted> {
        let max = self.config.max_attempts;
        let Some(e) = self.entries.get_mut(chunk as usize) else {
            return Ok(Accept::Stale);
        };
        if !matches!(&e.state, State::Running { attempt: a, .. } if *a == attempt) {
            return Ok(Accept::Stale);
        }
        e.failures += 1;
        e.last_error = Some(error.clone());
        if e.failures >= max {
            e.state = State::Failed;
            return Err(Exhausted {
                spec: e.spec.clone(),
                attempts: e.failures,
                error,
            });
        }
        e.state = State::Pending;
        self.queue.push_back(chunk);
        Ok(Accept::Accepted)
    }

    /// Puts back every lease past its deadline; returns the chunks.
    pub fn expire(&mut self, now: Instant) -> Vec<u32> {
        let mut back = Vec::new();
        for e in &mut self.entries {
            if matches!(&e.state, State::Running { deadline, .. } if *deadline <= now) {
                e.state = State::Pending;
                back.push(e.spec.id);
            }
        }
        self.expired += back.len() as u64;
        // Expired chunks go first: they have waited longest.
        for id in back.iter().rev() {
            self.queue.push_front(*id);
        }
        back
    }

    /// Hands back the leases of a worker that said it is leaving.
    pub fn release_worker(&mut self, worker: &str) -> Vec<u32> {
        self.release_worker_but(worker, None)
    }

    /// [`Self::release_worker`], keeping `kept`.
    fn release_worker_but(&mut self, worker: &str, kept: Option<u32>) -> Vec<u32> {
        let mut back = Vec::new();
        for e in &mut self.entries {
            if Some(e.spec.id) != kept && matches!(&e.state, State::Running { worker: w, .. } if w == worker) {
                e.state = State::Pending;
                back.push(e.spec.id);
            }
        }
        for id in back.iter().rev() {
            self.queue.push_front(*id);
        }
        back
    }

    pub fn counts(&self) -> ChunkCounts {
        let mut c = ChunkCounts::default();
        for e in &self.entries {
            match e.state {
                State::Pending => c.pending += 1,
                State::Running { .. } | State::Saving { .. } => c.running += 1,
                State::Done => c.done += 1,
                State::Failed => c.failed += 1,
            }
        }
        c
    }

    /// Whether `worker` holds a lease on another chunk than `chunk`.
    pub fn holds_other(&self, worker: &str, chunk: u32) -> bool {
        self.entries
            .iter()
            .any(|e| e.spec.id != chunk && matches!(&e.state, State::Running { worker: w, .. } if w == worker))
    }

    /// Chunks currently leased, one by worker: a worker that commits one chunk while it
    /// produces the next holds two, and the higher-numbered one is given.
    pub fn running(&self) -> HashMap<String, u32> {
        self.entries
            .iter()
            .filter_map(|e| match &e.state {
                State::Running { worker, .. } => Some((worker.clone(), e.spec.id)),
                _ => None,
            })
            .collect()
    }

    pub fn is_done(&self, chunk: u32) -> bool {
        self.entries.get(chunk as usize).is_some_and(|e| e.state == State::Done)
    }

    /// Every chunk is done.
    pub fn is_finished(&self) -> bool {
        self.entries.iter().all(|e| e.state == State::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use wattswarm_core::layout::Layout;

    fn table(n: u32) -> Coordinator {
        let chunks = (0..n)
            .map(|id| ChunkSpec {
                id,
                file_index: 0,
                path: PathBuf::from("a.csv").into(),
                layout: Layout::Six,
                file: Default::default(),
                start: id as u64 * 10,
                end: id as u64 * 10 + 10,
            })
            .collect();
        Coordinator::new(
            chunks,
            &[],
            CoordinatorConfig {
                lease_timeout: Duration::from_secs(5),
                max_attempts: 2,
            },
        )
    }

    fn leased(r: LeaseReply) -> Lease {
        match r {
            LeaseReply::Work(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lease_complete_finish() {
        let t0 = Instant::now();
        let mut c = table(2);
        let a = leased(c.lease("w1", None, t0));
        let b = leased(c.lease("w2", None, t0));
        assert_eq!(c.lease("w3", None, t0), LeaseReply::Wait);
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Accepted);
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Stale, "twice is stale");
        assert_eq!(c.complete(b.chunk.id, b.attempt), Accept::Accepted);
        assert_eq!(c.lease("w1", None, t0), LeaseReply::Finished);
        assert_eq!(c.counts(), ChunkCounts { done: 2, ..Default::default() });
    }

    #[test]
    fn expired_lease_goes_to_another_worker_and_the_late_report_is_ignored() {
        let t0 = Instant::now();
        let mut c = table(1);
        let first = leased(c.lease("w1", None, t0));
        assert!(c.heartbeat("w1", 0, t0 + Duration::from_secs(4)));
        assert_eq!(c.lease("w2", None, t0 + Duration::from_secs(8)), LeaseReply::Wait, "renewed by the heartbeat");
        let second = leased(c.lease("w2", None, t0 + Duration::from_secs(10)));
        assert_eq!((second.chunk.id, second.attempt), (0, 2));
        assert_eq!(c.expired, 1);
        assert!(!c.heartbeat("w1", 0, t0 + Duration::from_secs(10)));
        assert_eq!(c.complete(0, first.attempt), Accept::Stale);
        assert_eq!(c.complete(0, second.attempt), Accept::Accepted);
        assert!(c.is_finished());
    }

    #[test]
    fn a_worker_keeps_the_chunk_it_names_as_committing_and_no_other() {
        let t0 = Instant::now();
        let mut c = table(4);
        let a = leased(c.lease("w1", None, t0));
        let b = leased(c.lease("w1", Some(a.chunk.id), t0));
        assert_ne!(a.chunk.id, b.chunk.id);
        assert_eq!(c.counts().running, 2, "the committing chunk stays leased");
        assert_eq!(c.holder(a.chunk.id), Some(("w1", a.attempt)));
        assert!(c.heartbeat("w1", a.chunk.id, t0), "and can be renewed");
        // Asking again naming only b: a goes back to the queue, first, as a new attempt.
        let d = leased(c.lease("w1", Some(b.chunk.id), t0));
        assert_eq!((d.chunk.id, d.attempt), (a.chunk.id, a.attempt + 1));
        assert_eq!(c.holder(b.chunk.id), Some(("w1", b.attempt)));
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Stale, "the first attempt's report is late");
        // Naming another worker's chunk gives no claim on it.
        let e = leased(c.lease("w2", Some(b.chunk.id), t0));
        assert_ne!(e.chunk.id, b.chunk.id);
        assert!(!c.heartbeat("w2", b.chunk.id, t0));
        assert_eq!(c.holder(b.chunk.id), Some(("w1", b.attempt)));
        // An expired committing lease goes back like any other.
        assert!(c.expire(t0 + Duration::from_secs(60)).contains(&b.chunk.id));
    }

    #[test]
    fn a_worker_holds_one_lease_at_a_time() {
        let t0 = Instant::now();
        let mut c = table(3);
        let a = leased(c.lease("w1", None, t0));
        let b = leased(c.lease("w1", None, t0));
        assert_eq!(c.counts().running, 1, "asking again handed the first lease back");
        assert_eq!((b.chunk.id, b.attempt), (a.chunk.id, a.attempt + 1), "the handed-back chunk goes first, as a new attempt");
        assert_eq!(c.holder(b.chunk.id), Some(("w1", b.attempt)));
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Stale, "the first attempt's report is late");
        assert_ne!(leased(c.lease("w2", None, t0)).chunk.id, a.chunk.id);
    }

    #[test]
    fn a_chunk_being_saved_is_neither_leased_again_nor_expired_nor_done() {
        let t0 = Instant::now();
        let mut c = table(2);
        let a = leased(c.lease("w1", None, t0));
        assert_eq!(c.saving(a.chunk.id, a.attempt + 1), Accept::Stale, "only the holder's attempt");
        assert_eq!(c.saving(a.chunk.id, a.attempt), Accept::Accepted);
        assert_eq!(c.holder(a.chunk.id), None, "no worker holds it");
        // Its worker leases again at once: it gets the other chunk, not this one back.
        let b = leased(c.lease("w1", None, t0));
        assert_ne!(b.chunk.id, a.chunk.id);
        assert_eq!(c.expire(t0 + Duration::from_secs(60)), vec![b.chunk.id], "a save does not expire");
        assert_eq!(c.release_worker("w1"), Vec::<u32>::new());
        assert!(!c.is_done(a.chunk.id) && !c.is_finished());
        assert_eq!(c.counts(), ChunkCounts { pending: 1, running: 1, done: 0, failed: 0 });
        assert_eq!(c.fail(a.chunk.id, a.attempt, "late".into()), Ok(Accept::Stale));
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Accepted);
        assert!(c.is_done(a.chunk.id));
        assert_eq!(c.complete(a.chunk.id, a.attempt), Accept::Stale, "once");
    }

    #[test]
    fn repeated_failure_exhausts_the_chunk() {
        let t0 = Instant::now();
        let mut c = table(1);
        let a = leased(c.lease("w1", None, t0));
        assert_eq!(c.fail(0, a.attempt, "disk full".into()), Ok(Accept::Accepted));
        let b = leased(c.lease("w1", None, t0));
        let e = c.fail(0, b.attempt, "disk full".into()).unwrap_err();
        assert_eq!((e.attempts, e.error.as_str()), (2, "disk full"));
        assert_eq!(c.counts().failed, 1);
    }

    #[test]
    fn resumed_table_skips_done_chunks() {
        let chunks = table(3).chunks().cloned().collect();
        let mut c = Coordinator::new(chunks, &[0, 2], CoordinatorConfig::default());
        assert_eq!(leased(c.lease("w", None, Instant::now())).chunk.id, 1);
        assert_eq!(c.lease("w2", None, Instant::now()), LeaseReply::Wait);
    }
}
