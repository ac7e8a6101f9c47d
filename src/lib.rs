//! wattswarm as one program: what composes the master and the workers, which are sibling
//! crates over `wattswarm-core` and know nothing of each other.
//!
//! * [`standalone`]: the whole job in one process (`wattswarm run`, and the tests);
//! * the `wattswarm` binary (`src/main.rs`) is the command line over the crates.
pub mod standalone;

pub use standalone::{run_standalone, StandaloneJob};
