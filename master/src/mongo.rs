//! A job's MongoDB side, as the master sees it: the `power.jobs` record from start to end,
//! the job's staging collections (the readings the workers fill, the results the master
//! loads at the end), and the swap that puts them live, before `_SUCCESS`.
//!
//! The workers are told the staging collection's namespace (`JobInfo.readings`), never the
//! live one, so a job in progress is invisible to readers until its swap.
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use wattswarm_core::input::Input;
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_mongo::readings::{create_indexes, Readings};
use wattswarm_mongo::results::ResultSet;
use wattswarm_mongo::{export_results, JobRecord, Mongo, MongoSettings, Staging};

use crate::results::{JobSummary, Table, Tables};
use crate::JobError;

/// MongoDB for one job.
#[derive(Debug)]
pub struct MongoJob {
    pub mongo: Arc<Mongo>,
    /// The job's staging set.
    staging: Staging,
    /// The readings' staging collection, when rows are stored.
    pub readings: Option<Readings>,
    /// The record as saved at the start; the end's record is a copy of it.
    record: JobRecord,
}

impl MongoJob {
    /// Connects (with retries), removes other jobs' staging collections, records the job as
    /// running and creates its readings' staging collection (a resumed job continues its own).
    pub fn start(settings: &MongoSettings, readings: bool, job_id: &str, input: &Input, output: &Output, config: Value) -> Result<Arc<MongoJob>, JobError> {
        let mongo = Arc::new(Mongo::connect(settings)?);
        let staging = Staging::begin(mongo.clone(), job_id)?;
        let mut live: Vec<String> = Vec::new();
        if readings {
            live.push(settings.readings.clone());
        }
        live.extend(Table::ALL.iter().map(|t| t.name().to_owned()));
        live.push("household_day".into());
        let record = JobRecord {
            job: job_id.to_owned(),
            status: "running".into(),
            started: mongodb::bson::DateTime::now(),
            finished: None,
            seconds: None,
            input: input.files.iter().map(|f| f.path.to_string()).collect(),
            input_bytes: input.bytes(),
            output: output.location().to_string(),
            config,
            summary: None,
            collections: None,
            load_seconds: None,
            staging: live.iter().map(|l| staging.name(l)).collect(),
            export_seconds: None,
            error: None,
        };
        // Recorded before the first staging collection exists, so none is ever unaccounted for.
        record.save(&mongo)?;
        let readings = if readings {
            staging.create(&settings.readings)?;
            Some(Readings::in_collection(mongo.clone(), &staging.name(&settings.readings)))
        } else {
            None
        };
        Ok(Arc::new(MongoJob {
            mongo,
            staging,
            readings,
            record,
        }))
    }

    /// `database.collection` of the readings (the job's staging collection), for the workers.
    pub fn readings_namespace(&self) -> Option<String> {
        self.readings.as_ref().map(|r| r.namespace())
    }

    /// Loads every result table and `household_day` into the staging set, builds the
    /// readings' indexes, swaps the set in and records the job as done.
    pub fn export(&self, out: &Output, tables: &Tables, summary: &JobSummary) -> Result<(), JobError> {
        let started = Instant::now();
        let each = tables.each();
        let keys = each.map(|(t, _)| t.key());
        let sets: Vec<ResultSet<'_, _>> = each
            .iter()
            .zip(&keys)
            .map(|((t, rows), key)| ResultSet {
                collection: t.name(),
                key,
                rows,
            })
            .collect();
        let hd = out.open_parquet(&format!("{RESULTS_DIR}/household_day.parquet"))?;
        let counts = export_results(&self.mongo, &self.staging, &sets, hd)?;
        let loaded = started.elapsed().as_secs_f64();
        let live_readings = self.mongo.settings.readings.clone();
        let mut live: Vec<&str> = Vec::new();
        let mut remove: Vec<&str> = Vec::new();
        match &self.readings {
            // Built once the readings are in: one index build is cheaper than updating the
            // index on every insert of a bulk load. Gone already: an earlier master of this
            // job swapped it in, indexes and all.
            Some(r) => {
                if self.staging.exists(&live_readings)? {
                    create_indexes(r)?;
                }
                live.push(&live_readings);
            }
            // A job replaces the whole set: with readings off, an earlier job's go.
            None => remove.push(&live_readings),
        }
        live.extend(counts.iter().map(|l| l.collection.as_str()));
        self.staging.swap(&live, &remove)?;
        let seconds = started.elapsed().as_secs_f64();
        let docs: u64 = counts.iter().map(|l| l.docs).sum();
        tracing::info!("MongoDB: {docs} results documents loaded in {loaded:.2} s; readings indexed and the set swapped in, {seconds:.2} s in all");
        let mut r = self.record.clone();
        r.status = "done".into();
        r.finished = Some(mongodb::bson::DateTime::now());
        r.seconds = Some(summary.seconds);
        r.summary = serde_json::to_value(summary).ok();
        r.collections = Some(Value::Object(counts.iter().map(|l| (l.collection.clone(), Value::from(l.docs))).collect()));
        r.load_seconds = Some(Value::Object(counts.iter().map(|l| (l.collection.clone(), Value::from(l.seconds))).collect()));
        r.export_seconds = Some(seconds);
        r.save(&self.mongo)?;
        Ok(())
    }

    /// Records the job as failed (best effort: the job is failing already). Its staging
    /// collections stay for a resumed master of the same job; the next other job drops them.
    pub fn failed(&self, error: &str) {
        let mut r = self.record.clone();
        r.status = "failed".into();
        r.finished = Some(mongodb::bson::DateTime::now());
        r.error = Some(error.to_owned());
        if let Err(e) = r.save(&self.mongo) {
            tracing::warn!("cannot record the failed job in MongoDB: {e}");
        }
    }
}
