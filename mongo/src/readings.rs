//! Every accepted row into `power.readings`, from the workers.
//!
//! A document is what an analyst would write by hand:
//! `{_id: NumberLong, lclid: "MAC000002", tariff: "Std", ts: ISODate, kwh: 0.263 | null,
//! acorn: "ACORN-A", acorn_grouped: "Affluent"}`. `ts` is the reading's wall-clock time (the
//! data has no zone) stored as a BSON date, so date operators and range queries work;
//! `kwh` is a double, `null` when the file says `Null`.
//!
//! The chunk's parse loop hands rows over one at a time; they are encoded and loaded by a
//! [`BulkLoad`] (unordered `insert_many`, a few in flight, `concurrency + 2` batches of
//! memory per chunk). A duplicate-key error means the row is already stored (an earlier
//! attempt got there first) and is not an error; any other failure is retried with
//! backoff, then fails the chunk, which the master hands out again.
//!
//! The collection is the job's staging collection (`readings__<job>`, see
//! [`crate::staging`]): the master names it, and swaps it in as `readings` at the end.
use std::sync::Arc;

use mongodb::bson::{doc, RawBson, RawDocumentBuf};
use mongodb::{Collection, IndexModel};
use wattswarm_core::kwh::{self, Kwh};
use wattswarm_core::parse::{Dicts, Row};
use wattswarm_core::process::{RowSink, RowSinkFactory, SinkReport};

use crate::insert::BulkLoad;
use crate::{Mongo, MongoError};

/// The readings collection of a job.
#[derive(Debug, Clone)]
pub struct Readings {
    mongo: Arc<Mongo>,
    coll: Collection<RawDocumentBuf>,
}

impl Readings {
    /// The collection `mongo_readings_collection` names (a worker: the one its master named).
    pub fn new(mongo: Arc<Mongo>) -> Readings {
        let name = mongo.settings.readings.clone();
        Readings::in_collection(mongo, &name)
    }

    /// The readings in `collection` of the database (the master: the job's staging one).
    pub fn in_collection(mongo: Arc<Mongo>, collection: &str) -> Readings {
        let coll = mongo.db().collection(collection);
        Readings { mongo, coll }
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        self.coll.name()
    }

    /// `database.collection`.
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.mongo.settings.database, self.coll.name())
    }
}

impl RowSinkFactory for Readings {
    fn open(&self) -> wattswarm_core::Result<Box<dyn RowSink>> {
        let s = &self.mongo.settings;
        Ok(Box::new(ChunkReadings {
            load: BulkLoad::open(self.coll.clone(), s.batch, s.concurrency, s.retry_seconds),
            namespace: self.namespace(),
        }))
    }
}

struct ChunkReadings {
    load: BulkLoad,
    namespace: String,
}

impl ChunkReadings {
    fn error(&self, reason: impl std::fmt::Display) -> wattswarm_core::Error {
        wattswarm_core::Error::Sink(format!("MongoDB {}: {reason}", self.namespace))
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
        let doc = document(id, r, d);
        self.load.push(doc).map_err(|e| self.error(e))
    }

    fn finish(self: Box<Self>) -> wattswarm_core::Result<SinkReport> {
        let ns = self.namespace.clone();
        let done = self.load.finish().map_err(|e| wattswarm_core::Error::Sink(format!("MongoDB {ns}: {e}")))?;
        Ok(SinkReport {
            stored: done.stored,
            write_seconds: done.write_seconds,
        })
    }
}

/// Creates the readings indexes analysts need: household then time, and time alone.
pub fn create_indexes(r: &Readings) -> Result<(), MongoError> {
    let coll = r.coll.clone();
    let models = vec![
        IndexModel::builder().keys(doc! {"lclid": 1, "ts": 1}).build(),
        IndexModel::builder().keys(doc! {"ts": 1}).build(),
    ];
    wattswarm_core::runtime::block_on(async move { coll.create_indexes(models).await })
        .map(|_| ())
        .map_err(|e| r.mongo.failed(format!("create the indexes of {}", r.namespace()), e))
}
