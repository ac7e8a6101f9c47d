//! Every accepted row into `power.readings`, from the workers.
//!
//! A document is what an analyst would write by hand:
//! `{_id: NumberLong, lclid: "MAC000002", tariff: "Std", ts: ISODate, kwh: 0.263 | null,
//! acorn: "ACORN-A", acorn_grouped: "Affluent"}`. `ts` is the reading's wall-clock time (the
//! data has no zone) stored as a BSON date, so date operators and range queries work;
//! `kwh` is a double, `null` when the file says `Null`.
//!
//! The chunk's parse loop hands rows over one at a time; they are encoded into batches and
//! sent through a bounded channel to a task that keeps a few unordered `insert_many` calls
//! in flight. Memory: `concurrency + 2` batches per chunk. A duplicate-key error means the
//! row is already stored (an earlier attempt or run got there first) and is not an error;
//! any other failure is retried with backoff, then fails the chunk, which the master
//! hands out again.
use std::sync::Arc;

use mongodb::bson::{doc, RawBson, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::{Collection, IndexModel};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wattswarm_core::hdfs::io_runtime;
use wattswarm_core::kwh::{self, Kwh};
use wattswarm_core::parse::{Dicts, Row};
use wattswarm_core::process::{RowSink, RowSinkFactory, SinkReport};
use wattswarm_core::retry::Backoff;

use crate::{Mongo, MongoError};

/// The readings collection of a job.
#[derive(Debug, Clone)]
pub struct Readings {
    mongo: Arc<Mongo>,
    coll: Collection<RawDocumentBuf>,
}

impl Readings {
    pub fn new(mongo: Arc<Mongo>) -> Readings {
        let coll = mongo.db().collection(&mongo.settings.readings);
        Readings { mongo, coll }
    }

    /// `database.collection`.
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.mongo.settings.database, self.mongo.settings.readings)
    }
}

const DUPLICATE_KEY: i32 = 11000;

/// Inserts one batch; returns how many documents were new and the seconds it took.
/// Retries what is not a duplicate-key error with [`Backoff`] for `retry_seconds`.
async fn insert(coll: Collection<RawDocumentBuf>, batch: Vec<RawDocumentBuf>, retry_seconds: u64) -> Result<(u64, f64), String> {
    let started = std::time::Instant::now();
    let mut backoff = Backoff::new(retry_seconds);
    loop {
        let err = match coll.insert_many(&batch).ordered(false).await {
            Ok(r) => return Ok((r.inserted_ids.len() as u64, started.elapsed().as_secs_f64())),
            Err(e) => e,
        };
        if let ErrorKind::InsertMany(ref m) = *err.kind {
            let writes = m.write_errors.as_deref().unwrap_or_default();
            if m.write_concern_error.is_none() && !writes.is_empty() && writes.iter().all(|w| w.code == DUPLICATE_KEY) {
                return Ok(((batch.len() - writes.len()) as u64, started.elapsed().as_secs_f64()));
            }
        }
        let reason = err.to_string().lines().next().unwrap_or_default().to_owned();
        let Some(delay) = backoff.pause() else {
            return Err(format!("inserting {} readings failed: {reason}", batch.len()));
        };
        tracing::warn!("inserting readings failed ({reason}); retrying in {delay:?}");
        tokio::time::sleep(delay).await;
    }
}

/// Runs the inserts of one chunk: at most `concurrency` in flight.
async fn inserter(coll: Collection<RawDocumentBuf>, mut rx: mpsc::Receiver<Vec<RawDocumentBuf>>, concurrency: usize, retry_seconds: u64) -> Result<SinkReport, String> {
    let mut inflight = JoinSet::new();
    let mut report = SinkReport::default();
    let mut add = |r: Result<Result<(u64, f64), String>, tokio::task::JoinError>| -> Result<(), String> {
        let (stored, seconds) = r.map_err(|e| e.to_string())??;
        report.stored += stored;
        report.write_seconds.push(seconds);
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
    Ok(report)
}

impl RowSinkFactory for Readings {
    fn open(&self) -> wattswarm_core::Result<Box<dyn RowSink>> {
        let s = &self.mongo.settings;
        let (tx, rx) = mpsc::channel(2);
        let task = io_runtime().spawn(inserter(self.coll.clone(), rx, s.concurrency.max(1), s.retry_seconds));
        Ok(Box::new(ChunkReadings {
            tx: Some(tx),
            task: Some(task),
            batch: Vec::with_capacity(s.batch),
            batch_size: s.batch.max(1),
            namespace: self.namespace(),
        }))
    }
}

struct ChunkReadings {
    tx: Option<mpsc::Sender<Vec<RawDocumentBuf>>>,
    task: Option<tokio::task::JoinHandle<Result<SinkReport, String>>>,
    batch: Vec<RawDocumentBuf>,
    batch_size: usize,
    namespace: String,
}

impl ChunkReadings {
    fn error(&self, reason: impl std::fmt::Display) -> wattswarm_core::Error {
        wattswarm_core::Error::Sink(format!("MongoDB {}: {reason}", self.namespace))
    }

    fn send(&mut self) -> wattswarm_core::Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
        let tx = self.tx.as_ref().expect("open until finish");
        if tx.blocking_send(batch).is_err() {
            // The inserter stopped: it failed; its error says why.
            return Err(self.wait().err().unwrap_or_else(|| self.error("the inserter stopped")));
        }
        Ok(())
    }

    fn wait(&mut self) -> wattswarm_core::Result<SinkReport> {
        self.tx = None;
        let task = self.task.take().ok_or_else(|| self.error("already finished"))?;
        let joined = wattswarm_core::hdfs::block_on(task);
        joined.map_err(|e| self.error(e))?.map_err(|e| self.error(e))
    }
}

/// The reading document of one row.
pub fn document(id: i64, r: &Row, d: &Dicts) -> RawDocumentBuf {
    let mut doc = RawDocumentBuf::new();
    let s = |dict: &wattswarm_core::parse::Dict, k: u32| RawBson::String(dict.values()[k as usize].to_string());
    doc.append("_id", id);
    doc.append("lclid", s(&d.lclid, r.lclid));
    doc.append("tariff", s(&d.tariff, r.tariff));
    doc.append("ts", mongodb::bson::DateTime::from_millis(r.dt.micros.div_euclid(1000)));
    match r.kwh {
        Kwh::Value(v) => doc.append("kwh", kwh::to_f64(v)),
        Kwh::Missing => doc.append("kwh", RawBson::Null),
    }
    doc.append("acorn", s(&d.acorn, r.acorn));
    doc.append("acorn_grouped", s(&d.acorn_grouped, r.acorn_grouped));
    doc
}

impl RowSink for ChunkReadings {
    fn row(&mut self, id: i64, r: &Row, d: &Dicts) -> wattswarm_core::Result<()> {
        self.batch.push(document(id, r, d));
        if self.batch.len() >= self.batch_size {
            self.send()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> wattswarm_core::Result<SinkReport> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.wait()
    }
}

impl Drop for ChunkReadings {
    fn drop(&mut self) {
        // A chunk that gave up: stop its inserts.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Creates the readings indexes analysts need: household then time, and time alone.
pub fn create_indexes(r: &Readings) -> Result<(), MongoError> {
    let coll = r.coll.clone();
    let models = vec![
        IndexModel::builder().keys(doc! {"lclid": 1, "ts": 1}).build(),
        IndexModel::builder().keys(doc! {"ts": 1}).build(),
    ];
    wattswarm_core::hdfs::block_on(async move { coll.create_indexes(models).await })
        .map(|_| ())
        .map_err(|e| r.mongo.failed(format!("create the indexes of {}", r.namespace()), e))
}
