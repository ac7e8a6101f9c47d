//! Every chunk report is checked before it is saved or merged.
//!
//! A report comes from a peer: a worker with a bug, a worker of another version, or
//! anyone holding the token. Once saved under `_state/` it is merged again by every
//! restarted master, so a report that cannot be merged (a household index past its table)
//! would crash-loop the master. The checks are the invariants the worker's own code
//! guarantees; a report that breaks one is refused with the first broken rule.
use wattswarm_core::aggregate::{ChunkAggregate, Dim};
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::process::ChunkReport;
use wattswarm_core::protocol::BadReport;

/// Checks `r` against the chunk it claims to be.
pub fn check(r: &ChunkReport, spec: &ChunkSpec) -> Result<(), BadReport> {
    let bad = |reason: String| BadReport { chunk: r.chunk, reason };
    if r.chunk != spec.id {
        return Err(bad(format!("reported as chunk {}, stored as chunk {}", r.chunk, spec.id)));
    }
    check_aggregate(&r.aggregate, spec).map_err(bad)
}

fn check_aggregate(a: &ChunkAggregate, spec: &ChunkSpec) -> Result<(), String> {
    let t = &a.totals;
    if t.input_bytes != spec.len() {
        return Err(format!("it read {} bytes of a {}-byte range", t.input_bytes, spec.len()));
    }
    // Every line starts at a distinct byte of the range.
    if t.lines > spec.len() {
        return Err(format!("{} lines in {} bytes", t.lines, spec.len()));
    }
    let parts = [t.rows, t.rejected, t.blank_lines, t.header_lines].iter().map(|&n| n as u128).sum::<u128>();
    if parts != t.lines as u128 {
        return Err(format!(
            "lines ({}) are not rows ({}) + rejected ({}) + blank ({}) + header ({})",
            t.lines, t.rows, t.rejected, t.blank_lines, t.header_lines
        ));
    }
    if t.readings as u128 + t.nulls as u128 != t.rows as u128 {
        return Err(format!("rows ({}) are not readings ({}) + nulls ({})", t.rows, t.readings, t.nulls));
    }
    match (t.first_ts, t.last_ts) {
        (None, None) if t.rows == 0 => {}
        (Some(f), Some(l)) if t.rows > 0 && f <= l => {}
        _ => return Err(format!("first and last reading ({:?}, {:?}) do not fit {} rows", t.first_ts, t.last_ts, t.rows)),
    }
    if !a.households.windows(2).all(|w| w[0] < w[1]) {
        return Err("the household table is not sorted and distinct".into());
    }
    if a.households.len() as u64 > t.rows {
        return Err(format!("{} households for {} rows", a.households.len(), t.rows));
    }
    let n = a.households.len() as u32;
    let mut kwh_by_dim: Vec<i128> = Vec::new();
    for dim in Dim::ALL {
        let (mut rows, mut readings, mut kwh) = (0u128, 0u128, 0i128);
        for g in a.groups.iter().filter(|g| g.dim == dim) {
            let s = &g.stats;
            if let Some(&i) = g.households.iter().find(|&&i| i >= n) {
                return Err(format!("{} {} {} names household {i} of {n}", dim.field(), g.group, g.month));
            }
            if g.households.is_empty() || !g.households.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("{} {} {}: its households are not a sorted, non-empty set", dim.field(), g.group, g.month));
            }
            let minmax_fit = match (s.kwh_min, s.kwh_max) {
                (None, None) => s.readings == 0 && s.kwh_sum == 0,
                (Some(lo), Some(hi)) => s.readings > 0 && lo <= hi,
                _ => false,
            };
            if s.readings > s.rows || !minmax_fit {
                return Err(format!("{} {} {}: inconsistent statistics {s:?}", dim.field(), g.group, g.month));
            }
            rows += s.rows as u128;
            readings += s.readings as u128;
            kwh += s.kwh_sum as i128;
        }
        if rows != t.rows as u128 || readings != t.readings as u128 {
            return Err(format!("the {} groups hold {rows} rows and {readings} readings, the chunk {} and {}", dim.field(), t.rows, t.readings));
        }
        kwh_by_dim.push(kwh);
    }
    let (mut readings, mut kwh) = (0u128, 0i128);
    for p in &a.profile {
        if p.slot >= 48 || p.readings == 0 {
            return Err(format!("profile cell {} slot {} with {} readings", p.tariff, p.slot, p.readings));
        }
        readings += p.readings as u128;
        kwh += p.kwh_sum as i128;
    }
    kwh_by_dim.push(kwh);
    if readings != t.readings as u128 {
        return Err(format!("the load profile holds {readings} readings, the chunk {}", t.readings));
    }
    if kwh_by_dim.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("the groupings disagree on the chunk's kWh: {kwh_by_dim:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use wattswarm_core::aggregate::Aggregator;
    use wattswarm_core::layout::Layout;
    use wattswarm_core::parse::{Line, Parser};
    use wattswarm_core::process::StageSeconds;

    use super::*;

    /// A real report of a small chunk, as a worker makes it.
    fn report() -> (ChunkReport, ChunkSpec) {
        let lines = [
            "MAC000002,Std,2012-10-12 00:30:00.0000000,0.143 ,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-12 01:00:00.0000000,Null,ACORN-A,Affluent",
            "MAC000003,ToU,2012-11-01 00:00:00.0000000,0.5,ACORN-Q,Adversity",
            "",
        ];
        let mut p = Parser::new(Layout::Six, None);
        let mut agg = Aggregator::default();
        let mut bytes = 0;
        for l in lines {
            bytes += l.len() as u64 + 1;
            match p.parse_line(l.as_bytes()) {
                Line::Row(r) => agg.add(&r).unwrap(),
                Line::Blank => agg.totals.blank_lines += 1,
                other => panic!("{other:?}"),
            }
        }
        agg.totals.lines = lines.len() as u64;
        agg.totals.input_bytes = bytes;
        let (aggregate, _) = agg.finish(&p.dicts).unwrap();
        let spec = ChunkSpec {
            id: 3,
            file_index: 0,
            path: PathBuf::from("a.csv").into(),
            layout: Layout::Six,
            file: Default::default(),
            start: 100,
            end: 100 + bytes,
        };
        let r = ChunkReport {
            chunk: 3,
            attempt: 1,
            aggregate,
            parquet_bytes: 1,
            stages: StageSeconds::default(),
            seconds: 0.0,
            rows_stored: 0,
            sink_write_seconds: vec![],
            commit_seconds: 0.0,
        };
        (r, spec)
    }

    #[test]
    fn a_real_report_passes() {
        let (r, spec) = report();
        check(&r, &spec).unwrap();
    }

    #[test]
    fn each_broken_rule_is_refused_with_its_reason() {
        let cases: Vec<(&str, fn(&mut ChunkReport))> = vec![
            ("names household", |r| r.aggregate.groups[0].households.push(99)),
            ("bytes of a", |r| r.aggregate.totals.input_bytes += 1),
            ("lines in", |r| {
                r.aggregate.totals.lines = 10_000;
                r.aggregate.totals.blank_lines = 10_000 - 3;
            }),
            ("are not rows", |r| r.aggregate.totals.rows += 1),
            ("readings", |r| {
                r.aggregate.totals.readings += 1;
                r.aggregate.totals.nulls -= 1;
            }),
            ("first and last", |r| r.aggregate.totals.first_ts = None),
            ("sorted and distinct", |r| r.aggregate.households.reverse()),
            ("inconsistent statistics", |r| r.aggregate.groups[0].stats.kwh_min = Some(i64::MAX)),
            ("groups hold", |r| r.aggregate.groups.pop().map(|_| ()).unwrap()),
            ("disagree", |r| r.aggregate.groups[0].stats.kwh_sum += 1),
            ("profile cell", |r| r.aggregate.profile[0].slot = 48),
            ("stored as chunk", |r| r.chunk = 4),
        ];
        for (want, break_it) in cases {
            let (mut r, spec) = report();
            break_it(&mut r);
            let err = check(&r, &spec).expect_err(want).to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
