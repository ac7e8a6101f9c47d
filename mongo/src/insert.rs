//! Bulk loading: unordered `insert_many` calls, a bounded number in flight.
//!
//! Both the workers' readings and the master's results go through here. A synchronous
//! producer (the parse loop, the household-day reader) fills batches and hands them over
//! a bounded channel to a task on the I/O runtime that keeps at most `concurrency` inserts
//! running, so encoding the next batch overlaps the server's work on the last ones, and a
//! slow server slows the producer instead of filling memory: at most `concurrency + 2`
//! batches exist at once.
//!
//! Every document carries a stable `_id`, so an insert retried after a lost reply, or a
//! chunk run twice, meets duplicate-key errors for what is already stored: those are
//! counted, not failures. Any other error that waiting can cure is retried with
//! [`Policy::server`] for `retry_seconds`, then returned.
use mongodb::bson::RawDocumentBuf;
use mongodb::error::ErrorKind;
use mongodb::Collection;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use wattswarm_core::runtime::{block_on, io_runtime};
use wattswarm_core::retry::Policy;

use crate::Driver;

/// MongoDB's duplicate-key error code.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// What a bulk load did.
#[derive(Debug, Default, Clone)]
pub struct Inserted {
    /// Documents newly stored.
    pub stored: u64,
    /// Documents that were there already (duplicate `_id`).
    pub duplicates: u64,
    /// Seconds each insert call took, for the metrics.
    pub write_seconds: Vec<f64>,
    /// When the last insert was acknowledged (none: nothing was sent).
    pub last_done: Option<std::time::Instant>,
}

/// What one batch's insert did.
struct BatchDone {
    /// Documents newly stored.
    stored: u64,
    /// Documents that were there already.
    duplicates: u64,
    /// When it was acknowledged.
    at: std::time::Instant,
    /// Seconds from its first try to `at`.
    seconds: f64,
}

impl BatchDone {
    fn now(started: std::time::Instant, sent: usize, duplicates: u64) -> BatchDone {
        let at = std::time::Instant::now();
        BatchDone { stored: sent as u64 - duplicates, duplicates, at, seconds: (at - started).as_secs_f64() }
    }
}

/// Inserts one batch.
async fn insert(coll: Collection<RawDocumentBuf>, batch: Vec<RawDocumentBuf>, retry_seconds: u64) -> Result<BatchDone, String> {
    let started = std::time::Instant::now();
    let mut backoff = Policy::server(std::time::Duration::from_secs(retry_seconds)).start();
    loop {
        let err = match coll.insert_many(&batch).ordered(false).await {
            Ok(_) => return Ok(BatchDone::now(started, batch.len(), 0)),
            Err(e) => e,
        };
        if let ErrorKind::InsertMany(ref m) = *err.kind {
            let writes = m.write_errors.as_deref().unwrap_or_default();
            if m.write_concern_error.is_none() && !writes.is_empty() && writes.iter().all(|w| w.code == DUPLICATE_KEY) {
                return Ok(BatchDone::now(started, batch.len(), writes.len() as u64));
            }
        }
        let reason = err.to_string().lines().next().unwrap_or_default().to_owned();
        let err = Driver(err);
        let Some(delay) = backoff.after(&err) else {
            return Err(format!("inserting {} documents into {} failed: {reason}", batch.len(), coll.name()));
        };
        tracing::warn!("inserting into {} failed ({reason}); retrying in {delay:?}", coll.name());
        tokio::time::sleep(delay).await;
    }
}

/// Runs the inserts of one load: at most `concurrency` in flight.
async fn inserter(coll: Collection<RawDocumentBuf>, mut rx: mpsc::Receiver<Vec<RawDocumentBuf>>, concurrency: usize, retry_seconds: u64) -> Result<Inserted, String> {
    let mut inflight = JoinSet::new();
    let mut done = Inserted::default();
    let mut add = |r: Result<Result<BatchDone, String>, tokio::task::JoinError>| -> Result<(), String> {
        let b = r.map_err(|e| e.to_string())??;
        done.stored += b.stored;
        done.duplicates += b.duplicates;
        done.write_seconds.push(b.seconds);
        done.last_done = done.last_done.max(Some(b.at));
        Ok(())
    };
    while let Some(batch) = rx.recv().await {
        while inflight.len() >= concurrency {
            add(inflight.join_next().await.expect("non-empty"))?;
        }
        inflight.spawn(insert(coll.clone(), batch, retry_seconds));
    }
    while let Some(r) = inflight.join_next().await {
        add(r)?;
    }
    Ok(done)
}

/// One bulk load into one collection, fed from synchronous code.
pub struct BulkLoad {
    tx: Option<mpsc::Sender<Vec<RawDocumentBuf>>>,
    task: Option<JoinHandle<Result<Inserted, String>>>,
    batch: Vec<RawDocumentBuf>,
    batch_size: usize,
}

impl BulkLoad {
    /// Starts the inserter of `coll`: batches of `batch_size`, `concurrency` in flight.
    pub fn open(coll: Collection<RawDocumentBuf>, batch_size: usize, concurrency: usize, retry_seconds: u64) -> BulkLoad {
        let (tx, rx) = mpsc::channel(2);
        let task = io_runtime().spawn(inserter(coll, rx, concurrency.max(1), retry_seconds));
        BulkLoad {
            tx: Some(tx),
            task: Some(task),
            batch: Vec::with_capacity(batch_size.max(1)),
            batch_size: batch_size.max(1),
        }
    }

    /// Adds a document; sends the batch when it is full (waits while the inserter is busy).
    pub fn push(&mut self, doc: RawDocumentBuf) -> Result<(), String> {
        self.batch.push(doc);
        if self.batch.len() >= self.batch_size {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), String> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
        let tx = self.tx.as_ref().ok_or("the load is finished")?;
        if tx.blocking_send(batch).is_err() {
            // The inserter stopped: it failed; its error says why.
            return Err(self.wait().err().unwrap_or_else(|| "the inserter stopped".into()));
        }
        Ok(())
    }

    fn wait(&mut self) -> Result<Inserted, String> {
        self.tx = None;
        let task = self.task.take().ok_or("the load is finished")?;
        block_on(task).map_err(|e| e.to_string())?
    }

    /// Sends what is left without waiting for it: for a load that has all its documents
    /// but is finished later, so its last batch does not wait for the [`finish`](Self::finish).
    pub fn flush(&mut self) -> Result<(), String> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        Ok(())
    }

    /// Sends what is left and waits for every insert.
    pub fn finish(mut self) -> Result<Inserted, String> {
        self.flush()?;
        self.wait()
    }
}

impl Drop for BulkLoad {
    fn drop(&mut self) {
        // A load that gave up (its chunk failed): stop its inserts.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
