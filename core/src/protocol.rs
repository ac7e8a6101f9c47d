//! What the master and its workers say to each other. The same types travel through
//! actor mailboxes in one process and (later) as JSON between processes.
use serde::{Deserialize, Serialize};

use crate::chunk::ChunkSpec;

/// A worker's right to process one chunk, for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub chunk: ChunkSpec,
    /// 1 for the first attempt; names the attempt's temporary files.
    pub attempt: u32,
}

/// The master's answer to a worker asking for work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseReply {
    Work(Lease),
    /// Nothing to lease now (every chunk is running); ask again shortly.
    Wait,
    /// The job is over; the worker can stop.
    Finished,
}

/// A worker introduces itself (`POST /v1/register`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub worker: String,
    /// Where the worker's own `/metrics` can be scraped, if it serves one.
    pub metrics_url: Option<String>,
}

/// What a registered worker needs to process the job's chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Changes when the master starts a different job; a worker holding an old one
    /// registers again.
    pub job_id: String,
    pub output: std::path::PathBuf,
    pub households: Option<crate::layout::Households>,
    pub settings: crate::process::Settings,
    /// `database.collection` where workers store every accepted row; none: nowhere. The
    /// worker brings its own MongoDB URI and credentials: secrets never cross the API.
    #[serde(default)]
    pub readings: Option<String>,
}

/// `POST /v1/lease`, `/v1/leave`: a worker of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRef {
    pub worker: String,
    pub job_id: String,
}

/// `POST /v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatMsg {
    pub worker: String,
    pub job_id: String,
    pub chunk: u32,
    pub bytes_done: u64,
}

/// The answer to a heartbeat: false when the worker no longer holds the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub held: bool,
}
