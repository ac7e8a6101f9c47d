//! What the master and its workers say to each other, defined once.
//!
//! Each request is one type: the same value is an actix message to the master actor in
//! one process (`wattswarm run`) and a JSON body posted to [`Endpoint::PATH`] between
//! processes (`wattswarm master` and `wattswarm worker`). Nothing is remapped field by
//! field on the way, so the two paths cannot drift apart.
//!
//! ```text
//! worker                                    master
//!   Register {worker, metrics_url}      ─▶  JobInfo
//!   LeaseRequest {worker, job_id, committing?}  ─▶  LeaseReply: Work(Lease) | Wait | Finished
//!   Heartbeat {…, chunk, bytes_done, committing?} ─▶  HeartbeatReply {held}
//!   Report {worker, job_id, outcome}    ─▶  () or ReportRefused (HTTP 400)
//!   Leave {worker, job_id}              ─▶  ()
//! ```
//! A request naming a job the master does not run is answered 409 over HTTP; in one
//! process there is only one job.
use actix::Message;
use serde::{Deserialize, Serialize};

use crate::chunk::ChunkSpec;
use crate::process::ChunkReport;

/// A request's place in the HTTP API (`/v1/...`).
pub trait Endpoint {
    const PATH: &'static str;
}

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

/// A worker introduces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "JobInfo")]
pub struct Register {
    pub worker: String,
    /// Where the worker's own `/metrics` can be scraped, if it serves one.
    pub metrics_url: Option<String>,
}

impl Endpoint for Register {
    const PATH: &'static str = "/v1/register";
}

/// What a registered worker needs to process the job's chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Changes when the master starts a different job; a worker holding an old one
    /// registers again.
    pub job_id: String,
    pub output: crate::store::Location,
    pub households: Option<crate::layout::Households>,
    pub settings: crate::process::Settings,
    /// `database.collection` where workers store every accepted row; none: nowhere. The
    /// worker brings its own MongoDB URI and credentials: secrets never cross the API.
    #[serde(default)]
    pub readings: Option<String>,
}

/// A worker of a job: who sends a request, for which job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRef {
    pub worker: String,
    pub job_id: String,
}

/// A worker with a free slot asks for work (and so says it is alive and idle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "LeaseReply")]
pub struct LeaseRequest {
    #[serde(flatten)]
    pub from: WorkerRef,
    /// The chunk this worker is still committing, if any: it keeps that lease, which a
    /// worker asking again otherwise gives up, and reports it when its files are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committing: Option<u32>,
}

impl Endpoint for LeaseRequest {
    const PATH: &'static str = "/v1/lease";
}

/// A worker is alive and `bytes_done` into `chunk` (every second while it works).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "HeartbeatReply")]
pub struct Heartbeat {
    #[serde(flatten)]
    pub from: WorkerRef,
    pub chunk: u32,
    pub bytes_done: u64,
    /// The chunk this worker is still committing, if any: its lease is renewed too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committing: Option<u32>,
}

impl Endpoint for Heartbeat {
    const PATH: &'static str = "/v1/heartbeat";
}

/// The answer to a heartbeat: false when the worker no longer holds the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub held: bool,
}

/// How a leased chunk ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChunkOutcome {
    Done(Box<ChunkReport>),
    /// The chunk could not be processed (unreadable input, full disk…). The master
    /// retries it elsewhere, up to its limit.
    Failed { chunk: u32, attempt: u32, error: String },
}

impl ChunkOutcome {
    /// The chunk this outcome is of.
    pub fn chunk(&self) -> u32 {
        match self {
            ChunkOutcome::Done(r) => r.chunk,
            ChunkOutcome::Failed { chunk, .. } => *chunk,
        }
    }
}

/// A worker reports a chunk it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Message)]
#[rtype(result = "Result<(), ReportRefused>")]
pub struct Report {
    #[serde(flatten)]
    pub from: WorkerRef,
    pub outcome: ChunkOutcome,
}

impl Endpoint for Report {
    const PATH: &'static str = "/v1/report";
}

/// A report that breaks an invariant of the worker's own code (the master's checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk {chunk}: {reason}")]
pub struct BadReport {
    pub chunk: u32,
    pub reason: String,
}

/// Why a report was not taken (HTTP 400). The worker does not send it again: the master
/// runs the chunk again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    #[error("worker {worker} reports chunk {chunk} attempt {attempt}, which {holder} holds")]
    NotTheHolder { worker: String, chunk: u32, attempt: u32, holder: String },
    #[error("{0}; the chunk is run again")]
    Bad(#[from] BadReport),
}

/// A worker leaves (SIGTERM): any lease it holds goes back to the queue at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Message)]
#[rtype(result = "()")]
pub struct Leave {
    #[serde(flatten)]
    pub from: WorkerRef,
}

impl Endpoint for Leave {
    const PATH: &'static str = "/v1/leave";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON bodies are the API that ARCHITECTURE.md documents and other clients
    /// speak: flattening `from` keeps `worker` and `job_id` at the top level.
    #[test]
    fn bodies_keep_the_documented_shape() {
        let from = WorkerRef { worker: "w1".into(), job_id: "j".into() };
        let hb = Heartbeat { from: from.clone(), chunk: 3, bytes_done: 9, committing: None };
        assert_eq!(serde_json::to_string(&hb).unwrap(), r#"{"worker":"w1","job_id":"j","chunk":3,"bytes_done":9}"#);
        assert_eq!(serde_json::to_string(&LeaseRequest { from: from.clone(), committing: None }).unwrap(), r#"{"worker":"w1","job_id":"j"}"#);
        // A worker still committing a chunk names it; older bodies without it still parse.
        let asking = LeaseRequest { from: from.clone(), committing: Some(2) };
        let text = serde_json::to_string(&asking).unwrap();
        assert_eq!(text, r#"{"worker":"w1","job_id":"j","committing":2}"#);
        assert_eq!(serde_json::from_str::<LeaseRequest>(&text).unwrap(), asking);
        let hb: Heartbeat = serde_json::from_str(r#"{"worker":"w1","job_id":"j","chunk":3,"bytes_done":9,"committing":2}"#).unwrap();
        assert_eq!(hb.committing, Some(2));
        let failed = Report { from, outcome: ChunkOutcome::Failed { chunk: 1, attempt: 2, error: "disk full".into() } };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(text, r#"{"worker":"w1","job_id":"j","outcome":{"Failed":{"chunk":1,"attempt":2,"error":"disk full"}}}"#);
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), failed);
        let bad: Result<Heartbeat, _> = serde_json::from_str(r#"{"worker":"w1","chunk":3,"bytes_done":9}"#);
        assert!(bad.unwrap_err().to_string().contains("job_id"));
    }
}
