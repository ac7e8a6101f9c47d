//! The master's Prometheus metrics, all declared here. Names follow
//! `wattswarm_<name>_<unit>[_total]`: counters end in `_total`, durations are `_seconds`,
//! sizes `_bytes`; label values come from small fixed sets (chunk states, stages).
use prometheus::{CounterVec, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};
use wattswarm_core::process::ChunkReport;
use wattswarm_core::prom::{registered, render, CHUNK_SECONDS_BUCKETS};

use crate::results::Tables;

pub struct MasterMetrics {
    registry: Registry,
    pub ingested_rows: IntCounter,
    pub read_bytes: IntCounter,
    pub rejected_rows: IntCounter,
    pub null_readings: IntCounter,
    pub parquet_bytes: IntCounter,
    pub readings_stored: IntCounter,
    pub chunks: IntGaugeVec,
    pub chunk_seconds: Histogram,
    pub stage_seconds: CounterVec,
    pub chunks_completed: IntCounter,
    pub chunks_resumed: IntCounter,
    pub chunk_failures: IntCounter,
    pub leases_expired: IntCounter,
    pub chunks_retried: IntCounter,
    pub stale_reports: IntCounter,
    pub reports_refused: IntCounter,
    pub workers_alive: IntGauge,
    pub progress: Gauge,
    pub eta: Gauge,
    pub input_bytes: IntGauge,
    pub finished: Gauge,
    pub result_acorn_grouped: GaugeVec,
    pub result_acorn_grouped_households: IntGaugeVec,
    pub result_tariff: GaugeVec,
    pub result_profile: GaugeVec,
    pub docker_workers: IntGaugeVec,
    pub autoscale_target: IntGauge,
}

impl MasterMetrics {
    pub fn new() -> MasterMetrics {
        let registry = Registry::new_custom(Some("wattswarm".into()), None).expect("valid prefix");
        let r = &registry;
        MasterMetrics {
            ingested_rows: registered(r, IntCounter::new("ingested_rows_total", "Accepted data rows, from reported chunks.")),
            read_bytes: registered(r, IntCounter::new("read_bytes_total", "Input bytes of reported chunks.")),
            rejected_rows: registered(r, IntCounter::new("rejected_rows_total", "Lines rejected (see rejects.csv).")),
            null_readings: registered(r, IntCounter::new("null_readings_total", "Rows whose kWh is Null or empty.")),
            parquet_bytes: registered(r, IntCounter::new("parquet_written_bytes_total", "Parquet bytes written by reported chunks.")),
            readings_stored: registered(r, IntCounter::new("mongo_readings_stored_total", "Readings newly stored in MongoDB by reported chunks (a retry finds its rows there and adds none).")),
            chunks: registered(r, IntGaugeVec::new(Opts::new("job_chunks", "Chunks by state: pending, running, done, failed."), &["state"])),
            chunk_seconds: registered(r, Histogram::with_opts(
                HistogramOpts::new("chunk_duration_seconds", "Wall time a worker took for one chunk.")
                    .buckets(CHUNK_SECONDS_BUCKETS.to_vec())
            )),
            stage_seconds: registered(r, CounterVec::new(
                Opts::new("stage_seconds_total", "Worker seconds per stage: read, parse, encode, write."),
                &["stage"]
            )),
            chunks_completed: registered(r, IntCounter::new("chunks_completed_total", "Chunk reports accepted by this master.")),
            chunks_resumed: registered(r, IntCounter::new("chunks_resumed_total", "Chunks found done in the output's state at start, not processed again.")),
            chunk_failures: registered(r, IntCounter::new("chunk_failures_total", "Chunk attempts that failed.")),
            leases_expired: registered(r, IntCounter::new("leases_expired_total", "Leases whose worker stopped heartbeating.")),
            chunks_retried: registered(r, IntCounter::new("chunks_retried_total", "Chunks put back in the queue after a failure or an expired lease.")),
            stale_reports: registered(r, IntCounter::new("stale_reports_total", "Reports from attempts that no longer held the lease, ignored.")),
            reports_refused: registered(r, IntCounter::new("reports_refused_total", "Reports refused: not from the lease holder, or inconsistent with their chunk (answered 400).")),
            workers_alive: registered(r, IntGauge::new("workers_alive", "Workers heard from within the lease timeout.")),
            progress: registered(r, Gauge::new("job_progress_ratio", "Share of the input's bytes done, 0 to 1.")),
            eta: registered(r, Gauge::new("job_eta_seconds", "Estimated seconds to the end of the job at the current rate.")),
            input_bytes: registered(r, IntGauge::new("job_input_bytes", "Bytes of input in the job.")),
            finished: registered(r, Gauge::new("job_finished_timestamp_seconds", "Unix time the job's results were written; 0 until then.")),
            result_acorn_grouped: registered(r, GaugeVec::new(
                Opts::new("result_acorn_grouped_mean_kwh", "Mean kWh per half-hour reading by Acorn group and month, once the job has ended."),
                &["acorn_grouped", "month"]
            )),
            result_acorn_grouped_households: registered(r, IntGaugeVec::new(
                Opts::new("result_acorn_grouped_households", "Households with rows in each Acorn group and month, once the job has ended."),
                &["acorn_grouped", "month"]
            )),
            result_tariff: registered(r, GaugeVec::new(
                Opts::new("result_tariff_mean_kwh", "Mean kWh per half-hour reading by tariff (Std, ToU) and month, once the job has ended."),
                &["tariff", "month"]
            )),
            result_profile: registered(r, GaugeVec::new(
                Opts::new("result_tariff_halfhour_mean_kwh", "Daily load profile: mean kWh by tariff and half hour of the day, once the job has ended."),
                &["tariff", "halfhour"]
            )),
            docker_workers: registered(r, IntGaugeVec::new(
                Opts::new("docker_workers", "Worker containers (compose) or tasks (swarm) by state, when the Docker socket is mounted."),
                &["state"]
            )),
            autoscale_target: registered(r, IntGauge::new("autoscale_target_workers", "Workers the autoscaler asked Docker for (with --autoscale).")),
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
        self.readings_stored.inc_by(r.rows_stored);
        self.chunks_completed.inc();
        self.chunk_seconds.observe(r.seconds);
        for (stage, s) in r.stages.by_name() {
            self.stage_seconds.with_label_values(&[stage]).inc_by(s);
        }
    }

    /// Exports the headline aggregates as gauges once the job has ended, so the results
    /// dashboard shows the answers beside the machinery. Groups without a reading have no
    /// mean and no series.
    pub fn publish_results(&self, tables: &Tables) {
        let acorn = tables.by_acorn_grouped_month.iter().map(|r| ([r.group.name(), r.month.as_str()], r.kwh_mean));
        set_means(&self.result_acorn_grouped, acorn);
        let tariff = tables.by_tariff_month.iter().map(|r| ([r.group.name(), r.month.as_str()], r.kwh_mean));
        set_means(&self.result_tariff, tariff);
        let profile = tables.by_tariff_halfhour.iter().map(|r| ([r.tariff.as_str(), r.halfhour.as_str()], r.kwh_mean));
        set_means(&self.result_profile, profile);
        // Beside each Acorn group's mean, how many households it averages: a change of
        // cohort from one month to the next shows there, not as a change of consumption.
        self.result_acorn_grouped_households.reset();
        for r in &tables.by_acorn_grouped_month {
            self.result_acorn_grouped_households.with_label_values(&[r.group.name(), r.month.as_str()]).set(r.households as i64);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.finished.set(now.as_secs_f64());
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

/// Replaces `gauge`'s series with one per labelled mean; a cell without a mean has none.
fn set_means<'a>(gauge: &GaugeVec, means: impl Iterator<Item = ([&'a str; 2], Option<f64>)>) {
    gauge.reset();
    for (labels, mean) in means {
        if let Some(mean) = mean {
            gauge.with_label_values(&labels).set(mean);
        }
    }
}

impl Default for MasterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tables::{sample_aggregate, tables};

    /// The results dashboard reads these series by name and label.
    #[test]
    fn results_become_labelled_gauges_and_a_cell_without_a_mean_has_none() {
        let m = MasterMetrics::new();
        m.publish_results(&tables(&sample_aggregate()));
        let text = m.render();
        for line in [
            r#"wattswarm_result_acorn_grouped_mean_kwh{acorn_grouped="Affluent",month="2013-01"} 0.375"#,
            r#"wattswarm_result_acorn_grouped_households{acorn_grouped="Affluent",month="2013-01"} 1"#,
            r#"wattswarm_result_acorn_grouped_households{acorn_grouped="Adversity",month="2013-02"} 1"#,
            r#"wattswarm_result_tariff_mean_kwh{month="2013-01",tariff="Std"} 0.375"#,
            r#"wattswarm_result_tariff_halfhour_mean_kwh{halfhour="23:30",tariff="Std"} 0.25"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains(r#"tariff="ToU""#) && !text.contains(r#"wattswarm_result_acorn_grouped_mean_kwh{acorn_grouped="Adversity""#), "no reading, no mean: {text}");
    }
}
