//! A job's MongoDB side, as the master sees it: the `power.jobs` record from start to end,
//! the results export and the readings collection's index, before `_SUCCESS`.
use std::sync::{Arc, Mutex};

use serde_json::Value;
use wattswarm_core::aggregate::Dim;
use wattswarm_core::input::Input;
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_mongo::readings::{create_indexes, Readings};
use wattswarm_mongo::results::ResultSet;
use wattswarm_mongo::{export_results, JobRecord, Mongo, MongoSettings};

use crate::results::JobSummary;
use crate::JobError;

/// MongoDB for one job.
#[derive(Debug)]
pub struct MongoJob {
    pub mongo: Arc<Mongo>,
    /// The readings collection, when rows are stored.
    pub readings: Option<Readings>,
    record: Mutex<JobRecord>,
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
            record: Mutex::new(record),
        }))
    }

    /// `database.collection` of the readings, for the workers.
    pub fn readings_namespace(&self) -> Option<String> {
        self.readings.as_ref().map(|r| r.namespace())
    }

    /// Upserts every result (read back from `results/`) and records the job as done.
    pub fn export(&self, out: &Output, summary: &JobSummary) -> Result<(), JobError> {
        let job = self.record.lock().expect("not poisoned").job.clone();
        let mut rows = Vec::new();
        for name in ["by_acorn_grouped_month", "by_tariff_month", "by_acorn_month", "by_tariff_halfhour"] {
            let rel = format!("{RESULTS_DIR}/{name}.json");
            let bytes = out.read(&rel)?.ok_or_else(|| JobError::Core(wattswarm_core::Error::Corrupt {
                path: out.shown(&rel).into(),
                reason: "missing after the results were written".into(),
            }))?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| JobError::Core(wattswarm_core::Error::Corrupt {
                path: out.shown(&rel).into(),
                reason: e.to_string(),
            }))?;
            rows.push((name, v));
        }
        let key = |name: &str| -> [&'static str; 2] {
            match name {
                "by_acorn_grouped_month" => [Dim::AcornGrouped.field(), "month"],
                "by_tariff_month" => [Dim::Tariff.field(), "month"],
                "by_acorn_month" => [Dim::Acorn.field(), "month"],
                _ => ["tariff", "halfhour"],
            }
        };
        let keys: Vec<[&str; 2]> = rows.iter().map(|(n, _)| key(n)).collect();
        let sets: Vec<ResultSet<'_>> = rows
            .iter()
            .zip(&keys)
            .map(|((name, v), k)| ResultSet { collection: name, key: k, rows: v })
            .collect();
        let hd = out.open_parquet(&format!("{RESULTS_DIR}/household_day.parquet"))?;
        let counts = export_results(&self.mongo, &job, &sets, hd)?;
        // Built once the readings are in: one index build is cheaper than updating the
        // index on every insert of a bulk load.
        if let Some(r) = &self.readings {
            create_indexes(r)?;
        }
        let mut r = self.record.lock().expect("not poisoned").clone();
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
        let mut r = self.record.lock().expect("not poisoned").clone();
        r.status = "failed".into();
        r.finished = Some(mongodb::bson::DateTime::now());
        r.error = Some(error.to_owned());
        if let Err(e) = r.save(&self.mongo) {
            tracing::warn!("cannot record the failed job in MongoDB: {e}");
        }
    }
}
