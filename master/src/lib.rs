//! The wattswarm master.
//!
//! * [`coordinator`]: the chunk table and its leases, a plain state machine;
//! * [`actor`]: the master actor that owns the coordinator, merges the partials its
//!   workers report and finishes the job;
//! * [`results`]: the files a finished job leaves in `results/`, and [`report`] the
//!   page among them that draws them;
//! * [`job`]: opening a job's output for a master (its lock, its state, MongoDB);
//! * [`state`]: the manifest and chunk reports kept with the output, for resuming;
//! * [`validate`]: the checks every chunk report passes before it is saved or merged;
//! * [`http`], [`server`], [`metrics`]: the master as a process, serving workers over
//!   HTTP, with Prometheus metrics.
pub mod actor;
pub mod coordinator;
pub mod docker;
pub mod http;
pub mod job;
pub mod metrics;
pub mod mongo;
pub mod results;
/// The page among the results that draws them; kept at this path for its users.
pub use results::report;
pub mod server;
pub mod state;
pub mod validate;

pub use actor::{JobOutcome, JobStatus, MasterActor, MasterSetup};
pub use coordinator::{ChunkCounts, Coordinator, CoordinatorConfig};
pub use results::JobSummary;
pub use job::{open_job, JobOptions, OpenedJob};

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Core(#[from] wattswarm_core::Error),
    #[error("chunk {chunk} ({path}, bytes {start}..{end}) failed {attempts} times; last error: {error}")]
    ChunkFailed {
        chunk: u32,
        path: String,
        start: u64,
        end: u64,
        attempts: u32,
        error: String,
    },
    #[error(transparent)]
    Mongo(#[from] wattswarm_mongo::MongoError),
    #[error("the master stopped before the job finished")]
    Interrupted,
    #[error("cannot listen on {addr}: {source} (is another master running there? choose another --listen)")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
