//! Exact group aggregates: a partial per chunk, merged by the master.
//!
//! kWh is summed as integer micro-kWh and households are counted as sets, so merging
//! partials is associative and commutative: any number of workers, any chunk size and any
//! order give identical results, and a retried chunk simply replaces its partial.
//!
//! Rows are accumulated per household-day first (the file is sorted by LCLid and time, so
//! a day is a run of 48 rows and the hot path touches one cached cell), and each
//! household-day is then added to the three month groupings and to `household_day`.
//!
//! Every sum is checked: one that would leave 64 bits is an error naming the sum, never a
//! wrapped figure. With readings bounded by [`crate::kwh::MAX_KWH`] no real data comes near
//! (the whole release at the bound is 55 times below `i64::MAX` micro-kWh), so the checks
//! cost a branch that is never taken.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::datetime::{format_day, format_month, format_slot};
use crate::error::{Error, Result};
use crate::kwh::Kwh;
use crate::parse::{Dicts, Row};

/// `a + b`, or an error naming the sum (`what`, made only when it overflows).
#[inline]
pub fn add_kwh(a: i64, b: i64, what: impl FnOnce() -> String) -> Result<i64> {
    a.checked_add(b).ok_or_else(|| Error::SumOverflow { what: what() })
}

/// [`add_kwh`] for counts.
#[inline]
pub fn add_count(a: u64, b: u64, what: impl FnOnce() -> String) -> Result<u64> {
    a.checked_add(b).ok_or_else(|| Error::SumOverflow { what: what() })
}

/// Counts and kWh statistics of a set of rows. kWh in micro-kWh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub rows: u64,
    pub readings: u64,
    pub kwh_sum: i64,
    pub kwh_min: Option<i64>,
    pub kwh_max: Option<i64>,
}

impl Stats {
    /// One row (counts of single rows cannot overflow: no input has 2^64 lines).
    #[inline]
    pub fn add(&mut self, kwh: Kwh) -> Result<()> {
        self.rows += 1;
        if let Kwh::Value(v) = kwh {
            self.readings += 1;
            self.kwh_sum = add_kwh(self.kwh_sum, v, || "kWh of one household-day".into())?;
            self.kwh_min = Some(self.kwh_min.map_or(v, |m| m.min(v)));
            self.kwh_max = Some(self.kwh_max.map_or(v, |m| m.max(v)));
        }
        Ok(())
    }

    /// Adds `o`; `what` names the group in the error of a sum that overflows.
    pub fn merge(&mut self, o: &Stats, what: impl Fn() -> String) -> Result<()> {
        self.rows = add_count(self.rows, o.rows, || format!("rows of {}", what()))?;
        self.readings = add_count(self.readings, o.readings, || format!("readings of {}", what()))?;
        self.kwh_sum = add_kwh(self.kwh_sum, o.kwh_sum, || format!("kWh of {}", what()))?;
        self.kwh_min = min_opt(self.kwh_min, o.kwh_min, i64::min);
        self.kwh_max = min_opt(self.kwh_max, o.kwh_max, i64::max);
        Ok(())
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The three month groupings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    AcornGrouped,
    Tariff,
    Acorn,
}

impl Dim {
    pub const ALL: [Dim; 3] = [Dim::AcornGrouped, Dim::Tariff, Dim::Acorn];

    /// The group field's name in the results.
    pub fn field(self) -> &'static str {
        match self {
            Dim::AcornGrouped => "acorn_grouped",
            Dim::Tariff => "tariff",
            Dim::Acorn => "acorn",
        }
    }
}

/// Whole-chunk counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Accepted data rows.
    pub rows: u64,
    /// Rows with a kWh value.
    pub readings: u64,
    /// Rows whose kWh is `Null` or empty.
    pub nulls: u64,
    pub rejected: u64,
    /// Every line read: rows, rejects, blank and header lines.
    pub lines: u64,
    pub blank_lines: u64,
    pub header_lines: u64,
    pub input_bytes: u64,
    /// Earliest and latest DateTime of an accepted row, microseconds.
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

impl Totals {
    pub fn merge(&mut self, o: &Totals) -> Result<()> {
        for (sum, add, what) in [
            (&mut self.rows, o.rows, "rows"),
            (&mut self.readings, o.readings, "readings"),
            (&mut self.nulls, o.nulls, "nulls"),
            (&mut self.rejected, o.rejected, "rejected lines"),
            (&mut self.lines, o.lines, "lines"),
            (&mut self.blank_lines, o.blank_lines, "blank lines"),
            (&mut self.header_lines, o.header_lines, "header lines"),
            (&mut self.input_bytes, o.input_bytes, "input bytes"),
        ] {
            *sum = add_count(*sum, add, || format!("the job's {what}"))?;
        }
        self.first_ts = min_opt(self.first_ts, o.first_ts, i64::min);
        self.last_ts = min_opt(self.last_ts, o.last_ts, i64::max);
        Ok(())
    }
}

/// One group-month of one chunk; `households` are indices into the chunk's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPartial {
    pub dim: Dim,
    pub group: String,
    pub month: i32,
    pub stats: Stats,
    pub households: Vec<u32>,
}

/// One (tariff, half hour) cell of the daily load profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePartial {
    pub tariff: String,
    pub slot: u8,
    pub readings: u64,
    pub kwh_sum: i64,
}

/// Everything a chunk contributes to the results, except `household_day` (which can be
/// large, so the worker writes it as a sorted Parquet file beside the part).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkAggregate {
    /// The chunk's households, sorted; group partials refer to them by index.
    pub households: Vec<String>,
    pub totals: Totals,
    pub groups: Vec<GroupPartial>,
    pub profile: Vec<ProfilePartial>,
}

/// A household-day: `(lclid, day number, readings, kWh sum in micro-kWh)`.
pub type HouseholdDay = (Arc<str>, i32, u64, i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DayKey {
    lclid: u32,
    day: i32,
    month: i32,
    tariff: u32,
    acorn: u32,
    grouped: u32,
}

/// Accumulates the rows of one chunk.
#[derive(Default)]
pub struct Aggregator {
    cur: Option<DayKey>,
    cur_stats: Stats,
    days: HashMap<DayKey, Stats>,
    /// `[tariff key][slot] = (readings, micro-kWh)`.
    profile: Vec<[(u64, i64); 48]>,
    pub totals: Totals,
}

impl Aggregator {
    #[inline]
    pub fn add(&mut self, r: &Row) -> Result<()> {
        let key = DayKey {
            lclid: r.lclid,
            day: r.dt.day,
            month: r.dt.month,
            tariff: r.tariff,
            acorn: r.acorn,
            grouped: r.acorn_grouped,
        };
        if self.cur != Some(key) {
            self.flush()?;
            self.cur = Some(key);
        }
        self.cur_stats.add(r.kwh)?;
        let t = &mut self.totals;
        t.rows += 1;
        t.first_ts = Some(t.first_ts.map_or(r.dt.micros, |v| v.min(r.dt.micros)));
        t.last_ts = Some(t.last_ts.map_or(r.dt.micros, |v| v.max(r.dt.micros)));
        match r.kwh {
            Kwh::Value(v) => {
                t.readings += 1;
                let tariff = r.tariff as usize;
                if self.profile.len() <= tariff {
                    self.profile.resize(tariff + 1, [(0, 0); 48]);
                }
                let cell = &mut self.profile[tariff][r.dt.slot as usize];
                cell.0 += 1;
                cell.1 = add_kwh(cell.1, v, || format!("kWh at {}", format_slot(r.dt.slot)))?;
            }
            Kwh::Missing => t.nulls += 1,
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if let Some(k) = self.cur.take() {
            self.days.entry(k).or_default().merge(&self.cur_stats, || format!("day {}", format_day(k.day)))?;
            self.cur_stats = Stats::default();
        }
        Ok(())
    }

    /// Ends the chunk: its partial aggregate and its household-days sorted by (LCLid, day).
    pub fn finish(mut self, dicts: &Dicts) -> Result<(ChunkAggregate, Vec<HouseholdDay>)> {
        self.flush()?;
        let name = |k: u32| dicts.lclid.value(k).clone();
        // The chunk's household table, sorted by name.
        let mut lclids: Vec<u32> = self.days.keys().map(|k| k.lclid).collect::<HashSet<_>>().into_iter().collect();
        lclids.sort_by_cached_key(|k| name(*k));
        let local: HashMap<u32, u32> = lclids.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();

        let mut groups: HashMap<(Dim, u32, i32), (Stats, Vec<u32>)> = HashMap::new();
        let mut hh: HashMap<(u32, i32), (u64, i64)> = HashMap::new();
        for (k, s) in &self.days {
            for (dim, g) in [(Dim::AcornGrouped, k.grouped), (Dim::Tariff, k.tariff), (Dim::Acorn, k.acorn)] {
                let cell = groups.entry((dim, g, k.month)).or_default();
                cell.0.merge(s, || format!("{} in {}", dim.field(), format_month(k.month)))?;
                cell.1.push(local[&k.lclid]);
            }
            let d = hh.entry((k.lclid, k.day)).or_default();
            d.0 = add_count(d.0, s.readings, || format!("readings of {} on {}", name(k.lclid), format_day(k.day)))?;
            d.1 = add_kwh(d.1, s.kwh_sum, || format!("kWh of {} on {}", name(k.lclid), format_day(k.day)))?;
        }
        let dict_of = |dim: Dim| match dim {
            Dim::AcornGrouped => &dicts.acorn_grouped,
            Dim::Tariff => &dicts.tariff,
            Dim::Acorn => &dicts.acorn,
        };
        let mut groups: Vec<GroupPartial> = groups
            .into_iter()
            .map(|((dim, g, month), (stats, mut households))| {
                households.sort_unstable();
                households.dedup();
                GroupPartial {
                    dim,
                    group: dict_of(dim).value(g).to_string(),
                    month,
                    stats,
                    households,
                }
            })
            .collect();
        groups.sort_by(|a, b| (a.dim, &a.group, a.month).cmp(&(b.dim, &b.group, b.month)));
        let mut profile = Vec::new();
        for (t, slots) in self.profile.iter().enumerate() {
            for (slot, &(readings, kwh_sum)) in slots.iter().enumerate() {
                if readings > 0 {
                    profile.push(ProfilePartial {
                        tariff: dicts.tariff.value(t as u32).to_string(),
                        slot: slot as u8,
                        readings,
                        kwh_sum,
                    });
                }
            }
        }
        let mut days: Vec<HouseholdDay> = hh.into_iter().map(|((l, d), (n, s))| (name(l), d, n, s)).collect();
        days.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let agg = ChunkAggregate {
            households: lclids.iter().map(|k| name(*k).to_string()).collect(),
            totals: self.totals,
            groups,
            profile,
        };
        Ok((agg, days))
    }
}

/// The merged results of a job: what the master builds from the chunks' partials.
#[derive(Debug, Default, Clone)]
pub struct JobAggregate {
    ids: HashMap<String, u32>,
    pub totals: Totals,
    pub groups: BTreeMap<(Dim, String, i32), (Stats, HashSet<u32>)>,
    pub profile: BTreeMap<(String, u8), (u64, i64)>,
}

impl JobAggregate {
    /// Adds a chunk's partial. An error (a sum beyond 64 bits, which no real data reaches)
    /// leaves the aggregate partly merged: the job must fail.
    pub fn merge(&mut self, part: &ChunkAggregate) -> Result<()> {
        self.totals.merge(&part.totals)?;
        let global: Vec<u32> = part
            .households
            .iter()
            .map(|h| {
                let n = self.ids.len() as u32;
                *self.ids.entry(h.clone()).or_insert(n)
            })
            .collect();
        for g in &part.groups {
            let cell = self.groups.entry((g.dim, g.group.clone(), g.month)).or_default();
            cell.0.merge(&g.stats, || format!("{} {} in {}", g.dim.field(), g.group, format_month(g.month)))?;
            cell.1.extend(g.households.iter().map(|&i| global[i as usize]));
        }
        for p in &part.profile {
            let cell = self.profile.entry((p.tariff.clone(), p.slot)).or_default();
            let what = || format!("tariff {} at {}", p.tariff, format_slot(p.slot));
            cell.0 = add_count(cell.0, p.readings, || format!("readings of {}", what()))?;
            cell.1 = add_kwh(cell.1, p.kwh_sum, || format!("kWh of {}", what()))?;
        }
        Ok(())
    }

    /// The job's kWh sum (over the tariff groups, which hold every reading once).
    pub fn kwh_sum(&self) -> Result<i64> {
        let mut tariffs = self.groups.iter().filter(|(k, _)| k.0 == Dim::Tariff);
        tariffs.try_fold(0i64, |sum, (_, (s, _))| add_kwh(sum, s.kwh_sum, || "kWh of the whole job".into()))
    }

    /// Distinct households over the whole job.
    pub fn households(&self) -> u64 {
        self.ids.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::parse::{Line, Parser};

    fn aggregate(lines: &[&str]) -> (ChunkAggregate, Vec<HouseholdDay>) {
        let mut p = Parser::new(Layout::Six, None);
        let mut a = Aggregator::default();
        for l in lines {
            if let Line::Row(r) = p.parse_line(l.as_bytes()) {
                a.add(&r).unwrap();
            }
        }
        a.finish(&p.dicts).unwrap()
    }

    #[test]
    fn chunk_partials_and_merge() {
        let (a, days) = aggregate(&[
            "MAC000002,Std,2012-10-12 00:00:00.0000000,0.5,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-12 00:30:00.0000000,Null,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 00:00:00.0000000,0.25,ACORN-A,Affluent",
            "MAC000003,ToU,2012-10-12 00:00:00.0000000,1,ACORN-K,Adversity",
        ]);
        assert_eq!(a.households, ["MAC000002", "MAC000003"]);
        assert_eq!((a.totals.rows, a.totals.readings, a.totals.nulls), (4, 3, 1));
        let aff = a.groups.iter().find(|g| g.dim == Dim::AcornGrouped && g.group == "Affluent").unwrap();
        assert_eq!(aff.stats, Stats { rows: 3, readings: 2, kwh_sum: 750_000, kwh_min: Some(250_000), kwh_max: Some(500_000) });
        assert_eq!(aff.households, [0]);
        assert_eq!(days.len(), 3);
        assert_eq!((&*days[0].0, days[0].2, days[0].3), ("MAC000002", 1, 500_000));
        let std0 = a.profile.iter().find(|p| p.tariff == "Std" && p.slot == 0).unwrap();
        assert_eq!((std0.readings, std0.kwh_sum), (2, 750_000));

        // Merging two halves equals the whole, and households are counted once.
        let (b, _) = aggregate(&["MAC000002,Std,2012-10-20 00:00:00.0000000,0.1,ACORN-A,Affluent"]);
        let mut job = JobAggregate::default();
        job.merge(&a).unwrap();
        job.merge(&b).unwrap();
        let (cell, hh) = &job.groups[&(Dim::AcornGrouped, "Affluent".to_string(), 2012 * 12 + 9)];
        assert_eq!(cell.rows, 4);
        assert_eq!(cell.kwh_sum, 850_000);
        assert_eq!(cell.kwh_min, Some(100_000));
        assert_eq!(hh.len(), 1);
        assert_eq!(job.households(), 2);
    }
}

#[cfg(test)]
mod overflow {
    use super::*;
    use crate::kwh::MAX_KWH;

    /// Issue 15: ten readings of 999999999999 kWh summed to -8446744073719.552 (a wrapped
    /// i64). Readings are now bounded, and sums that would leave 64 bits are errors.
    #[test]
    fn sums_that_would_wrap_are_errors_naming_the_sum() {
        let mut a = Stats::default();
        let e = (0..10).try_for_each(|_| a.add(Kwh::Value(i64::MAX / 8))).unwrap_err().to_string();
        assert!(e.contains("the sum of kWh of one household-day is beyond 64 bits"), "{e}");

        let part = |kwh_sum: i64| ChunkAggregate {
            households: vec!["MAC000002".into()],
            groups: vec![GroupPartial {
                dim: Dim::Tariff,
                group: "Std".into(),
                month: 2013 * 12,
                stats: Stats { rows: 1, readings: 1, kwh_sum, kwh_min: Some(kwh_sum), kwh_max: Some(kwh_sum) },
                households: vec![0],
            }],
            ..Default::default()
        };
        let mut job = JobAggregate::default();
        job.merge(&part(i64::MAX - 1)).unwrap();
        let e = job.merge(&part(2)).unwrap_err().to_string();
        assert!(e.contains("kWh of tariff Std in 2013-01"), "{e}");

        // The job's total is checked too.
        let mut job = JobAggregate::default();
        job.merge(&part(i64::MAX)).unwrap();
        let mut other = part(1);
        other.groups[0].group = "ToU".into();
        job.merge(&other).unwrap();
        assert!(job.kwh_sum().unwrap_err().to_string().contains("kWh of the whole job"));

        // The bound keeps the whole release (168 M rows) far from the limit.
        assert!(168_000_000i64.checked_mul(MAX_KWH * crate::kwh::MICRO).unwrap() < i64::MAX / 50);
    }
}

#[cfg(test)]
mod order {
    use super::*;
    use crate::layout::Layout;
    use crate::parse::{Line, Parser};
    use proptest::prelude::*;

    fn partial(lines: &[String]) -> ChunkAggregate {
        let mut p = Parser::new(Layout::Six, None);
        let mut a = Aggregator::default();
        for l in lines {
            if let Line::Row(r) = p.parse_line(l.as_bytes()) {
                a.add(&r).unwrap();
            }
        }
        a.finish(&p.dicts).unwrap().0
    }

    type Comparable = (Totals, Vec<((Dim, String, i32), Stats, usize)>, BTreeMap<(String, u8), (u64, i64)>);

    fn summary(j: &JobAggregate) -> Comparable {
        let groups = j.groups.iter().map(|(k, (s, h))| (k.clone(), *s, h.len())).collect();
        (j.totals, groups, j.profile.clone())
    }

    proptest! {
        /// Splitting rows into chunks anywhere and merging the partials in any order
        /// gives the same job aggregate as one chunk.
        #[test]
        fn merge_is_order_and_split_independent(
            rows in proptest::collection::vec((0u8..5, 0u8..3, 0u16..2000, 0u32..3000, any::<bool>()), 1..300),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
            seed in any::<u64>(),
        ) {
            let lines: Vec<String> = rows.iter().map(|(h, g, slot, kwh, null)| {
                let day = slot / 48;
                let t = format!("2013-{:02}-{:02} {:02}:{:02}:00.0000000", 1 + day / 28 % 12, 1 + day % 28, slot % 48 / 2, slot % 2 * 30);
                let k = if *null { "Null".to_string() } else { format!("{}.{:03}", kwh / 1000, kwh % 1000) };
                format!("MAC{h:06},{},{t},{k},ACORN-{g},G{g}", if h % 2 == 0 { "Std" } else { "ToU" })
            }).collect();
            let mut whole = JobAggregate::default();
            whole.merge(&partial(&lines)).unwrap();
            let mut idx: Vec<usize> = cuts.iter().map(|c| c.index(lines.len() + 1)).collect();
            idx.push(0);
            idx.push(lines.len());
            idx.sort_unstable();
            let mut parts: Vec<ChunkAggregate> = idx.windows(2).map(|w| partial(&lines[w[0]..w[1]])).collect();
            // A deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..parts.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                parts.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut merged = JobAggregate::default();
            for p in &parts {
                merged.merge(p).unwrap();
            }
            prop_assert_eq!(summary(&merged), summary(&whole));
        }
    }
}
