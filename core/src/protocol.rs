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
