//! The whole job in one process: a master actor and N worker actors, no network.
//!
//! This is what `wattswarm run` does. The workers reach the master through its actor
//! address instead of HTTP, sending the same [`wattswarm_core::protocol`] requests;
//! everything else is the code the distributed mode runs. It lives beside the master and
//! worker crates, not in either, so that neither depends on the other.
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;
use wattswarm_core::input::Input;
use wattswarm_core::process::JobSpec;
use wattswarm_core::protocol::{Heartbeat, HeartbeatReply, LeaseReply, LeaseRequest, Leave, Report, WorkerRef};
use wattswarm_master::metrics::MasterMetrics;
use wattswarm_master::{open_job, JobError, JobOptions, JobOutcome, MasterActor, MasterSetup, OpenedJob};
use wattswarm_worker::{LeaseSource, LinkError, WorkerActor};

/// A worker's way to its master in the same process.
#[derive(Clone)]
pub struct LocalMaster(pub Addr<MasterActor>);

fn gone(e: MailboxError) -> LinkError {
    LinkError::Unreachable {
        url: "the master actor".into(),
        reason: e.to_string(),
    }
}

impl LeaseSource for LocalMaster {
    async fn lease(&self, req: LeaseRequest) -> Result<LeaseReply, LinkError> {
        self.0.send(req).await.map_err(gone)
    }

    async fn heartbeat(&self, req: Heartbeat) -> Result<HeartbeatReply, LinkError> {
        self.0.send(req).await.map_err(gone)
    }

    async fn report(&self, req: Report) -> Result<(), LinkError> {
        self.0.send(req).await.map_err(gone)?.map_err(|refused| LinkError::Refused(refused.to_string()))
    }

    async fn leave(&self, req: Leave) -> Result<(), LinkError> {
        self.0.send(req).await.map_err(gone)
    }
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

/// Starts a job (or resumes an unfinished run of the same job in the same output): must
/// be called inside an actix system.
pub fn run_standalone(input: &Input, opts: &JobOptions) -> Result<StandaloneJob, JobError> {
    let OpenedJob { output, lock, prepared, mongo } = open_job(input, opts)?;
    let job_id = prepared.manifest.job_id.clone();
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
        let me = WorkerRef {
            worker: format!("local-{}", i + 1),
            job_id: job_id.clone(),
        };
        WorkerActor::new(me, LocalMaster(master.clone()), job.clone()).start();
    }
    Ok(StandaloneJob { master, done: rx })
}
