//! The worker's view of its master.
use std::future::Future;

use serde::{Deserialize, Serialize};
use wattswarm_core::process::ChunkReport;
use wattswarm_core::protocol::LeaseReply;

/// How a leased chunk ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChunkOutcome {
    Done(Box<ChunkReport>),
    /// The chunk could not be processed (unreadable input, full disk…). The master
    /// retries it elsewhere, up to its limit.
    Failed { chunk: u32, attempt: u32, error: String },
}

/// `POST /v1/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMsg {
    pub worker: String,
    pub job_id: String,
    pub outcome: ChunkOutcome,
}

/// The master could not be reached; the worker waits and tries again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("master unreachable: {0}")]
pub struct SourceError(pub String);

/// Where a worker gets work and reports it.
pub trait LeaseSource: Clone + Unpin + 'static {
    /// Asks for a chunk. Also tells the master this worker is alive and idle.
    fn lease(&self, worker: &str) -> impl Future<Output = Result<LeaseReply, SourceError>>;
    /// Tells the master this worker is alive and how far it is in `chunk`.
    fn heartbeat(&self, worker: &str, chunk: u32, bytes_done: u64) -> impl Future<Output = Result<(), SourceError>>;
    /// Reports a finished or failed chunk.
    fn report(&self, worker: &str, outcome: ChunkOutcome) -> impl Future<Output = Result<(), SourceError>>;
    /// Says this worker is leaving: any lease it still holds goes back to the queue.
    fn leave(&self, worker: &str) -> impl Future<Output = Result<(), SourceError>>;
}
