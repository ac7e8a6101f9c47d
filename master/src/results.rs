//! The files a finished job leaves in `results/`, built from the merged partials, one
//! module per job:
//!
//! * [`tables`]: the aggregates as typed rows, written as the three `by_*_month.json`
//!   groupings and `by_tariff_halfhour.json`, sorted by their keys, so equal inputs give
//!   byte-identical files; the same rows go to MongoDB, the metrics and the report;
//! * [`household_day`]: `household_day.parquet`, streaming k-way merges of the chunks'
//!   sorted partials, at most 16 open at once (memory bounded whatever the number of
//!   chunks), begun while chunks still run;
//! * `rejects`: `rejects.csv`, with each rejected line's file and line number;
//! * [`headline`]: what a run prints at its end, computed or read back;
//! * `report.html`, the answers as charts in one offline page ([`report`]).
//!
//! This module holds what ties them together: `summary.json` and [`write_results`].
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wattswarm_core::aggregate::JobAggregate;
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::datetime::format_micros;
use wattswarm_core::kwh::to_f64;
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_core::{Error, Result};

use report::render;

pub mod headline;
pub mod report;
pub mod household_day;
mod rejects;
pub mod tables;

pub use headline::{finished_outcome, headline, Headline};
pub use household_day::{write_household_days, AheadMerge, DayMerges};
pub use tables::{tables, Group, GroupMonthRow, ProfileRow, Table, TableRows, Tables};

/// The page [`report`] writes beside the JSON.
pub const REPORT_FILE: &str = "report.html";

/// `results/summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Accepted data rows.
    pub rows: u64,
    /// Rows with a kWh value.
    pub readings: u64,
    /// Rows whose kWh is `Null` or empty.
    pub nulls: u64,
    /// Lines rejected (see `rejects.csv`).
    pub rejected: u64,
    /// Distinct LCLid among accepted rows.
    pub households: u64,
    pub first_reading: Option<String>,
    pub last_reading: Option<String>,
    pub input_bytes: u64,
    pub seconds: f64,
    pub workers: usize,
    pub chunks: usize,
    pub files: usize,
    pub lines: u64,
    pub blank_lines: u64,
    pub header_lines: u64,
    pub kwh_sum: f64,
    pub parquet_bytes: u64,
}

/// Whether `name` is a file a job writes in `results/`.
pub fn is_result_file(name: &str) -> bool {
    matches!(name, "summary.json" | "household_day.parquet" | "rejects.csv" | REPORT_FILE)
        || name.strip_suffix(".json").is_some_and(|t| Table::ALL.iter().any(|table| table.name() == t))
}

/// A JSON file of a finished job's `results/`, read back into its type.
fn read_json<T: DeserializeOwned>(out: &Output, rel: &str) -> Result<T> {
    let bytes = out.read(rel)?.ok_or_else(|| Error::Corrupt {
        path: out.shown(rel).into(),
        reason: "missing from a finished output: remove _SUCCESS to compute the job again".into(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: out.shown(rel).into(),
        reason: e.to_string(),
    })
}

/// Facts about the run that are not in the data.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub seconds: f64,
    pub workers: usize,
    pub files: usize,
    pub parquet_bytes: u64,
}

/// Writes every other result file from `tables` and the partials, after
/// [`write_household_days`]. [`crate::state::seal`] then marks the job done.
pub fn write_results(
    out: &Output,
    chunks: &[ChunkSpec],
    lines: &[u64],
    agg: &JobAggregate,
    tables: &Tables,
    facts: RunFacts,
) -> Result<JobSummary> {
    let rejects = if agg.totals.rejected > 0 {
        rejects::merge_rejects(out, chunks, lines)?
    } else {
        out.remove(&format!("{RESULTS_DIR}/rejects.csv"))?;
        Vec::new()
    };
    let t = &agg.totals;
    let kwh_sum = agg.kwh_sum()?;
    let summary = JobSummary {
        rows: t.rows,
        readings: t.readings,
        nulls: t.nulls,
        rejected: t.rejected,
        households: agg.households(),
        first_reading: t.first_ts.map(format_micros),
        last_reading: t.last_ts.map(format_micros),
        input_bytes: t.input_bytes,
        seconds: facts.seconds,
        workers: facts.workers,
        chunks: chunks.len(),
        files: facts.files,
        lines: t.lines,
        blank_lines: t.blank_lines,
        header_lines: t.header_lines,
        kwh_sum: to_f64(kwh_sum),
        parquet_bytes: facts.parquet_bytes,
    };
    let mut files = tables.json_files();
    files.push((format!("{RESULTS_DIR}/summary.json"), serde_json::to_vec_pretty(&summary).expect("summary serialises")));
    files.push((format!("{RESULTS_DIR}/{REPORT_FILE}"), render(&summary, tables, &rejects).into_bytes()));
    out.write_atomic_all(&files.iter().map(|(rel, b)| (rel.as_str(), b.as_slice())).collect::<Vec<_>>())?;
    Ok(summary)
}
