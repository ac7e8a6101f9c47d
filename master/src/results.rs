//! The files a finished job leaves in `results/`, built from the merged partials.
//!
//! * `summary.json`, the three `by_*_month.json` groupings and `by_tariff_halfhour.json`,
//!   sorted by their keys, so equal inputs give byte-identical files;
//! * `household_day.parquet`, streaming k-way merges of the chunks' sorted partials, at
//!   most 16 open at once (memory bounded whatever the number of chunks);
//! * `rejects.csv`, with each rejected line's file and line number;
//! * `report.html`, the answers as charts in one offline page ([`crate::report`]).
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use wattswarm_core::aggregate::{add_count, add_kwh, Dim, JobAggregate, Stats};
use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::datetime::{format_micros, format_month, format_slot};
use wattswarm_core::kwh::{to_f64, MICRO};
use wattswarm_core::parquet_out::{properties, HouseholdDayCursor, HouseholdDayPartialWriter, HouseholdDayWriter};
use wattswarm_core::csv::split_csv;
use wattswarm_core::process::{csv_field, Settings};
use wattswarm_core::storage::{rejects_partial_name, Output, RESULTS_DIR, STATE_DIR};
use wattswarm_core::{Error, Result};

use crate::report::{render, RejectSample, REJECTS_SHOWN};

/// The page [`crate::report`] writes beside the JSON.
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

/// What a run prints at the end: mean kWh per half hour by year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    pub years: Vec<i32>,
    /// `(group, mean per year)`, Acorn groups then tariffs.
    pub by_acorn_grouped: Vec<(String, Vec<Option<f64>>)>,
    pub by_tariff: Vec<(String, Vec<Option<f64>>)>,
}

/// Mean kWh as a plain f64 from exact integers.
fn mean(sum_micro: i64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum_micro as f64 / MICRO as f64 / n as f64)
}

fn group_rows(agg: &JobAggregate, dim: Dim) -> Value {
    let rows: Vec<Value> = agg
        .groups
        .iter()
        .filter(|((d, _, _), _)| *d == dim)
        .map(|((_, group, month), (s, hh))| {
            let mut m = Map::new();
            m.insert(dim.field().into(), json!(group));
            m.insert("month".into(), json!(format_month(*month)));
            stats_fields(&mut m, s);
            m.insert("households".into(), json!(hh.len()));
            Value::Object(m)
        })
        .collect();
    Value::Array(rows)
}

fn stats_fields(m: &mut Map<String, Value>, s: &Stats) {
    m.insert("rows".into(), json!(s.rows));
    m.insert("readings".into(), json!(s.readings));
    m.insert("kwh_sum".into(), json!(to_f64(s.kwh_sum)));
    m.insert("kwh_mean".into(), json!(mean(s.kwh_sum, s.readings)));
    m.insert("kwh_min".into(), json!(s.kwh_min.map(to_f64)));
    m.insert("kwh_max".into(), json!(s.kwh_max.map(to_f64)));
}

fn profile_rows(agg: &JobAggregate) -> Value {
    Value::Array(
        agg.profile
            .iter()
            .map(|((tariff, slot), (n, sum))| {
                json!({"tariff": tariff, "halfhour": format_slot(*slot), "readings": n, "kwh_mean": mean(*sum, *n)})
            })
            .collect(),
    )
}

/// One aggregate table: its name (the JSON file in `results/`, and the MongoDB
/// collection), the fields that key a row, and its rows.
pub struct ResultTable {
    pub name: String,
    pub key: [&'static str; 2],
    pub rows: Value,
}

/// The name of a grouping's table (its JSON file in `results/`, its MongoDB collection).
fn month_table(dim: Dim) -> String {
    format!("by_{}_month", dim.field())
}

const PROFILE_TABLE: &str = "by_tariff_halfhour";

/// Every aggregate table of a job, sorted by key.
pub fn tables(agg: &JobAggregate) -> Vec<ResultTable> {
    let mut t: Vec<ResultTable> = Dim::ALL
        .iter()
        .map(|&dim| ResultTable {
            name: month_table(dim),
            key: [dim.field(), "month"],
            rows: group_rows(agg, dim),
        })
        .collect();
    t.push(ResultTable {
        name: PROFILE_TABLE.into(),
        key: ["tariff", "halfhour"],
        rows: profile_rows(agg),
    });
    t
}

/// Whether `name` is a file a job writes in `results/`.
pub fn is_result_file(name: &str) -> bool {
    matches!(name, "summary.json" | "household_day.parquet" | "rejects.csv" | REPORT_FILE)
        || name
            .strip_suffix(".json")
            .is_some_and(|t| t == PROFILE_TABLE || Dim::ALL.iter().any(|&d| month_table(d) == t))
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

/// The summary and headline of a job finished earlier, from its `results/`.
pub fn finished_outcome(out: &Output) -> Result<(JobSummary, Headline)> {
    let load = |rel: String| -> Result<Value> {
        let bytes = out.read(&rel)?.ok_or_else(|| Error::Corrupt {
            path: out.shown(&rel).into(),
            reason: "missing from a finished output: remove _SUCCESS to compute the job again".into(),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: out.shown(&rel).into(),
            reason: e.to_string(),
        })
    };
    let summary: JobSummary = serde_json::from_value(load(format!("{RESULTS_DIR}/summary.json"))?).map_err(|e| Error::Corrupt {
        path: out.shown(&format!("{RESULTS_DIR}/summary.json")).into(),
        reason: e.to_string(),
    })?;
    let mut rows = Vec::new();
    for dim in [Dim::AcornGrouped, Dim::Tariff] {
        let table = load(format!("{RESULTS_DIR}/{}.json", month_table(dim)))?;
        for r in table.as_array().into_iter().flatten() {
            let (Some(g), Some(m), Some(n), Some(kwh)) = (r[dim.field()].as_str(), r["month"].as_str(), r["readings"].as_u64(), r["kwh_sum"].as_f64()) else {
                continue;
            };
            let month = m.split_once('-').and_then(|(y, mo)| Some(y.parse::<i32>().ok()? * 12 + mo.parse::<i32>().ok()? - 1));
            if let Some(month) = month {
                // kWh sums are written from exact micro-kWh, well inside f64's exact range.
                rows.push((dim, g.to_owned(), month, n, (kwh * MICRO as f64).round() as i64));
            }
        }
    }
    let headline = headline_of(rows.iter().map(|(d, g, m, n, k)| (*d, g.as_str(), *m, *n, *k)))?;
    Ok((summary, headline))
}

/// At most this many partials are read at once. Each open partial holds a zstd decoder
/// per column and a decoded batch, about 1 MB for a 128 MiB chunk's, so one k-way merge
/// over every chunk grew with the input (the 11 GB file in 340 chunks peaked at 455 MB).
/// 100 instead of 16 saved 0.1 s of the 11 GB file's 1.0 s merge for 85 MB more.
const MERGE_FAN_IN: usize = 16;

/// The household-day merge, begun while chunks still run. Partials wait in levels (0: the
/// chunks'; k + 1: merges of `MERGE_FAN_IN` partials of level k); whenever a level holds
/// `MERGE_FAN_IN`, the master merges them in a blocking thread, so each row is read about
/// log16(chunks) times and only the final merge is left when the last chunk is done.
/// Chunk partials stay until the job is sealed: a restarted master starts from them.
#[derive(Debug, Default)]
pub struct DayMerges {
    /// Names this master's intermediate files apart from any other master's.
    tag: String,
    levels: Vec<Vec<String>>,
    /// Intermediate partials written, removed once `household_day.parquet` is.
    temps: Vec<String>,
    running: bool,
    /// Set when a merge ahead failed: the rest is left to the final merge.
    stopped: bool,
}

/// One merge run ahead: `inputs`, of `level`, into `rel`.
#[derive(Debug, Clone)]
pub struct AheadMerge {
    level: usize,
    inputs: Vec<String>,
    rel: String,
}

impl DayMerges {
    /// Merges whose intermediate files carry `tag` (the output lock's: see
    /// [`wattswarm_core::lock::OutputLock::tag`]).
    pub fn new(tag: String) -> DayMerges {
        DayMerges { tag, ..Default::default() }
    }

    /// A chunk's partial is committed.
    pub fn add(&mut self, rel: String) {
        self.push(0, rel);
    }

    fn push(&mut self, level: usize, rel: String) {
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        self.levels[level].push(rel);
    }

    /// The merge to run ahead now, when a level is full and no merge runs.
    pub fn due(&mut self) -> Option<AheadMerge> {
        if self.running || self.stopped {
            return None;
        }
        let level = self.levels.iter().position(|l| l.len() >= MERGE_FAN_IN)?;
        let inputs = self.levels[level].drain(..MERGE_FAN_IN).collect();
        let rel = format!("{STATE_DIR}/household_day-ahead-{}-{:05}.parquet", self.tag, self.temps.len());
        self.temps.push(rel.clone());
        self.running = true;
        Some(AheadMerge { level, inputs, rel })
    }

    /// A merge run ahead ended. Its output joins the next level; if it failed, its inputs
    /// go back, for the final merge to read, and no more merges are run ahead.
    pub fn merged(&mut self, m: AheadMerge, result: Result<()>) {
        self.running = false;
        match result {
            Ok(()) => self.push(m.level + 1, m.rel),
            Err(e) => {
                tracing::warn!("merging household-days ahead failed, left to the final merge: {e}");
                self.stopped = true;
                self.levels[m.level].extend(m.inputs);
            }
        }
    }

    pub fn running(&self) -> bool {
        self.running
    }
}

impl AheadMerge {
    /// Runs the merge (in a blocking thread: it reads and writes files).
    pub fn run(&self, out: &Output, settings: &Settings) -> Result<()> {
        merge_into_partial(out, &self.inputs, &self.rel, settings)
    }
}

fn merge_into_partial(out: &Output, inputs: &[String], rel: &str, settings: &Settings) -> Result<()> {
    let props = properties(settings.zstd_level, settings.row_group_rows)?;
    let mut w = HouseholdDayPartialWriter::create(out.create(rel, "master")?, props)?;
    merge_sorted(out, inputs, |id, day, n, s| w.push(id, day, n, s))?;
    out.replace(w.finish()?, rel)
}

/// Writes `results/household_day.parquet` from what `days` holds; returns its rows.
pub fn write_household_days(out: &Output, days: DayMerges, settings: &Settings) -> Result<u64> {
    merge_household_days(out, days, settings, MERGE_FAN_IN)
}

/// [`write_household_days`] with any fan-in. While more than `fan_in`
/// partials are left, the smallest are merged into an intermediate partial first, taking
/// only as many as leave `fan_in` for the final merge, so most rows are read once more at
/// most. Equal (LCLid, day) keys are summed in exact micro-kWh at every step, so the result
/// does not depend on the grouping.
fn merge_household_days(out: &Output, days: DayMerges, settings: &Settings, fan_in: usize) -> Result<u64> {
    let fan_in = fan_in.max(2);
    let mut inputs: VecDeque<String> = days.levels.into_iter().flatten().collect();
    let mut temps = days.temps;
    while inputs.len() > fan_in {
        let take = fan_in.min(inputs.len() - fan_in + 1);
        let group: Vec<String> = inputs.drain(..take).collect();
        let rel = format!("{STATE_DIR}/household_day-merge-{}-{:05}.parquet", days.tag, temps.len());
        merge_into_partial(out, &group, &rel, settings)?;
        inputs.push_back(rel.clone());
        temps.push(rel);
    }
    let rel = format!("{RESULTS_DIR}/household_day.parquet");
    let props = properties(settings.zstd_level, settings.row_group_rows)?;
    let mut w = HouseholdDayWriter::create(out.create(&rel, "master")?, props)?;
    merge_sorted(out, inputs.make_contiguous(), |id, day, n, s| w.push(id, day, n, s))?;
    let rows = w.rows;
    out.replace(w.finish()?, &rel)?;
    for t in &temps {
        out.remove(t)?;
    }
    Ok(rows)
}

/// Streams the sorted partials `rels` as one sorted sequence, equal (LCLid, day) keys
/// summed. It reads in runs: once a cursor holds the least key, rows are taken from it
/// while they stay at or below every other cursor's key, so partials whose key ranges
/// barely overlap (a file ordered by household, the usual case) cost one comparison per
/// row instead of a heap operation; interleaved ones still merge correctly.
fn merge_sorted(out: &Output, rels: &[String], mut emit: impl FnMut(&str, i32, u64, i64) -> Result<()>) -> Result<()> {
    let mut cursors = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Box<str>, i32, usize)>> = BinaryHeap::new();
    for rel in rels {
        let c = HouseholdDayCursor::open(out.open_parquet(rel)?, &out.shown(rel))?;
        if let Some((id, day)) = c.key() {
            heap.push(Reverse((id.into(), day, cursors.len())));
        }
        cursors.push(c);
    }
    // The (LCLid, day) being summed, and the next cursor's key (the bound of a run).
    let (mut cur_id, mut cur) = (String::new(), None::<(i32, u64, i64)>);
    let (mut bound_id, mut bound_day) = (String::new(), 0);
    while let Some(Reverse((_, _, i))) = heap.pop() {
        let bounded = match heap.peek() {
            Some(Reverse((id, day, _))) => {
                bound_id.clear();
                bound_id.push_str(id);
                bound_day = *day;
                true
            }
            None => false,
        };
        let c = &mut cursors[i];
        while let Some((id, day)) = c.key() {
            if bounded && (id, day) > (bound_id.as_str(), bound_day) {
                heap.push(Reverse((id.into(), day, i)));
                break;
            }
            let (n, s) = c.values();
            match &mut cur {
                Some((d, cn, cs)) if *d == day && cur_id == id => {
                    *cn = add_count(*cn, n, || format!("readings of {id} on day {day}"))?;
                    *cs = add_kwh(*cs, s, || format!("kWh of {id} on day {day}"))?;
                }
                _ => {
                    if let Some((d, cn, cs)) = cur {
                        emit(&cur_id, d, cn, cs)?;
                    }
                    cur_id.clear();
                    cur_id.push_str(id);
                    cur = Some((day, n, s));
                }
            }
            c.advance()?;
        }
    }
    if let Some((d, n, s)) = cur {
        emit(&cur_id, d, n, s)?;
    }
    Ok(())
}

/// The reason of a rejects partial's `reason,raw` (the raw text may be cut mid-quote, so a
/// line core's splitter refuses keeps all of it as its reason).
fn reject_reason(rest: &str) -> String {
    let mut fields = Vec::new();
    match split_csv(rest.as_bytes(), &mut fields) {
        Ok(()) => fields.first().map(|f| String::from_utf8_lossy(f).into_owned()).unwrap_or_default(),
        Err(_) => rest.to_owned(),
    }
}

/// Gathers the chunks' rejects into `results/rejects.csv` with file line numbers; returns
/// the first [`REJECTS_SHOWN`] for the report.
fn merge_rejects(out: &Output, chunks: &[ChunkSpec], lines: &[u64]) -> Result<Vec<RejectSample>> {
    let mut shown_rejects = Vec::new();
    let rel = format!("{RESULTS_DIR}/rejects.csv");
    let mut w = out.create(&rel, "master")?;
    let shown = w.shown().to_owned();
    let werr = |e| Error::io("write", &shown, e);
    writeln!(w, "file,line,reason,raw").map_err(werr)?;
    // Lines before each chunk, per file: the sum over the file's earlier chunks.
    let mut before = 0u64;
    let mut file = u32::MAX;
    for (c, &n) in chunks.iter().zip(lines) {
        if c.file_index != file {
            file = c.file_index;
            before = 0;
        }
        let partial = rejects_partial_name(c.id);
        if let Some(bytes) = out.read(&partial)? {
            let p = std::path::PathBuf::from(out.shown(&partial));
            let text = String::from_utf8_lossy(&bytes);
            let name = c.path.display().to_string();
            for line in text.lines() {
                let (index, rest) = line.split_once(',').ok_or_else(|| Error::Corrupt {
                    path: p.clone(),
                    reason: "not a rejects partial".into(),
                })?;
                let index: u64 = index.parse().map_err(|_| Error::Corrupt {
                    path: p.clone(),
                    reason: format!("bad line index {index:?}"),
                })?;
                writeln!(w, "{},{},{}", csv_field(&name), before + index + 1, rest).map_err(werr)?;
                if shown_rejects.len() < REJECTS_SHOWN {
                    shown_rejects.push(RejectSample { file: name.clone(), line: before + index + 1, reason: reject_reason(rest) });
                }
            }
        }
        before += n;
    }
    out.replace(w.close()?, &rel)?;
    Ok(shown_rejects)
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
    tables: &[ResultTable],
    facts: RunFacts,
) -> Result<JobSummary> {
    let rejects = if agg.totals.rejected > 0 {
        merge_rejects(out, chunks, lines)?
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
    let json = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values serialise");
    let mut files: Vec<(String, Vec<u8>)> = tables.iter().map(|t| (format!("{RESULTS_DIR}/{}.json", t.name), json(&t.rows))).collect();
    files.push((format!("{RESULTS_DIR}/summary.json"), serde_json::to_vec_pretty(&summary).expect("summary serialises")));
    files.push((format!("{RESULTS_DIR}/{REPORT_FILE}"), render(&summary, tables, &rejects).into_bytes()));
    out.write_atomic_all(&files.iter().map(|(rel, b)| (rel.as_str(), b.as_slice())).collect::<Vec<_>>())?;
    Ok(summary)
}


#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use wattswarm_core::aggregate::HouseholdDay;
    use wattswarm_core::parquet_out::write_household_day_partial;
    use wattswarm_core::storage::household_day_partial_name;

    use super::*;

    /// (LCLid, day) → (readings, micro-kWh).
    type Sums = BTreeMap<(String, i32), (i64, i64)>;
    type Households = fn(i32) -> std::ops::Range<i32>;

    /// `chunks` chunks' partials. `households(chunk)` says which households a chunk holds, so the
    /// keys interleave across chunks (every chunk has every household) or come in ranges
    /// that share only their edge households (a file ordered by household).
    fn partials(
        out: &Output,
        settings: &Settings,
        chunks: u32,
        households: impl Fn(i32) -> std::ops::Range<i32>,
    ) -> (Vec<String>, Sums) {
        let mut want = BTreeMap::new();
        let mut names = Vec::new();
        for id in 0..chunks {
            let mut days: Vec<HouseholdDay> = Vec::new();
            for h in households(id as i32) {
                for day in 0..20 {
                    if (h + day + id as i32) % 3 == 0 {
                        continue;
                    }
                    let (n, micro) = (1 + (id as u64 + day as u64) % 48, (id as i64 + 1) * 1_234 + h as i64 * 17 + day as i64);
                    days.push((format!("MAC{h:06}").into(), 15_000 + day, n, micro));
                    let w = want.entry((format!("MAC{h:06}"), 15_000 + day)).or_insert((0, 0));
                    w.0 += n as i64;
                    w.1 += micro;
                }
            }
            let rel = household_day_partial_name(id);
            let written = write_household_day_partial(out.create(&rel, "t").unwrap(), &days, properties(settings.zstd_level, settings.row_group_rows).unwrap()).unwrap();
            out.replace(written, &rel).unwrap();
            names.push(rel);
        }
        (names, want)
    }

    fn waiting(names: &[String]) -> DayMerges {
        let mut days = DayMerges::default();
        for n in names {
            days.add(n.clone());
        }
        days
    }

    fn intermediates_left(out: &Output) -> Vec<String> {
        out.list(STATE_DIR).unwrap().into_iter().filter(|n| n.contains("merge") || n.contains("ahead")).collect()
    }

    fn read(path: &std::path::Path) -> Sums {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
        let mut got = BTreeMap::new();
        for b in reader {
            let b = b.unwrap();
            let ids = b.column(0).as_dictionary::<Int32Type>();
            let names = ids.values().as_string::<i32>();
            for i in 0..b.num_rows() {
                let key = (names.value(ids.keys().value(i) as usize).to_owned(), b.column(1).as_primitive::<Date32Type>().value(i));
                let sum = b.column(3).as_primitive::<Float64Type>().value(i);
                got.insert(key, (b.column(2).as_primitive::<Int64Type>().value(i), (sum * MICRO as f64).round() as i64));
            }
        }
        got
    }

    #[test]
    fn merging_in_passes_of_two_equals_one_merge_of_all() {
        let settings = Settings::default();
        // Interleaved: every chunk holds all 5 households. In ranges: chunk k holds
        // households 3k..3k+4, so neighbours share one household and its days (the
        // merge's runs end at the shared keys); in reverse, the ranges come last first.
        let layouts: [(&str, Households); 3] =
            [("interleaved", |_| 0..5), ("ranges", |k| 3 * k..3 * k + 4), ("reversed ranges", |k| 3 * (9 - k)..3 * (9 - k) + 4)];
        for (name, households) in layouts {
            let mut files = Vec::new();
            for fan_in in [2, 3, 100] {
                let dir = tempfile::tempdir().unwrap();
                let out = Output::local(dir.path());
                out.prepare().unwrap();
                let (names, want) = partials(&out, &settings, 10, households);
                let rows = merge_household_days(&out, waiting(&names), &settings, fan_in).unwrap();
                let path = dir.path().join(RESULTS_DIR).join("household_day.parquet");
                assert_eq!(rows as usize, want.len(), "{name}, fan-in {fan_in}");
                assert_eq!(read(&path), want, "{name}, fan-in {fan_in}: every (LCLid, day) summed exactly once");
                let left = intermediates_left(&out);
                assert!(left.is_empty(), "{name}, fan-in {fan_in}: intermediate partials removed: {left:?}");
                files.push(std::fs::read(path).unwrap());
            }
            assert!(files.windows(2).all(|w| w[0] == w[1]), "{name}: the same bytes whatever the fan-in");
        }
    }

    #[test]
    fn merges_run_ahead_give_the_same_file_and_a_failed_one_loses_nothing() {
        let settings = Settings::default();
        let mut files = Vec::new();
        // 0: everything left to the end; 1: merged ahead as partials come; 2: the first
        // merge ahead fails, so its partials go back and the end merges them.
        for case in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let out = Output::local(dir.path());
            out.prepare().unwrap();
            let (names, want) = partials(&out, &settings, 40, |k| 3 * k..3 * k + 4);
            let mut days = DayMerges::default();
            let mut ahead = 0;
            for n in &names {
                days.add(n.clone());
                while let Some(m) = (case > 0).then(|| days.due()).flatten() {
                    assert!(days.running() && days.due().is_none(), "one merge ahead at a time");
                    let res = if case == 2 && ahead == 0 {
                        Err(Error::Corrupt { path: "x".into(), reason: "test".into() })
                    } else {
                        m.run(&out, &settings)
                    };
                    days.merged(m, res);
                    ahead += 1;
                }
            }
            // 40 partials in levels of 16: two merges ahead, or one that fails and stops the rest.
            assert_eq!(ahead, [0, 2, 1][case], "case {case}: merges ahead");
            let rows = write_household_days(&out, days, &settings).unwrap();
            let path = dir.path().join(RESULTS_DIR).join("household_day.parquet");
            assert_eq!(rows as usize, want.len(), "case {case}");
            assert_eq!(read(&path), want, "case {case}: every (LCLid, day) summed exactly once");
            assert!(intermediates_left(&out).is_empty(), "case {case}: {:?}", intermediates_left(&out));
            files.push(std::fs::read(path).unwrap());
        }
        assert!(files.windows(2).all(|w| w[0] == w[1]), "the same bytes with merges ahead or not");
    }
}
