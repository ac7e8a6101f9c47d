//! Prometheus helpers shared by the master's and the worker's metrics modules (each
//! binary declares its own metrics; this is only how they are registered and rendered).
use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

/// Registers a metric with `registry` and hands it back (the registry keeps a clone).
pub fn registered<M: Collector + Clone + 'static>(registry: &Registry, m: prometheus::Result<M>) -> M {
    let m = m.expect("metric names and labels are constants");
    registry.register(Box::new(m.clone())).expect("each metric is registered once");
    m
}

/// A registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buf).expect("text encoding cannot fail");
    String::from_utf8(buf).expect("the text format is UTF-8")
}

/// Chunk wall-time buckets, seconds (a 128 MiB chunk takes about half a second per core).
pub const CHUNK_SECONDS_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
