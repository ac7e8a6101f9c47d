//! `results/household_day.parquet`: the chunks' sorted household-day partials merged into
//! one file, with each (LCLid, day) summed once.
//!
//! It is a module of its own because it is the one part of the results that grows with
//! the data: the merge is streamed, at most [`MERGE_FAN_IN`] partials open at once, and
//! begun while chunks still run ([`DayMerges`]), so memory stays bounded and the serial
//! end of a job is one merge, whatever the number of chunks.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use wattswarm_core::aggregate::{add_count, add_kwh};
use wattswarm_core::parquet_out::{properties, HouseholdDayCursor, HouseholdDayPartialWriter, HouseholdDayWriter};
use wattswarm_core::process::Settings;
use wattswarm_core::storage::{Output, RESULTS_DIR, STATE_DIR};
use wattswarm_core::Result;

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
    for (rel, file) in rels.iter().zip(out.open_parquet_all(rels)?) {
        let c = HouseholdDayCursor::open(file, &out.shown(rel))?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use wattswarm_core::aggregate::HouseholdDay;
    use wattswarm_core::kwh::MICRO;
    use wattswarm_core::parquet_out::write_household_day_partial;
    use wattswarm_core::storage::household_day_partial_name;
    use wattswarm_core::Error;

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
