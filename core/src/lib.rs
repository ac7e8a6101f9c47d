//! The LCL domain, shared by the master and the workers.
//!
//! Everything that is about the data rather than about distribution lives here, so that
//! the embedded run, the separate processes and the tests all use one implementation:
//!
//! * [`layout`]: the two published layouts, header checks and the households table;
//! * [`datetime`] and [`kwh`]: exact, allocation-free field decoding;
//! * [`csv`]: splitting a CSV line into fields;
//! * [`parse`]: one CSV line to one [`parse::Row`] or a [`parse::Reject`] reason;
//! * [`chunk`]: cutting files into byte ranges and reading the lines a range owns;
//! * [`input`]: resolving a file, folder or glob and checking it is LCL data;
//! * [`aggregate`]: the per-chunk partial aggregates and their exact merge;
//! * [`parquet_out`]: the Arrow schema and the Parquet part writer;
//! * [`store`]: one [`store::Location`] type and one interface over a local folder, HDFS
//!   and object stores (S3, GCS);
//! * [`storage`]: the output and its commit rule (first attempt wins), on any store;
//! * [`lock`]: one master per output, with fencing;
//! * [`runtime`]: the I/O runtime the network clients run on, behind synchronous calls;
//! * [`retry`]: the backoff used for every server wattswarm waits for;
//! * [`process`]: a whole chunk, from bytes to a committed part and a partial;
//! * [`protocol`]: what the master and its workers say to each other, in one process or over HTTP;
//! * [`prom`]: registering and rendering Prometheus metrics;
//! * [`generate`]: data in the real format, quirks included, for tests and benchmarks.
pub mod aggregate;
pub mod chunk;
pub mod csv;
pub mod datetime;
pub mod error;
pub mod generate;
pub mod input;
pub mod kwh;
pub mod layout;
pub mod lock;
pub mod parquet_out;
pub mod parse;
pub mod process;
pub mod prom;
pub mod protocol;
pub mod retry;
pub mod runtime;
pub mod storage;
pub mod store;

pub use error::{Error, Result};

/// Stops the process at a named point when `WS_FAILPOINT` names it (not `WATTSWARM_…`:
/// that prefix is the configuration's, which refuses unknown keys): how the tests
/// kill a master or worker at an exact step (the seal's last one too) instead of hoping a
/// random `kill -9` lands there. Costs one string comparison where it is called.
pub fn failpoint(name: &str) {
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if WANTED.get_or_init(|| std::env::var("WS_FAILPOINT").ok()).as_deref() == Some(name) {
        eprintln!("wattswarm: failpoint {name}: aborting");
        std::process::abort();
    }
}
