//! The wattswarm worker.
//!
//! A worker is an actix actor that pulls work: it asks its master for a chunk lease when
//! it has a free slot, runs [`wattswarm_core::process::produce_chunk`] on a blocking
//! thread (CPU-bound work never runs on the actor's event loop), commits the chunk's
//! files on another while it produces the next, heartbeats while it works, and reports
//! each chunk's partial aggregate once its files are committed. Where the master is, is hidden
//! behind [`LeaseSource`]: an actor address in one process, HTTP between processes
//! ([`http::HttpMaster`]). [`remote`] is the `wattswarm worker` process.
pub mod actor;
pub mod http;
pub mod metrics;
pub mod remote;
pub mod source;

pub use actor::{Ended, WorkerActor, WorkerProgress};
pub use source::{LeaseSource, LinkError};
