//! A job's MongoDB side, as the master sees it: the `power.jobs` record from start to end,
//! the results export and the readings collection's index, before `_SUCCESS`.
use std::sync::Arc;

use serde_json::Value;
use wattswarm_core::input::Input;
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_mongo::readings::{create_indexes, Readings};
use wattswarm_mongo::results::ResultSet;
use wattswarm_mongo::{export_results, JobRecord, Mongo, MongoSettings};

use crate::results::{JobSummary, ResultTable};
use crate::JobError;

/// MongoDB for one job.
#[derive(Debug)]
pub struct MongoJob {
    pub mongo: Arc<Mongo>,
    /// The readings collection, when rows are stored.
    pub readings: Option<Readings>,
    /// The record as saved at the start; the end's record is a copy of it.
    record: JobRecord,
}

impl MongoJob {
    /// Connects (with retries), prepares the readings collection, records the job as running.
    pub fn start(settings: &MongoSettings, readings: bool, job_id: &str, input: &Input, output: &Output, config: Value) -> Result<Arc<MongoJob>, JobError> {
        let mongo = Arc::new(Mongo::connect(settings)?);
        let readings = readings.then(|| Readings::new(mongo.clone()));
        let record = JobRecord {
            job: job_id.to_owned(),
            status: "running".into(),
            started: mongodb::bson::DateTime::now(),
            finished: None,
            seconds: None,
            input: input.files.iter().map(|f| f.path.display().to_string()).collect(),
            input_bytes: input.bytes(),
            output: output.location(),
            config,
            summary: None,
            collections: None,
            error: None,
        };
        record.save(&mongo)?;
        Ok(Arc::new(MongoJob {
            mongo,
            readings,
            record,
        }))
    }

    /// `database.collection` of the readings, for the workers.
    pub fn readings_namespace(&self) -> Option<String> {
        self.readings.as_ref().map(|r| r.namespace())
    }

    /// Upserts every result table and `household_day`, builds the readings indexes, and
    /// records the job as done.
    pub fn export(&self, out: &Output, tables: &[ResultTable], summary: &JobSummary) -> Result<(), JobError> {
        let sets: Vec<ResultSet<'_>> = tables
            .iter()
            .map(|t| ResultSet {
                collection: &t.name,
                key: &t.key,
                rows: &t.rows,
            })
            .collect();
        let hd = out.open_parquet(&format!("{RESULTS_DIR}/household_day.parquet"))?;
        let counts = export_results(&self.mongo, &self.record.job, &sets, hd)?;
        // Built once the readings are in: one index build is cheaper than updating the
        // index on every insert of a bulk load.
        if let Some(r) = &self.readings {
            create_indexes(r)?;
        }
        let mut r = self.record.clone();
        r.status = "done".into();
        r.finished = Some(mongodb::bson::DateTime::now());
        r.seconds = Some(summary.seconds);
        r.summary = serde_json::to_value(summary).ok();
        r.collections = Some(Value::Object(counts.into_iter().map(|(k, n)| (k, Value::from(n))).collect()));
        r.save(&self.mongo)?;
        Ok(())
    }

    /// Records the job as failed (best effort: the job is failing already).
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
