//! The master's Prometheus metrics, all declared here. Names follow
//! `wattswarm_<name>_<unit>[_total]`: counters end in `_total`, durations are `_seconds`,
//! sizes `_bytes`; label values come from small fixed sets (chunk states, stages).
use prometheus::{
    CounterVec, Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use wattswarm_core::process::ChunkReport;

pub struct MasterMetrics {
    registry: Registry,
    pub ingested_rows: IntCounter,
    pub read_bytes: IntCounter,
    pub rejected_rows: IntCounter,
    pub null_readings: IntCounter,
    pub parquet_bytes: IntCounter,
    pub chunks: IntGaugeVec,
    pub chunk_seconds: Histogram,
    pub stage_seconds: CounterVec,
    pub chunks_completed: IntCounter,
    pub chunks_resumed: IntCounter,
    pub chunk_failures: IntCounter,
    pub leases_expired: IntCounter,
    pub chunks_retried: IntCounter,
    pub stale_reports: IntCounter,
    pub workers_alive: IntGauge,
    pub progress: Gauge,
    pub eta: Gauge,
    pub input_bytes: IntGauge,
}

impl MasterMetrics {
    pub fn new() -> MasterMetrics {
        let registry = Registry::new_custom(Some("wattswarm".into()), None).expect("valid prefix");
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("valid metric");
                registry.register(Box::new(m.clone())).expect("registered once");
                m
            }};
        }
        MasterMetrics {
            ingested_rows: reg!(IntCounter::new("ingested_rows_total", "Accepted data rows, from reported chunks.")),
            read_bytes: reg!(IntCounter::new("read_bytes_total", "Input bytes of reported chunks.")),
            rejected_rows: reg!(IntCounter::new("rejected_rows_total", "Lines rejected (see rejects.csv).")),
            null_readings: reg!(IntCounter::new("null_readings_total", "Rows whose kWh is Null or empty.")),
            parquet_bytes: reg!(IntCounter::new("parquet_written_bytes_total", "Parquet bytes written by reported chunks.")),
            chunks: reg!(IntGaugeVec::new(Opts::new("job_chunks", "Chunks by state: pending, running, done, failed."), &["state"])),
            chunk_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new("chunk_duration_seconds", "Wall time a worker took for one chunk.")
                    .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
            )),
            stage_seconds: reg!(CounterVec::new(
                Opts::new("stage_seconds_total", "Worker seconds per stage: read, parse, encode, write."),
                &["stage"]
            )),
            chunks_completed: reg!(IntCounter::new("chunks_completed_total", "Chunk reports accepted by this master.")),
            chunks_resumed: reg!(IntCounter::new("chunks_resumed_total", "Chunks found done in the output's state at start, not processed again.")),
            chunk_failures: reg!(IntCounter::new("chunk_failures_total", "Chunk attempts that failed.")),
            leases_expired: reg!(IntCounter::new("leases_expired_total", "Leases whose worker stopped heartbeating.")),
            chunks_retried: reg!(IntCounter::new("chunks_retried_total", "Chunks put back in the queue after a failure or an expired lease.")),
            stale_reports: reg!(IntCounter::new("stale_reports_total", "Reports from attempts that no longer held the lease, ignored.")),
            workers_alive: reg!(IntGauge::new("workers_alive", "Workers heard from within the lease timeout.")),
            progress: reg!(Gauge::new("job_progress_ratio", "Share of the input's bytes done, 0 to 1.")),
            eta: reg!(Gauge::new("job_eta_seconds", "Estimated seconds to the end of the job at the current rate.")),
            input_bytes: reg!(IntGauge::new("job_input_bytes", "Bytes of input in the job.")),
            registry,
        }
    }

    pub fn record(&self, r: &ChunkReport) {
        let t = &r.aggregate.totals;
        self.ingested_rows.inc_by(t.rows);
        self.read_bytes.inc_by(t.input_bytes);
        self.rejected_rows.inc_by(t.rejected);
        self.null_readings.inc_by(t.nulls);
        self.parquet_bytes.inc_by(r.parquet_bytes);
        self.chunks_completed.inc();
        self.chunk_seconds.observe(r.seconds);
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

impl Default for MasterMetrics {
    fn default() -> Self {
        Self::new()
    }
}
