//! The Parquet output read back by other readers (pyarrow, DuckDB, Polars), the way
//! analysts will read it. Needs the virtual environment `scripts/setup` makes (or one
//! named by `ANCHORS_VENV`) with those packages. Missing Python fails the test, loudly.
//! (Test variables avoid the `WATTSWARM_` prefix: those are configuration keys.)
mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{anchors_venv, generate, read_json, run_ok};

fn python() -> PathBuf {
    let p = PathBuf::from(anchors_venv()).join("bin/python");
    assert!(
        p.exists(),
        "{} not found: run scripts/setup (it installs pyarrow, duckdb and polars), or set ANCHORS_VENV",
        p.display()
    );
    p
}

#[test]
fn pyarrow_duckdb_and_polars_read_the_parts_and_agree_with_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    generate(&data, 15, 45, 9, "six");
    let out = dir.path().join("out");
    run_ok(&["--input", data.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet", "--chunk-size", "200000", "--workers", "2"]);
    assert!(std::fs::read_dir(out.join("parquet")).unwrap().count() > 3, "several parts");
    let script = common::repo().join("tests/read_parquet.py");
    let o = Command::new(python()).arg(script).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = read_json(&out.join("results/summary.json"));

    let schema = &seen["schema"];
    assert_eq!(schema["lclid"], "dictionary<values=string, indices=int32, ordered=0>");
    assert_eq!(schema["ts"], "timestamp[us]");
    assert_eq!(schema["kwh"], "double");
    assert_eq!(schema["acorn_grouped"], "dictionary<values=string, indices=int32, ordered=0>");
    for k in ["pyarrow_rows", "duckdb_rows", "polars_rows"] {
        assert_eq!(seen[k], s["rows"], "{k}");
    }
    assert_eq!(seen["pyarrow_nulls"], s["nulls"]);
    assert_eq!(seen["polars_nulls"], s["nulls"]);
    assert_eq!(seen["duckdb_households"], s["households"]);
    assert_eq!(seen["duckdb_kwh_micro"].as_f64().unwrap(), (s["kwh_sum"].as_f64().unwrap() * 1e6).round());

    let groups = read_json(&out.join("results/by_acorn_grouped_month.json"));
    let ours: Vec<serde_json::Value> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| serde_json::json!([g["acorn_grouped"], g["month"], g["rows"], g["readings"], g["households"]]))
        .collect();
    assert_eq!(seen["duckdb_groups"], serde_json::Value::Array(ours));

    // Every row group carries lclid's and ts's min/max, so readers can skip row groups.
    assert!(seen["row_groups"].as_u64().unwrap() > 3, "{seen}");
    assert_eq!(seen["row_groups_with_lclid_and_ts_bounds"], seen["row_groups"], "{seen}");
    let hd = common::household_day(&out.join("results/household_day.parquet"));
    let one: u64 = hd.as_array().unwrap().iter().filter(|d| d[0] == seen["one_household"]).map(|d| d[2].as_u64().unwrap()).sum();
    assert!(one > 0, "{seen}");
    assert_eq!(seen["one_household_readings"], one, "DuckDB's filtered count of one household's readings");

    assert_eq!(seen["household_day_columns"], serde_json::json!(["lclid", "day", "readings", "kwh_sum"]));
    assert_eq!(seen["household_day_readings"], s["readings"]);
}
