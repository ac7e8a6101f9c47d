//! The results collections and `power.jobs`, written by the master.
//!
//! Each aggregate has its own collection, one document per key, shaped like the rows of
//! the JSON results, plus `job` (the job that wrote it). Documents are upserted by their
//! key with the `update` command, 1,000 statements per call, so a re-run replaces and never
//! duplicates; documents of keys a later job no longer has are then removed. The unique
//! index on the key is also the index analysts' queries use (group and month; lclid and
//! day).
use std::sync::Arc;

use arrow_array::{Array, Date32Array, Float64Array, Int64Array, StringArray};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use serde_json::Value;
use wattswarm_core::hdfs::block_on;
use wattswarm_core::storage::ParquetSource;

use crate::{Mongo, MongoError};

/// One aggregate: its collection, key fields and rows (a JSON array of objects).
pub struct ResultSet<'a> {
    pub collection: &'a str,
    pub key: &'a [&'a str],
    pub rows: &'a Value,
}

const STATEMENTS_PER_CALL: usize = 1000;

/// Upserts `docs` into `collection` by `key`, tagging each with `job`; then removes the
/// documents other jobs left. Returns the documents written. A document that cannot be
/// made stops the export with its reason.
fn upsert_all(m: &Mongo, collection: &str, key: &[&str], job: &str, docs: impl Iterator<Item = Result<Document, String>>) -> Result<u64, MongoError> {
    let db = m.db();
    let keys: Document = key.iter().map(|k| (k.to_string(), Bson::Int32(1))).collect();
    let index = IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(true).name(format!("{}_key", key.join("_"))).build())
        .build();
    let coll = db.collection::<Document>(collection);
    block_on(async move { coll.create_index(index).await }).map_err(|e| m.failed(format!("create the key index of {collection}"), e))?;

    let mut written = 0u64;
    let mut statements = Vec::with_capacity(STATEMENTS_PER_CALL);
    let mut flush = |statements: &mut Vec<Document>| -> Result<(), MongoError> {
        if statements.is_empty() {
            return Ok(());
        }
        let n = statements.len() as u64;
        let cmd = doc! {"update": collection, "updates": std::mem::take(statements), "ordered": false};
        let db = db.clone();
        let reply = block_on(async move { db.run_command(cmd).await }).map_err(|e| m.failed(format!("upsert into {collection}"), e))?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            return Err(m.failed(format!("upsert into {collection}"), format!("{} write errors, the first: {:?}", errors.len(), errors.first())));
        }
        written += n;
        Ok(())
    };
    for d in docs {
        let mut d = d.map_err(|e| m.failed(format!("make the documents of {collection}"), e))?;
        let q: Document = key.iter().map(|k| (k.to_string(), d.get(*k).cloned().unwrap_or(Bson::Null))).collect();
        d.insert("job", job);
        statements.push(doc! {"q": q, "u": d, "upsert": true});
        if statements.len() >= STATEMENTS_PER_CALL {
            flush(&mut statements)?;
        }
    }
    flush(&mut statements)?;
    let coll = db.collection::<Document>(collection);
    let job = job.to_owned();
    block_on(async move { coll.delete_many(doc! {"job": {"$ne": job}}).await })
        .map_err(|e| m.failed(format!("remove stale documents from {collection}"), e))?;
    Ok(written)
}

fn json_docs(rows: &Value) -> impl Iterator<Item = Result<Document, String>> + '_ {
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|v| mongodb::bson::to_document(v).map_err(|e| format!("{v}: {e}")))
}

/// `results/household_day.parquet` as documents `{lclid, day: date, readings, kwh_sum}`,
/// a batch at a time.
fn household_days(file: ParquetSource) -> Result<impl Iterator<Item = Result<Document, String>>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| e.to_string())?;
    Ok(reader.flat_map(|batch| match batch.map_err(|e| e.to_string()).and_then(|b| batch_docs(&b)) {
        Ok(docs) => docs.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    }))
}

fn batch_docs(batch: &arrow_array::RecordBatch) -> Result<Vec<Document>, String> {
    let bad = || "not the household_day schema".to_string();
    let ids = batch.column(0).as_any().downcast_ref::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>().ok_or_else(bad)?;
    let values = ids.values().as_any().downcast_ref::<StringArray>().ok_or_else(bad)?;
    let days = batch.column(1).as_any().downcast_ref::<Date32Array>().ok_or_else(bad)?;
    let n = batch.column(2).as_any().downcast_ref::<Int64Array>().ok_or_else(bad)?;
    let sums = batch.column(3).as_any().downcast_ref::<Float64Array>().ok_or_else(bad)?;
    Ok((0..batch.num_rows())
        .map(|i| {
            doc! {
                "lclid": values.value(ids.keys().value(i) as usize),
                "day": mongodb::bson::DateTime::from_millis(days.value(i) as i64 * 86_400_000),
                "readings": n.value(i),
                "kwh_sum": sums.value(i),
            }
        })
        .collect())
}

/// Writes every aggregate and the household-days. Returns documents written per collection.
pub fn export_results(m: &Mongo, job: &str, sets: &[ResultSet<'_>], household_day: ParquetSource) -> Result<Vec<(String, u64)>, MongoError> {
    let mut counts = Vec::new();
    for s in sets {
        counts.push((s.collection.to_owned(), upsert_all(m, s.collection, s.key, job, json_docs(s.rows))?));
    }
    let days = household_days(household_day).map_err(|e| m.failed("read household_day.parquet", e))?;
    counts.push(("household_day".into(), upsert_all(m, "household_day", &["lclid", "day"], job, days)?));
    Ok(counts)
}

/// The `power.jobs` document of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    #[serde(rename = "_id")]
    pub job: String,
    /// `running`, `done` or `failed`.
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
    pub error: Option<String>,
}

impl JobRecord {
    /// Inserts or replaces this job's document.
    pub fn save(&self, m: &Arc<Mongo>) -> Result<(), MongoError> {
        let d = mongodb::bson::to_document(self).map_err(|e| m.failed("encode the job document", e))?;
        let coll = m.db().collection::<Document>("jobs");
        let id = self.job.clone();
        block_on(async move { coll.replace_one(doc! {"_id": id}, d).upsert(true).await })
            .map(|_| ())
            .map_err(|e| m.failed("save the job document", e))
    }
}
