//! The committed sample, run the way a new user runs it (no flags), against answers
//! checked by hand with awk on data/sample/power_1.csv.
mod common;

use common::read_json;
use serde_json::Value;

fn find<'a>(rows: &'a Value, key: &str, group: &str, k2: &str, v2: &str) -> &'a Value {
    rows.as_array().unwrap().iter().find(|r| r[key] == group && r[k2] == v2).unwrap_or_else(|| panic!("no {group} {v2}"))
}

#[test]
fn sample_with_no_flags_gives_the_hand_checked_answers() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::bin().arg("run").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The headline table: Std vs ToU and the Acorn groups, mean kWh per half hour.
    assert!(stdout.contains("Std") && stdout.contains("0.2986"), "{stdout}");
    assert!(stdout.contains("ToU") && stdout.contains("0.2431"), "{stdout}");
    assert!(stdout.contains("Affluent") && stdout.contains("0.2908"), "{stdout}");

    let res = dir.path().join("wattswarm-out/results");
    assert!(dir.path().join("wattswarm-out/_SUCCESS").exists());
    let s = read_json(&res.join("summary.json"));
    assert_eq!(s["rows"], 3930);
    assert_eq!(s["readings"], 3928);
    assert_eq!(s["nulls"], 2);
    assert_eq!(s["rejected"], 0);
    assert_eq!(s["households"], 8);
    assert_eq!(s["kwh_sum"], 1077.099);
    assert_eq!(s["first_reading"], "2011-11-23 00:30:00");
    assert_eq!(s["last_reading"], "2011-12-06 23:30:00");
    assert_eq!(s["input_bytes"], 265_850);

    let g = read_json(&res.join("by_acorn_grouped_month.json"));
    let adv = find(&g, "acorn_grouped", "Adversity", "month", "2011-11");
    assert_eq!(adv["rows"], 622);
    assert_eq!(adv["readings"], 621);
    assert_eq!(adv["kwh_sum"], 139.698);
    assert_eq!(adv["kwh_min"], 0.031);
    assert_eq!(adv["kwh_max"], 1.11);
    assert_eq!(adv["households"], 2);

    let t = read_json(&res.join("by_tariff_month.json"));
    let sum = |tariff: &str| -> f64 {
        t.as_array().unwrap().iter().filter(|r| r["tariff"] == tariff).map(|r| r["kwh_sum"].as_f64().unwrap()).sum()
    };
    assert!((sum("Std") - 657.561).abs() < 1e-9);
    assert!((sum("ToU") - 419.538).abs() < 1e-9);

    let p = read_json(&res.join("by_tariff_halfhour.json"));
    let tou18 = find(&p, "tariff", "ToU", "halfhour", "18:00");
    assert_eq!(tou18["readings"], 36);
    assert!((tou18["kwh_mean"].as_f64().unwrap() - 0.553583).abs() < 1e-6);
    assert_eq!(p.as_array().unwrap().len(), 96, "48 half hours for each tariff");

    let hd = common::household_day(&res.join("household_day.parquet"));
    // The sample repeats two (LCLid, DateTime) pairs, as the release does: rows are kept
    // as they are, so those two household-days hold 49 readings.
    let days = hd.as_array().unwrap();
    let full: Vec<_> = days.iter().filter(|d| d[2].as_u64().unwrap() > 48).map(|d| (d[0].as_str().unwrap(), d[1].as_str().unwrap())).collect();
    assert_eq!(full, [("MAC000005", "2011-12-02"), ("MAC000009", "2011-11-28")]);
    let total: u64 = days.iter().map(|d| d[2].as_u64().unwrap()).sum();
    assert_eq!(total, 3928, "household-day readings add up to the readings");
}
