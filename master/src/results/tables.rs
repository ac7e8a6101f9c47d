//! The aggregate tables as typed rows: what `results/*.json`, the MongoDB results
//! collections, the metrics' result gauges and the report all read.
//!
//! Why typed: each of those consumers used to look fields up by name in JSON values
//! (`row["kwh_mean"]`, `t.name == "by_tariff_month"`), so a renamed field or table became
//! a silent gap in one of them. Here a row is a struct, each table is a field of
//! [`Tables`], and each table's name is stated once, in [`Table::name`].
//!
//! The rows serialize field by field in the order they are declared (serde_json keeps
//! that order and writes each float as its shortest round-trip form), so the JSON files
//! and MongoDB documents are the ones written before the rows were typed; a job finished
//! earlier is read back into the same structs ([`Tables::read`]).
use serde::{Deserialize, Serialize};
use wattswarm_core::aggregate::{Dim, JobAggregate, Stats};
use wattswarm_core::datetime::{format_month, format_slot};
use wattswarm_core::kwh::{to_f64, MICRO};
use wattswarm_core::storage::{Output, RESULTS_DIR};
use wattswarm_core::Result;

use super::read_json;

/// One aggregate table. Its name is its file in `results/` (`<name>.json`) and its
/// MongoDB collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// A month grouping, `by_<dim>_month`: [`GroupMonthRow`]s.
    Month(Dim),
    /// The daily load profile, `by_tariff_halfhour`: [`ProfileRow`]s.
    Profile,
}

impl Table {
    /// Every table, in the order they are written and loaded.
    pub const ALL: [Table; 4] = [Table::Month(Dim::AcornGrouped), Table::Month(Dim::Tariff), Table::Month(Dim::Acorn), Table::Profile];

    pub fn name(self) -> &'static str {
        match self {
            Table::Month(Dim::AcornGrouped) => "by_acorn_grouped_month",
            Table::Month(Dim::Tariff) => "by_tariff_month",
            Table::Month(Dim::Acorn) => "by_acorn_month",
            Table::Profile => "by_tariff_halfhour",
        }
    }

    /// The fields that key a row: unique in the table, and MongoDB's index on it.
    pub fn key(self) -> [&'static str; 2] {
        match self {
            Table::Month(dim) => [dim.field(), "month"],
            Table::Profile => ["tariff", "halfhour"],
        }
    }

    /// Its JSON file, relative to the output.
    pub fn file(self) -> String {
        format!("{RESULTS_DIR}/{}.json", self.name())
    }
}

/// A month grouping's group, written under its dimension's field name
/// ([`Dim::field`]): `"acorn_grouped": "Affluent"`, `"tariff": "Std"` or
/// `"acorn": "ACORN-A"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    AcornGrouped(String),
    Tariff(String),
    Acorn(String),
}

impl Group {
    pub fn new(dim: Dim, name: String) -> Group {
        match dim {
            Dim::AcornGrouped => Group::AcornGrouped(name),
            Dim::Tariff => Group::Tariff(name),
            Dim::Acorn => Group::Acorn(name),
        }
    }

    /// The group's value: `Affluent`, `Std`, `ACORN-A`.
    pub fn name(&self) -> &str {
        match self {
            Group::AcornGrouped(name) | Group::Tariff(name) | Group::Acorn(name) => name,
        }
    }
}

/// One row of a month grouping: a group's rows in one month. kWh are exact micro-kWh
/// sums written as f64 kWh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMonthRow {
    /// Flattened: the row's first field is the group's (`"tariff": "Std"`), not a nested
    /// object.
    #[serde(flatten)]
    pub group: Group,
    /// `YYYY-MM`.
    pub month: String,
    pub rows: u64,
    /// Rows with a kWh value.
    pub readings: u64,
    pub kwh_sum: f64,
    /// Per half-hour reading; `null` where the group-month has no reading (as are min and max).
    pub kwh_mean: Option<f64>,
    pub kwh_min: Option<f64>,
    pub kwh_max: Option<f64>,
    /// Distinct households with rows in the group-month.
    pub households: u64,
}

/// One row of the daily load profile: a tariff's readings at one half hour of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRow {
    pub tariff: String,
    /// `HH:MM`, the half hour's start.
    pub halfhour: String,
    pub readings: u64,
    pub kwh_mean: Option<f64>,
}

/// Every aggregate table of a job, each sorted by its key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    pub by_acorn_grouped_month: Vec<GroupMonthRow>,
    pub by_tariff_month: Vec<GroupMonthRow>,
    pub by_acorn_month: Vec<GroupMonthRow>,
    pub by_tariff_halfhour: Vec<ProfileRow>,
}

/// A table's rows, whichever their type: what the JSON files and the MongoDB export
/// serialize (`untagged`: just the list of rows).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum TableRows<'a> {
    Month(&'a [GroupMonthRow]),
    Profile(&'a [ProfileRow]),
}

/// Mean kWh as a plain f64 from exact integers.
pub(super) fn mean(sum_micro: i64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum_micro as f64 / MICRO as f64 / n as f64)
}

fn group_month_row(dim: Dim, group: &str, month: i32, s: &Stats, households: usize) -> GroupMonthRow {
    GroupMonthRow {
        group: Group::new(dim, group.to_owned()),
        month: format_month(month),
        rows: s.rows,
        readings: s.readings,
        kwh_sum: to_f64(s.kwh_sum),
        kwh_mean: mean(s.kwh_sum, s.readings),
        kwh_min: s.kwh_min.map(to_f64),
        kwh_max: s.kwh_max.map(to_f64),
        households: households as u64,
    }
}

/// Every aggregate table of a job, from its merged partials.
pub fn tables(agg: &JobAggregate) -> Tables {
    let month = |dim: Dim| -> Vec<GroupMonthRow> {
        agg.groups
            .iter()
            .filter(|((d, _, _), _)| *d == dim)
            .map(|((_, group, month), (s, hh))| group_month_row(dim, group, *month, s, hh.len()))
            .collect()
    };
    let profile = agg
        .profile
        .iter()
        .map(|((tariff, slot), (n, sum))| ProfileRow {
            tariff: tariff.clone(),
            halfhour: format_slot(*slot),
            readings: *n,
            kwh_mean: mean(*sum, *n),
        })
        .collect();
    Tables {
        by_acorn_grouped_month: month(Dim::AcornGrouped),
        by_tariff_month: month(Dim::Tariff),
        by_acorn_month: month(Dim::Acorn),
        by_tariff_halfhour: profile,
    }
}

impl Tables {
    /// A month grouping's rows.
    pub fn month(&self, dim: Dim) -> &[GroupMonthRow] {
        match dim {
            Dim::AcornGrouped => &self.by_acorn_grouped_month,
            Dim::Tariff => &self.by_tariff_month,
            Dim::Acorn => &self.by_acorn_month,
        }
    }

    /// Every table with its rows, in [`Table::ALL`]'s order.
    pub fn each(&self) -> [(Table, TableRows<'_>); 4] {
        Table::ALL.map(|t| {
            let rows = match t {
                Table::Month(dim) => TableRows::Month(self.month(dim)),
                Table::Profile => TableRows::Profile(&self.by_tariff_halfhour),
            };
            (t, rows)
        })
    }

    /// Each table's file in `results/` and its bytes (pretty-printed JSON).
    pub fn json_files(&self) -> Vec<(String, Vec<u8>)> {
        self.each()
            .iter()
            .map(|(t, rows)| (t.file(), serde_json::to_vec_pretty(rows).expect("result rows serialise")))
            .collect()
    }

    /// The tables of a finished job, from its `results/` (what [`Tables::json_files`] wrote).
    pub fn read(out: &Output) -> Result<Tables> {
        Ok(Tables {
            by_acorn_grouped_month: read_json(out, &Table::Month(Dim::AcornGrouped).file())?,
            by_tariff_month: read_json(out, &Table::Month(Dim::Tariff).file())?,
            by_acorn_month: read_json(out, &Table::Month(Dim::Acorn).file())?,
            by_tariff_halfhour: read_json(out, &Table::Profile.file())?,
        })
    }
}

/// Two households: Std (Affluent, ACORN-A) with readings in January 2013, ToU
/// (Adversity, ACORN-K) with a row but no reading in February.
#[cfg(test)]
pub(crate) fn sample_aggregate() -> JobAggregate {
    use wattswarm_core::aggregate::{ChunkAggregate, GroupPartial, ProfilePartial};

    let stats = |rows, readings, kwh_sum, min, max| Stats { rows, readings, kwh_sum, kwh_min: min, kwh_max: max };
    let (jan, feb) = (2013 * 12, 2013 * 12 + 1);
    let std = stats(3, 2, 750_000, Some(250_000), Some(500_000));
    let tou = stats(1, 0, 0, None, None);
    let mut groups = Vec::new();
    for (dim, a, b) in [(Dim::AcornGrouped, "Affluent", "Adversity"), (Dim::Tariff, "Std", "ToU"), (Dim::Acorn, "ACORN-A", "ACORN-K")] {
        groups.push(GroupPartial { dim, group: a.into(), month: jan, stats: std, households: vec![0] });
        groups.push(GroupPartial { dim, group: b.into(), month: feb, stats: tou, households: vec![1] });
    }
    let part = ChunkAggregate {
        households: vec!["MAC000002".into(), "MAC000003".into()],
        groups,
        profile: vec![
            ProfilePartial { tariff: "Std".into(), slot: 0, readings: 1, kwh_sum: 500_000 },
            ProfilePartial { tariff: "Std".into(), slot: 47, readings: 1, kwh_sum: 250_000 },
        ],
        ..Default::default()
    };
    let mut agg = JobAggregate::default();
    agg.merge(&part).unwrap();
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(files: &'a [(String, Vec<u8>)], table: Table) -> &'a str {
        let (_, bytes) = files.iter().find(|(rel, _)| *rel == table.file()).unwrap();
        std::str::from_utf8(bytes).unwrap()
    }

    /// The JSON files' shape is the results' public format (notebooks, tests and the
    /// golden answer read it): field names, order, number formatting and nulls.
    #[test]
    fn rows_are_written_as_the_json_results_have_always_been() {
        let files = tables(&sample_aggregate()).json_files();
        let names: Vec<&str> = files.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(
            names,
            [
                "results/by_acorn_grouped_month.json",
                "results/by_tariff_month.json",
                "results/by_acorn_month.json",
                "results/by_tariff_halfhour.json"
            ]
        );
        assert_eq!(
            file(&files, Table::Month(Dim::Tariff)),
            r#"[
  {
    "tariff": "Std",
    "month": "2013-01",
    "rows": 3,
    "readings": 2,
    "kwh_sum": 0.75,
    "kwh_mean": 0.375,
    "kwh_min": 0.25,
    "kwh_max": 0.5,
    "households": 1
  },
  {
    "tariff": "ToU",
    "month": "2013-02",
    "rows": 1,
    "readings": 0,
    "kwh_sum": 0.0,
    "kwh_mean": null,
    "kwh_min": null,
    "kwh_max": null,
    "households": 1
  }
]"#
        );
        assert!(file(&files, Table::Month(Dim::AcornGrouped)).starts_with("[\n  {\n    \"acorn_grouped\": \"Adversity\",\n    \"month\""));
        assert!(file(&files, Table::Month(Dim::Acorn)).starts_with("[\n  {\n    \"acorn\": \"ACORN-A\",\n    \"month\""));
        assert_eq!(
            file(&files, Table::Profile),
            r#"[
  {
    "tariff": "Std",
    "halfhour": "00:00",
    "readings": 1,
    "kwh_mean": 0.5
  },
  {
    "tariff": "Std",
    "halfhour": "23:30",
    "readings": 1,
    "kwh_mean": 0.25
  }
]"#
        );
    }

    #[test]
    fn tables_read_back_as_written() {
        let want = tables(&sample_aggregate());
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        out.prepare().unwrap();
        let files = want.json_files();
        out.write_atomic_all(&files.iter().map(|(rel, b)| (rel.as_str(), b.as_slice())).collect::<Vec<_>>()).unwrap();
        let got = Tables::read(&out).unwrap();
        assert_eq!(got, want);
        assert_eq!(got.by_tariff_month[0].group, Group::Tariff("Std".into()));
        assert_eq!(got.by_tariff_month[1].kwh_mean, None);
    }

    /// MongoDB's documents were made from the JSON rows; the typed rows must make the same
    /// ones, BSON types included (counts Int64, kWh Double, no mean Null).
    #[test]
    fn rows_make_the_documents_the_json_rows_made() {
        use mongodb::bson::{doc, to_bson, Bson};
        let t = tables(&sample_aggregate());
        for (table, rows) in t.each() {
            let json: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(&rows).unwrap()).unwrap();
            assert_eq!(to_bson(&rows).unwrap(), to_bson(&json).unwrap(), "{}", table.name());
        }
        let Bson::Array(docs) = to_bson(&TableRows::Month(&t.by_tariff_month)).unwrap() else { panic!("a list of rows") };
        let want = doc! {
            "tariff": "ToU", "month": "2013-02", "rows": 1i64, "readings": 0i64, "kwh_sum": 0.0,
            "kwh_mean": Bson::Null, "kwh_min": Bson::Null, "kwh_max": Bson::Null, "households": 1i64,
        };
        assert_eq!(docs[1], Bson::Document(want));
    }
}
