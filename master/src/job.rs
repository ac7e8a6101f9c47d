//! Opening a job for a master: what to run, the output's lock, the resumed or new state,
//! and MongoDB. The master process ([`crate::server`]) and the in-process job
//! (`wattswarm::standalone`) both start here.
use std::sync::Arc;

use wattswarm_core::input::Input;
use wattswarm_core::lock::OutputLock;
use wattswarm_core::process::Settings;
use wattswarm_core::storage::Output;
use wattswarm_core::store::Location;

use crate::coordinator::CoordinatorConfig;
use crate::mongo::MongoJob;
use crate::state::{prepare, Prepared};
use crate::JobError;

/// What to run.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub output: Location,
    /// MongoDB for results (and readings, with `mongo_readings`).
    pub mongo: Option<wattswarm_mongo::MongoSettings>,
    pub mongo_readings: bool,
    /// The configuration as the `power.jobs` document records it (no secrets).
    pub public_config: serde_json::Value,
    pub workers: usize,
    pub chunk_size: u64,
    pub settings: Settings,
    pub coordinator: CoordinatorConfig,
}

/// Connects to MongoDB and records the job there, when the job uses it.
pub fn start_mongo(opts: &JobOptions, prepared: &crate::state::Prepared, input: &Input, output: &Output) -> Result<Option<Arc<MongoJob>>, JobError> {
    match &opts.mongo {
        None => Ok(None),
        Some(s) => Ok(Some(MongoJob::start(s, opts.mongo_readings, &prepared.manifest.job_id, input, output, opts.public_config.clone())?)),
    }
}

/// A master's hold on its job's output.
pub struct OpenedJob {
    pub output: Output,
    pub lock: Arc<OutputLock>,
    pub prepared: Prepared,
    pub mongo: Option<Arc<MongoJob>>,
}

/// Opens the job's output for a master: refuses a folder that is not a wattswarm output,
/// takes the output's lock (one master per output), resumes or starts the job, and
/// connects to MongoDB. A failure gives the lock back.
pub fn open_job(input: &Input, opts: &JobOptions) -> Result<OpenedJob, JobError> {
    let output = Output::open(&opts.output, &opts.settings.hdfs)?;
    output.check_is_output()?;
    let lock = Arc::new(OutputLock::acquire(&output, opts.coordinator.lease_timeout)?);
    let opened = prepare(&output, input, opts.chunk_size, &opts.settings).and_then(|prepared| {
        // A finished job needs nothing of MongoDB: its results are there already.
        let mongo = if prepared.finished { None } else { start_mongo(opts, &prepared, input, &output)? };
        Ok((prepared, mongo))
    });
    match opened {
        Ok((prepared, mongo)) => Ok(OpenedJob { output, lock, prepared, mongo }),
        Err(e) => {
            lock.release();
            Err(e)
        }
    }
}
