//! The whole job in one process: a master actor and N worker actors, no network.
//!
//! This is what `wattswarm run` does. The workers reach the master through its actor
//! address instead of HTTP; everything else is the code the distributed mode runs.
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use wattswarm_core::input::Input;
use wattswarm_core::lock::OutputLock;
use wattswarm_core::process::{JobSpec, Settings};
use wattswarm_core::protocol::LeaseReply;
use wattswarm_core::storage::Output;
use wattswarm_worker::{ChunkOutcome, LeaseSource, SourceError, WorkerActor};

use crate::actor::{Heartbeat, JobOutcome, Leave, MasterActor, MasterSetup, Report, RequestLease};
use crate::coordinator::CoordinatorConfig;
use crate::metrics::MasterMetrics;
use crate::mongo::MongoJob;
use crate::state::{prepare, Prepared};
use crate::JobError;

/// A worker's way to its master in the same process.
#[derive(Clone)]
pub struct LocalMaster(pub Addr<MasterActor>);

fn unreachable(e: MailboxError) -> SourceError {
    SourceError(e.to_string())
}

impl LeaseSource for LocalMaster {
    async fn lease(&self, worker: &str) -> Result<LeaseReply, SourceError> {
        self.0
            .send(RequestLease {
                worker: worker.to_owned(),
            })
            .await
            .map_err(unreachable)
    }

    async fn heartbeat(&self, worker: &str, chunk: u32, bytes_done: u64) -> Result<(), SourceError> {
        self.0
            .send(Heartbeat {
                worker: worker.to_owned(),
                chunk,
                bytes: bytes_done,
            })
            .await
            .map(|_| ())
            .map_err(unreachable)
    }

    async fn report(&self, worker: &str, outcome: ChunkOutcome) -> Result<(), SourceError> {
        // A refused report is the master's to act on (it logs it and runs the chunk
        // again); the worker goes on with its next lease.
        let _ = self
            .0
            .send(Report {
                worker: worker.to_owned(),
                outcome,
            })
            .await
            .map_err(unreachable)?;
        Ok(())
    }

    async fn leave(&self, worker: &str) -> Result<(), SourceError> {
        self.0.send(Leave { worker: worker.to_owned() }).await.map_err(unreachable)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub output: PathBuf,
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

/// A running standalone job.
pub struct StandaloneJob {
    pub master: Addr<MasterActor>,
    pub done: oneshot::Receiver<Result<JobOutcome, JobError>>,
}

impl StandaloneJob {
    /// Waits for the job's end.
    pub async fn wait(self) -> Result<JobOutcome, JobError> {
        self.done.await.unwrap_or(Err(JobError::Interrupted))
    }
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
    let output = Output::open(&opts.output.to_string_lossy(), &opts.settings.hdfs)?;
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

/// Starts a job (or resumes an unfinished run of the same job in the same output): must
/// be called inside an actix system.
pub fn run_standalone(input: &Input, opts: &JobOptions) -> Result<StandaloneJob, JobError> {
    let OpenedJob { output, lock, prepared, mongo } = open_job(input, opts)?;
    let (tx, rx) = oneshot::channel();
    let master = MasterActor::new(
        MasterSetup {
            prepared,
            input: input.clone(),
            output: output.clone(),
            settings: opts.settings.clone(),
            coordinator: opts.coordinator.clone(),
            metrics: Arc::new(MasterMetrics::new()),
            master_url: None,
            mongo: mongo.clone(),
            lock,
        },
        tx,
    )
    .start();
    let job = Arc::new(JobSpec {
        output,
        households: input.households.clone(),
        settings: opts.settings.clone(),
        rows: mongo
            .and_then(|m| m.readings.clone())
            .map(|r| Arc::new(r) as Arc<dyn wattswarm_core::process::RowSinkFactory>),
    });
    for i in 0..opts.workers.max(1) {
        WorkerActor::new(format!("local-{}", i + 1), LocalMaster(master.clone()), job.clone()).start();
    }
    Ok(StandaloneJob { master, done: rx })
}
