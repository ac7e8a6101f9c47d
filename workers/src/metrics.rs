//! The worker's Prometheus metrics, all declared here. Names follow
//! `wattswarm_<name>_<unit>[_total]`; every series carries the `worker` label (its id).
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use wattswarm_core::process::ChunkReport;

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
}

impl WorkerMetrics {
    pub fn new(worker: &str) -> WorkerMetrics {
        let labels = [("worker".to_string(), worker.to_string())].into_iter().collect();
        let registry = Registry::new_custom(Some("wattswarm_worker".into()), Some(labels)).expect("valid prefix");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("registered once");
            g
        };
        let chunks = IntCounterVec::new(Opts::new("chunks_total", "Chunks this worker finished, by outcome (done, failed)."), &["outcome"]).expect("valid");
        registry.register(Box::new(chunks.clone())).expect("registered once");
        let chunk_seconds = Histogram::with_opts(
            HistogramOpts::new("chunk_duration_seconds", "Wall time to process one chunk.")
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("valid");
        registry.register(Box::new(chunk_seconds.clone())).expect("registered once");
        let stage_seconds = prometheus::CounterVec::new(
            Opts::new("stage_seconds_total", "Seconds spent per stage: read, parse, encode, write."),
            &["stage"],
        )
        .expect("valid");
        registry.register(Box::new(stage_seconds.clone())).expect("registered once");
        WorkerMetrics {
            rows: counter("ingested_rows_total", "Accepted data rows."),
            read_bytes: counter("read_bytes_total", "Input bytes read."),
            rejected_rows: counter("rejected_rows_total", "Lines rejected (see rejects.csv)."),
            null_readings: counter("null_readings_total", "Rows whose kWh is Null or empty."),
            parquet_bytes: counter("parquet_written_bytes_total", "Parquet bytes written."),
            chunk_progress_bytes: gauge("chunk_progress_bytes", "Input bytes done in the current chunk."),
            busy: gauge("busy_chunks", "Chunks being processed now (0 or 1)."),
            chunks,
            chunk_seconds,
            stage_seconds,
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
        self.chunks.with_label_values(&["done"]).inc();
        self.chunk_seconds.observe(seconds);
        for (stage, s) in r.stages.by_name() {
            self.stage_seconds.with_label_values(&[stage]).inc_by(s);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}
