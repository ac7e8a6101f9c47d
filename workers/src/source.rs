//! The worker's view of its master: the requests of [`wattswarm_core::protocol`], sent as
//! they are, to an actor address in one process or over HTTP between processes.
use std::future::Future;

use wattswarm_core::protocol::{Heartbeat, HeartbeatReply, LeaseReply, LeaseRequest, Leave, Report};
use wattswarm_core::retry::Retriable;

/// Why a request did not get its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("cannot reach the master at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the master at {url} refused the token (401): give workers the master's WATTSWARM_TOKEN")]
    Unauthorized { url: String },
    /// The master runs another job than the one this worker joined (HTTP 409).
    #[error("the master runs another job now")]
    JobChanged,
    /// The master refused the request itself (HTTP 400): sending it again is refused again.
    #[error("the master refused the request: {0}")]
    Refused(String),
    #[error("the master at {url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
}

impl Retriable for LinkError {
    /// A master that does not answer may be restarting; one that refuses the token may
    /// get the right one from its operator. Another job, or a refused request, is final.
    fn retriable(&self) -> bool {
        !matches!(self, LinkError::JobChanged | LinkError::Refused(_))
    }
}

/// Where a worker gets work and reports it.
pub trait LeaseSource: Clone + Unpin + 'static {
    /// Asks for a chunk. Also tells the master this worker is alive and idle.
    fn lease(&self, req: LeaseRequest) -> impl Future<Output = Result<LeaseReply, LinkError>>;
    /// Tells the master this worker is alive and how far it is in its chunk.
    fn heartbeat(&self, req: Heartbeat) -> impl Future<Output = Result<HeartbeatReply, LinkError>>;
    /// Reports a finished or failed chunk.
    fn report(&self, req: Report) -> impl Future<Output = Result<(), LinkError>>;
    /// Says this worker is leaving: any lease it still holds goes back to the queue.
    fn leave(&self, req: Leave) -> impl Future<Output = Result<(), LinkError>>;
}
