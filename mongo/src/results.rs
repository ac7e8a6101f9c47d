//! The results collections, written by the master into the job's staging set.
//!
//! Each aggregate has its own collection, one document per key: the fields of a typed
//! row as serde writes them (the master's result rows, the same ones its JSON results
//! hold), plus `job` (the job that wrote it) and an `_id` that is the row's
//! place in its table (the results are deterministic, so a retried insert meets its own
//! documents as duplicate keys instead of doubling them). The collections are the job's
//! fresh staging ones (see [`crate::staging`]), so loading them is a plain unordered
//! `insert_many`, several batches in flight, every table at once: no upsert, no
//! clean-up of an earlier job's keys (the swap replaces the whole collection). A master
//! that died during the export drops what it had written and loads the tables again.
//! The unique index on the key, built after the load (one build is cheaper than updating
//! it per insert), is also the index analysts' queries use (group and month; lclid and
//! day).
use std::sync::Arc;

use arrow_array::{Array, Date32Array, Float64Array, Int64Array, StringArray};
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use serde_json::Value;
use wattswarm_core::runtime::block_on;
use wattswarm_core::storage::ParquetSource;

use crate::insert::BulkLoad;
use crate::staging::Staging;
use crate::{Mongo, MongoError};

/// One aggregate: its collection, key fields and rows: anything serde writes as a list of
/// structs (a slice of typed rows, or an untagged enum of such slices), so tables of
/// different row types load in one call.
pub struct ResultSet<'a, R> {
    pub collection: &'a str,
    pub key: &'a [&'a str],
    pub rows: &'a R,
}

/// The `household_day` collection's key.
pub const HOUSEHOLD_DAY_KEY: &[&str] = &["lclid", "day"];

/// One table being loaded into its staging collection.
struct TableLoad {
    live: String,
    staging: String,
    key: Vec<String>,
    load: BulkLoad,
    docs: u64,
    started: std::time::Instant,
}

/// What the export did for one collection.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The live name.
    pub collection: String,
    pub docs: u64,
    /// From the start of its load to its last insert (tables load at the same time).
    pub seconds: f64,
}

impl TableLoad {
    /// Drops what an earlier attempt left in the staging collection and starts its load.
    fn open(m: &Mongo, staging: &Staging, live: &str, key: &[&str]) -> Result<TableLoad, MongoError> {
        let name = staging.name(live);
        staging.drop_collection(&name)?;
        let s = &m.settings;
        Ok(TableLoad {
            live: live.to_owned(),
            key: key.iter().map(|k| k.to_string()).collect(),
            load: BulkLoad::open(m.db().collection(&name), s.batch, s.concurrency, s.retry_seconds),
            staging: name,
            docs: 0,
            started: std::time::Instant::now(),
        })
    }

    fn push(&mut self, m: &Mongo, doc: RawDocumentBuf) -> Result<(), MongoError> {
        self.docs += 1;
        let r = self.load.push(doc);
        r.map_err(|e| insert_failed(m, &self.staging, e))
    }

    /// Every document is pushed: sends the last batch now, while other tables load.
    fn pushed_all(&mut self, m: &Mongo) -> Result<(), MongoError> {
        let r = self.load.flush();
        r.map_err(|e| insert_failed(m, &self.staging, e))
    }

    /// Waits for its inserts, checks that every document is there once, builds the key index.
    fn finish(self, m: &Mongo) -> Result<Loaded, MongoError> {
        let TableLoad { live, staging, key, load, docs, started } = self;
        let done = load.finish().map_err(|e| insert_failed(m, &staging, e))?;
        let seconds = done.last_done.map_or(0.0, |t| t.duration_since(started).as_secs_f64());
        if done.stored + done.duplicates != docs {
            return Err(insert_failed(m, &staging, format!("{docs} documents sent, {} stored", done.stored + done.duplicates)));
        }
        let keys: Document = key.iter().map(|k| (k.clone(), Bson::Int32(1))).collect();
        let index = IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).name(format!("{}_key", key.join("_"))).build())
            .build();
        let coll = m.db().collection::<Document>(&staging);
        block_on(async move { coll.create_index(index).await }).map_err(|e| m.failed(format!("create the key index of {staging}"), e))?;
        Ok(Loaded {
            collection: live,
            docs,
            seconds,
        })
    }
}

fn insert_failed(m: &Mongo, staging: &str, e: String) -> MongoError {
    m.failed(format!("insert into {staging}"), e)
}

/// A table's documents: each row's fields as serde writes them, between `_id` (the row's
/// place in the table) and `job`.
fn table_docs(rows: &impl Serialize, job: &str) -> Result<Vec<RawDocumentBuf>, String> {
    let Bson::Array(rows) = mongodb::bson::to_bson(rows).map_err(|e| e.to_string())? else {
        return Err("the rows are not a list".into());
    };
    let mut docs = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let Bson::Document(fields) = row else {
            return Err(format!("row {i} has no fields: {row}"));
        };
        let mut d = doc! {"_id": i as i64};
        d.extend(fields);
        d.insert("job", job);
        docs.push(RawDocumentBuf::from_document(&d).map_err(|e| format!("row {i}: {e}"))?);
    }
    Ok(docs)
}

/// Appends the documents of one `household_day.parquet` batch,
/// `{_id, lclid, day: date, readings, kwh_sum, job}`, numbering from `first`.
fn household_day_docs(m: &Mongo, batch: &arrow_array::RecordBatch, first: u64, job: &str, mut add: impl FnMut(RawDocumentBuf) -> Result<(), MongoError>) -> Result<(), MongoError> {
    let bad = || m.failed("read household_day.parquet", "not the household_day schema");
    let ids = batch.column(0).as_any().downcast_ref::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>().ok_or_else(bad)?;
    let values = ids.values().as_any().downcast_ref::<StringArray>().ok_or_else(bad)?;
    let days = batch.column(1).as_any().downcast_ref::<Date32Array>().ok_or_else(bad)?;
    let n = batch.column(2).as_any().downcast_ref::<Int64Array>().ok_or_else(bad)?;
    let sums = batch.column(3).as_any().downcast_ref::<Float64Array>().ok_or_else(bad)?;
    for i in 0..batch.num_rows() {
        let mut d = RawDocumentBuf::new();
        d.append("_id", (first + i as u64) as i64);
        d.append("lclid", values.value(ids.keys().value(i) as usize));
        d.append("day", mongodb::bson::DateTime::from_millis(days.value(i) as i64 * 86_400_000));
        d.append("readings", n.value(i));
        d.append("kwh_sum", sums.value(i));
        d.append("job", job);
        add(d)?;
    }
    Ok(())
}

/// Loads every aggregate and the household-days into the job's staging collections, all
/// tables at once. Returns what was loaded per (live) collection.
pub fn export_results<R: Serialize>(m: &Mongo, staging: &Staging, sets: &[ResultSet<'_, R>], household_day: ParquetSource) -> Result<Vec<Loaded>, MongoError> {
    let job = staging.job();
    let mut loads = Vec::new();
    // The small tables are final: their loads run while household_day is read.
    for s in sets {
        let mut t = TableLoad::open(m, staging, s.collection, s.key)?;
        let docs = table_docs(s.rows, job).map_err(|e| m.failed(format!("make the documents of {}", s.collection), e))?;
        for d in docs {
            t.push(m, d)?;
        }
        t.pushed_all(m)?;
        loads.push(t);
    }
    let mut days = TableLoad::open(m, staging, "household_day", HOUSEHOLD_DAY_KEY)?;
    let unreadable = |e: String| m.failed("read household_day.parquet", e);
    let reader = ParquetRecordBatchReaderBuilder::try_new(household_day)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| unreadable(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(e.to_string()))?;
        let first = days.docs;
        household_day_docs(m, &batch, first, job, |d| days.push(m, d))?;
    }
    loads.push(days);
    loads.into_iter().map(|t| t.finish(m)).collect()
}

/// The `power.jobs` document of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    #[serde(rename = "_id")]
    pub job: String,
    /// `running`, `done`, `failed`, or `abandoned` (another job on the same database
    /// removed its staging collections before it finished).
    pub status: String,
    pub started: mongodb::bson::DateTime,
    pub finished: Option<mongodb::bson::DateTime>,
    pub seconds: Option<f64>,
    pub input: Vec<String>,
    pub input_bytes: u64,
    pub output: String,
    /// The job's configuration, without secrets.
    pub config: Value,
    /// `results/summary.json` once done.
    pub summary: Option<Value>,
    /// Documents written per results collection.
    pub collections: Option<Value>,
    /// Seconds each results collection's load took (they load at the same time).
    pub load_seconds: Option<Value>,
    /// The job's staging collections (`readings__<job>`, …), swapped in at its end.
    pub staging: Vec<String>,
    /// Seconds the MongoDB export took: the master's serial tail after the last chunk.
    pub export_seconds: Option<f64>,
    pub error: Option<String>,
}

impl JobRecord {
    /// Inserts this job's document or sets its fields (leaving the swap's own fields,
    /// `swap_begun` and `swapped`, as [`Staging`] wrote them).
    pub fn save(&self, m: &Arc<Mongo>) -> Result<(), MongoError> {
        let mut d = mongodb::bson::to_document(self).map_err(|e| m.failed("encode the job document", e))?;
        d.remove("_id");
        let coll = m.db().collection::<Document>(crate::staging::JOBS);
        let id = self.job.clone();
        block_on(async move { coll.update_one(doc! {"_id": id}, doc! {"$set": d}).upsert(true).await })
            .map(|_| ())
            .map_err(|e| m.failed("save the job document", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        tariff: &'static str,
        readings: u64,
        kwh_mean: Option<f64>,
    }

    /// A row's document is `_id` (its place), its fields in the order serde writes them,
    /// then `job`: the shape analysts' queries and `tests/mongo.rs` rely on.
    #[test]
    fn a_rows_document_is_its_place_its_fields_and_the_job() {
        let rows = [Row { tariff: "Std", readings: 2, kwh_mean: Some(0.375) }, Row { tariff: "ToU", readings: 0, kwh_mean: None }];
        let docs = table_docs(&rows, "j1").unwrap();
        let got: Vec<Document> = docs.iter().map(|d| d.to_document().unwrap()).collect();
        assert_eq!(
            got,
            [
                doc! {"_id": 0i64, "tariff": "Std", "readings": 2i64, "kwh_mean": 0.375, "job": "j1"},
                doc! {"_id": 1i64, "tariff": "ToU", "readings": 0i64, "kwh_mean": Bson::Null, "job": "j1"},
            ]
        );
        let keys: Vec<&str> = got[0].keys().map(String::as_str).collect();
        assert_eq!(keys, ["_id", "tariff", "readings", "kwh_mean", "job"]);
        assert!(table_docs(&7, "j1").unwrap_err().contains("not a list"));
    }
}
