//! The headline a run prints at its end: mean kWh per half hour by year, per Acorn group
//! and per tariff.
//!
//! A module of its own because it is computed from two sources that must agree: the
//! merged aggregate when this master finished the job, and `results/` when the job was
//! finished before this master started (then nothing is computed again).
use std::collections::BTreeMap;

use serde::Serialize;
use wattswarm_core::aggregate::{add_count, add_kwh, Dim, JobAggregate};
use wattswarm_core::kwh::MICRO;
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_core::{Error, Result};

use super::tables::{mean, Table, Tables};
use super::{read_json, JobSummary};

/// What a run prints at the end: mean kWh per half hour by year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    pub years: Vec<i32>,
    /// `(group, mean per year)`, Acorn groups then tariffs.
    pub by_acorn_grouped: Vec<(String, Vec<Option<f64>>)>,
    pub by_tariff: Vec<(String, Vec<Option<f64>>)>,
}

/// One group-month's readings and micro-kWh, as the headline needs them.
type GroupMonth<'a> = (Dim, &'a str, i32, u64, i64);

fn headline_of<'a>(cells: impl Iterator<Item = GroupMonth<'a>> + Clone) -> Result<Headline> {
    let mut years: Vec<i32> = cells.clone().map(|c| c.2.div_euclid(12)).collect();
    years.sort_unstable();
    years.dedup();
    let table = |dim: Dim| -> Result<Vec<(String, Vec<Option<f64>>)>> {
        let mut by: BTreeMap<&str, BTreeMap<i32, (u64, i64)>> = BTreeMap::new();
        for (d, g, m, readings, kwh) in cells.clone() {
            if d == dim {
                let y = m.div_euclid(12);
                let c = by.entry(g).or_default().entry(y).or_default();
                c.0 = add_count(c.0, readings, || format!("readings of {g} in {y}"))?;
                c.1 = add_kwh(c.1, kwh, || format!("kWh of {g} in {y}"))?;
            }
        }
        Ok(by
            .into_iter()
            .map(|(g, ys)| {
                let means = years.iter().map(|y| ys.get(y).and_then(|&(n, s)| mean(s, n))).collect();
                (g.to_string(), means)
            })
            .collect())
    };
    Ok(Headline {
        by_acorn_grouped: table(Dim::AcornGrouped)?,
        by_tariff: table(Dim::Tariff)?,
        years,
    })
}

pub fn headline(agg: &JobAggregate) -> Result<Headline> {
    headline_of(agg.groups.iter().map(|((d, g, m), (s, _))| (*d, g.as_str(), *m, s.readings, s.kwh_sum)))
}

/// The dense month number of `YYYY-MM` (the inverse of `format_month`).
fn parse_month(m: &str) -> Option<i32> {
    let (y, mo) = m.split_once('-')?;
    Some(y.parse::<i32>().ok()? * 12 + mo.parse::<i32>().ok()? - 1)
}

/// The summary and headline of a job finished earlier, from its `results/`.
pub fn finished_outcome(out: &Output) -> Result<(JobSummary, Headline)> {
    let summary: JobSummary = read_json(out, &format!("{RESULTS_DIR}/summary.json"))?;
    let tables = Tables::read(out)?;
    let mut cells = Vec::new();
    for dim in [Dim::AcornGrouped, Dim::Tariff] {
        for r in tables.month(dim) {
            let month = parse_month(&r.month).ok_or_else(|| Error::Corrupt {
                path: out.shown(&Table::Month(dim).file()).into(),
                reason: format!("month {:?} is not YYYY-MM", r.month),
            })?;
            // kWh sums are written from exact micro-kWh, well inside f64's exact range.
            cells.push((dim, r.group.name(), month, r.readings, (r.kwh_sum * MICRO as f64).round() as i64));
        }
    }
    let headline = headline_of(cells.iter().copied())?;
    Ok((summary, headline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tables::{sample_aggregate, tables};

    /// A master started on a finished output prints the headline the finishing master
    /// printed, from the tables as written.
    #[test]
    fn the_headline_read_back_is_the_one_computed() {
        let agg = sample_aggregate();
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        out.prepare().unwrap();
        let mut files = tables(&agg).json_files();
        files.push((format!("{RESULTS_DIR}/summary.json"), br#"{"rows":4,"readings":2,"nulls":1,"rejected":0,"households":2,"first_reading":null,"last_reading":null,"input_bytes":9,"seconds":0.5,"workers":1,"chunks":1,"files":1,"lines":5,"blank_lines":0,"header_lines":1,"kwh_sum":0.75,"parquet_bytes":7}"#.to_vec()));
        out.write_atomic_all(&files.iter().map(|(rel, b)| (rel.as_str(), b.as_slice())).collect::<Vec<_>>()).unwrap();
        let (summary, read) = finished_outcome(&out).unwrap();
        let computed = headline(&agg).unwrap();
        assert_eq!(read, computed);
        assert_eq!(computed.years, [2013]);
        assert_eq!(computed.by_tariff, [("Std".to_string(), vec![Some(0.375)]), ("ToU".to_string(), vec![None])]);
        assert_eq!((summary.rows, summary.kwh_sum), (4, 0.75));
    }
}
