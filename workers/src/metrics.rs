//! The worker's Prometheus metrics, all declared here. Names follow
//! `wattswarm_<name>_<unit>[_total]`; every series carries the `worker` label (its id).
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use wattswarm_core::process::ChunkReport;
use wattswarm_core::prom::{registered, render, CHUNK_SECONDS_BUCKETS};

pub struct WorkerMetrics {
    registry: Registry,
    pub rows: IntCounter,
    pub read_bytes: IntCounter,
    pub rejected_rows: IntCounter,
    pub null_readings: IntCounter,
    pub chunks: IntCounterVec,
    pub chunk_seconds: Histogram,
    pub stage_seconds: prometheus::CounterVec,
    pub parquet_bytes: IntCounter,
    pub chunk_progress_bytes: IntGauge,
    pub busy: IntGauge,
    pub store_write_seconds: HistogramVec,
    /// Of `read_bytes`, those read from a DataNode's disk (HDFS short-circuit reads): the
    /// HDFS client counts them; brought up to date with each chunk's report, as the others.
    pub short_circuit_bytes: IntCounter,
    pub direct_read_bytes: IntCounter,
}

/// Store write buckets, seconds: a local commit takes milliseconds, an HDFS file close
/// about half a second, a MongoDB batch anywhere between.
pub const STORE_SECONDS_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl WorkerMetrics {
    pub fn new(worker: &str) -> WorkerMetrics {
        let labels = [("worker".to_string(), worker.to_string())].into_iter().collect();
        let registry = Registry::new_custom(Some("wattswarm_worker".into()), Some(labels)).expect("valid prefix");
        let r = &registry;
        WorkerMetrics {
            rows: registered(r, IntCounter::new("ingested_rows_total", "Accepted data rows.")),
            read_bytes: registered(r, IntCounter::new("read_bytes_total", "Input bytes read.")),
            rejected_rows: registered(r, IntCounter::new("rejected_rows_total", "Lines rejected (see rejects.csv).")),
            null_readings: registered(r, IntCounter::new("null_readings_total", "Rows whose kWh is Null or empty.")),
            parquet_bytes: registered(r, IntCounter::new("parquet_written_bytes_total", "Parquet bytes written.")),
            chunk_progress_bytes: registered(r, IntGauge::new("chunk_progress_bytes", "Input bytes done in the current chunk.")),
            busy: registered(r, IntGauge::new("busy_chunks", "Chunks being processed now (0 or 1).")),
            chunks: registered(
                r,
                IntCounterVec::new(Opts::new("chunks_total", "Chunks this worker finished, by outcome (done, failed)."), &["outcome"]),
            ),
            chunk_seconds: registered(
                r,
                Histogram::with_opts(
                    HistogramOpts::new("chunk_duration_seconds", "Wall time to process one chunk.").buckets(CHUNK_SECONDS_BUCKETS.to_vec()),
                ),
            ),
            stage_seconds: registered(
                r,
                prometheus::CounterVec::new(Opts::new("stage_seconds_total", "Seconds spent per stage: read, parse, encode, write."), &["stage"]),
            ),
            store_write_seconds: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "store_write_seconds",
                        "Store write latency: committing a chunk's Parquet files (store=parquet), one MongoDB insert batch (store=mongodb).",
                    )
                    .buckets(STORE_SECONDS_BUCKETS.to_vec()),
                    &["store"],
                ),
            ),
            short_circuit_bytes: registered(
                r,
                IntCounter::new("hdfs_short_circuit_read_bytes_total", "Input bytes read from a DataNode's disk (HDFS short-circuit reads)."),
            ),
            direct_read_bytes: registered(
                r,
                IntCounter::new("hdfs_direct_read_bytes_total", "Input bytes read over TCP from a DataNode by the direct reader (hdfs_direct_read)."),
            ),
            registry,
        }
    }

    pub fn record(&self, r: &ChunkReport, seconds: f64) {
        let t = &r.aggregate.totals;
        self.rows.inc_by(t.rows);
        self.read_bytes.inc_by(t.input_bytes);
        self.rejected_rows.inc_by(t.rejected);
        self.null_readings.inc_by(t.nulls);
        self.parquet_bytes.inc_by(r.parquet_bytes);
        // Only the worker's loop records, one report at a time: the only writer of these
        // counters, which follow the client's process-wide totals.
        for (counter, total) in [
            (&self.short_circuit_bytes, wattswarm_core::store::hdfs::short_circuit_read_bytes()),
            (&self.direct_read_bytes, wattswarm_core::store::hdfs::direct_read_bytes()),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        self.chunks.with_label_values(&["done"]).inc();
        self.chunk_seconds.observe(seconds);
        for (stage, s) in r.stages.by_name() {
            self.stage_seconds.with_label_values(&[stage]).inc_by(s);
        }
        self.store_write_seconds.with_label_values(&["parquet"]).observe(r.commit_seconds);
        let mongodb = self.store_write_seconds.with_label_values(&["mongodb"]);
        for &s in &r.sink_write_seconds {
            mongodb.observe(s);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}
