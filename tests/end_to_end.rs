//! `wattswarm run` end to end on generated data with every quirk, compared field by field
//! with an independent reference implementation, for several worker counts and chunk
//! sizes; both layouts; folders of parts; and the errors a user meets.
mod common;

use std::path::Path;

use common::{comparable_results, generate, make_messy, reference, run_ok};

fn assert_same(got: &std::collections::BTreeMap<String, serde_json::Value>, want: &std::collections::BTreeMap<String, serde_json::Value>, what: &str) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: result files");
    for (k, v) in want {
        assert!(got[k] == *v, "{what}: {k} differs\n got: {:.2000}\nwant: {:.2000}", got[k].to_string(), v.to_string());
    }
}

#[test]
fn messy_input_matches_the_reference_for_any_workers_and_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.csv");
    let messy = dir.path().join("messy.csv");
    generate(&clean, 12, 40, 3, "six");
    make_messy(&clean, &messy);
    let want = reference(std::slice::from_ref(&messy));
    let summary = &want["summary"];
    assert!(summary["rejected"].as_u64().unwrap() > 20, "the messy file has rejects: {summary}");
    let rejects = want["rejects"].as_str().unwrap();
    for reason in ["expected 6 fields, found 5", "empty LCLid", "DateTime is not", "kWh is neither", "unterminated"] {
        assert!(rejects.contains(reason), "the messy file exercises {reason:?}");
    }
    for (workers, chunk) in [("1", "1GiB"), ("2", "64KiB"), ("3", "10000"), ("4", "4KiB")] {
        let out = dir.path().join(format!("out-{workers}"));
        run_ok(&["--input", messy.to_str().unwrap(), "--output", out.to_str().unwrap(), "--workers", workers, "--chunk-size", chunk, "--quiet"]);
        assert_same(&comparable_results(&out), &want, &format!("{workers} workers, chunks of {chunk}"));
        let s = common::read_json(&out.join("results/summary.json"));
        assert_eq!(s["workers"].as_u64().unwrap(), workers.parse::<u64>().unwrap());
    }
}

fn aggregates_only(mut m: std::collections::BTreeMap<String, serde_json::Value>) -> std::collections::BTreeMap<String, serde_json::Value> {
    let s = m.get_mut("summary").unwrap().as_object_mut().unwrap();
    for k in ["input_bytes", "files", "lines", "header_lines"] {
        s.remove(k);
    }
    m
}

#[test]
fn four_column_layout_joined_with_households_equals_six_columns() {
    let dir = tempfile::tempdir().unwrap();
    let six = dir.path().join("six/power.csv");
    let four = dir.path().join("four/CC_LCL-FullData.csv");
    std::fs::create_dir_all(six.parent().unwrap()).unwrap();
    std::fs::create_dir_all(four.parent().unwrap()).unwrap();
    generate(&six, 9, 30, 11, "six");
    generate(&four, 9, 30, 11, "four");
    assert!(four.with_file_name("informations_households.csv").exists());
    let (o6, o4) = (dir.path().join("o6"), dir.path().join("o4"));
    run_ok(&["--input", six.to_str().unwrap(), "--output", o6.to_str().unwrap(), "--quiet"]);
    // The folder holds the data and informations_households.csv: found beside it.
    run_ok(&["--input", four.parent().unwrap().to_str().unwrap(), "--output", o4.to_str().unwrap(), "--quiet", "--chunk-size", "50000"]);
    assert_same(&aggregates_only(comparable_results(&o4)), &aggregates_only(comparable_results(&o6)), "4 vs 6 columns");
}

#[test]
fn a_folder_of_parts_with_headers_equals_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    generate(&whole, 10, 20, 5, "six");
    let text = std::fs::read_to_string(&whole).unwrap();
    let mut lines = text.split_inclusive("\r\n");
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let parts = dir.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    for (i, chunk) in body.chunks(body.len() / 3 + 1).enumerate() {
        std::fs::write(parts.join(format!("LCL-June2015v2_{i}.csv")), format!("{header}{}", chunk.concat())).unwrap();
    }
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    run_ok(&["--input", whole.to_str().unwrap(), "--output", a.to_str().unwrap(), "--quiet"]);
    run_ok(&["--input", parts.to_str().unwrap(), "--output", b.to_str().unwrap(), "--quiet", "--chunk-size", "30000"]);
    let glob = format!("{}/LCL-June2015v2_*.csv", parts.display());
    run_ok(&["--input", &glob, "--output", c.to_str().unwrap(), "--quiet", "--workers", "3"]);
    let want = aggregates_only(comparable_results(&a));
    assert_same(&aggregates_only(comparable_results(&b)), &want, "folder");
    assert_same(&aggregates_only(comparable_results(&c)), &want, "glob");
    assert_eq!(common::read_json(&b.join("results/summary.json"))["files"], 3);
    let parts_written = std::fs::read_dir(b.join("parquet")).unwrap().count();
    assert!(parts_written >= 3, "one part per chunk, {parts_written}");
}

#[test]
fn a_rerun_replaces_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    generate(&data, 4, 10, 2, "six");
    let out = dir.path().join("out");
    run_ok(&["--input", data.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet", "--chunk-size", "20000"]);
    let many = std::fs::read_dir(out.join("parquet")).unwrap().count();
    run_ok(&["--input", data.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet"]);
    let one = std::fs::read_dir(out.join("parquet")).unwrap().count();
    assert!(many > 1 && one == 1, "stale parts removed: {many} then {one}");
    assert!(!out.join("_state").exists(), "intermediate state is cleaned up");
}

fn run_err(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = common::bin().arg("run").args(args).envs(env.iter().copied()).output().unwrap();
    assert!(!out.status.success(), "expected failure for {args:?}");
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn clear_errors_and_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = d.join("o");
    let o = o.to_str().unwrap();
    let e = run_err(&["--input", d.join("missing.csv").to_str().unwrap(), "--output", o], &[]);
    assert!(e.contains("no input found at") && e.contains("missing.csv"), "{e}");
    std::fs::write(d.join("other.csv"), "id,when,value\n1,2,3\n").unwrap();
    let e = run_err(&["--input", d.join("other.csv").to_str().unwrap(), "--output", o], &[]);
    assert!(e.contains("other.csv is not LCL smart-meter data") && e.contains("KWH/hh (per half hour) ,Acorn,Acorn_grouped"), "{e}");
    assert!(!Path::new(o).join("parquet").exists(), "nothing was started");
    let e = run_err(&["--output", o], &[("WATTSWARM_WROKERS", "2")]);
    assert!(e.contains("wrokers"), "{e}");
    let e = run_err(&["--output", o, "--chunk-size", "lots"], &[]);
    assert!(e.contains("not a size"), "{e}");
    std::fs::write(d.join("CC_LCL-FullData.csv"), "LCLid,stdorToU,DateTime,KWH/hh (per half hour) \r\n").unwrap();
    let e = run_err(&["--input", d.join("CC_LCL-FullData.csv").to_str().unwrap(), "--output", o], &[]);
    assert!(e.contains("--households"), "{e}");
}

#[test]
fn help_names_every_option_and_its_default() {
    let out = common::bin().args(["run", "--help"]).output().unwrap();
    let h = String::from_utf8_lossy(&out.stdout);
    for s in ["--input", "--output", "--workers", "--chunk-size", "--quiet", "--households", "--config", "./wattswarm-out", "128MiB", "number of cores"] {
        assert!(h.contains(s), "run --help lacks {s}:\n{h}");
    }
    let out = common::bin().args(["generate", "--help"]).output().unwrap();
    let h = String::from_utf8_lossy(&out.stdout);
    for s in ["--out", "--households", "--days", "--seed", "--layout", "default: 5566", "default: 829", "six", "four"] {
        assert!(h.contains(s), "generate --help lacks {s}:\n{h}");
    }
}

/// Issue 15 ("nothing lost, nothing doubled"), input side, through the binary: what is not
/// LCL data is rejected with its reason and line whatever the chunk size, sums stay exact,
/// an empty file in a folder is skipped with a warning, a FIFO stops the job by name.
#[test]
fn what_is_not_lcl_data_is_rejected_the_same_for_any_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("in");
    std::fs::create_dir(&d).unwrap();
    let row = |id: &str, ts: &str, kwh: &str| format!("{id},Std,{ts},{kwh},ACORN-A,Affluent\r\n");
    let ts = "2012-10-12 00:30:00.0000000";
    let mut text = format!("{}\r\n", "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped");
    text += &row("MAC000002", ts, "0.5");
    text += &row("LCLid", ts, "0.5"); // line 3
    text += &row("\u{feff}MAC000002", ts, "0.5"); // 4
    text += &row("MAC000002\0", ts, "0.5"); // 5
    text += &row("MAC000002", "0000-01-01 00:30:00.0000000", "0.5"); // 6
    text += &row("MAC000002", "9999-12-31 00:30:00.0000000", "0.5"); // 7
    for _ in 0..10 {
        text += &row("MAC000002", ts, "999999999999"); // 8-17
    }
    text += &row("MAC000002", ts, &format!("0.25{}", " ".repeat(1 << 20))); // 18: over 1 MiB
    text += &row("MAC000003", ts, "0.25");
    std::fs::write(d.join("a.csv"), &text).unwrap();
    std::fs::write(d.join("empty.csv"), "").unwrap();
    let mut rejects = Vec::new();
    for chunk in ["1GiB", "4KiB"] {
        let out = dir.path().join(format!("out-{chunk}"));
        let run = common::bin().args(["run", "--input", d.to_str().unwrap(), "--output", out.to_str().unwrap(), "--chunk-size", chunk, "--quiet"]).output().unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        assert!(String::from_utf8_lossy(&run.stderr).contains("empty.csv: empty file (0 bytes), no rows: skipped"));
        let s = common::read_json(&out.join("results/summary.json"));
        assert_eq!((s["rows"].as_u64(), s["rejected"].as_u64(), s["households"].as_u64()), (Some(2), Some(16), Some(2)), "{s}");
        assert_eq!(s["kwh_sum"].as_f64(), Some(0.75), "{s}");
        rejects.push(std::fs::read_to_string(out.join("results/rejects.csv")).unwrap());
    }
    assert_eq!(rejects[0], rejects[1], "the same rejects for any chunk size");
    let lines: Vec<&str> = rejects[0].lines().collect();
    for (line, reason) in [
        (3, "LCLid is not MAC and 6 to 10 digits"),
        (4, "a byte-order mark inside the file"),
        (5, "LCLid is not MAC and 6 to 10 digits"),
        (6, "DateTime is outside the years 2000-2030"),
        (7, "DateTime is outside the years 2000-2030"),
        (8, "kWh out of range"),
        (17, "kWh out of range"),
        (18, "line longer than 1 MiB"),
    ] {
        assert!(lines.iter().any(|l| l.contains(&format!(",{line},")) && l.contains(reason)), "line {line}: {reason}\n{}", rejects[0]);
    }
    let long = lines.iter().find(|l| l.contains("line longer than 1 MiB")).unwrap();
    assert!(long.len() > 1000 && long.len() < 1100, "the first 1,000 bytes of the long line: {}", long.len());

    let fifo = d.join("pipe.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let e = run_err(&["--input", d.to_str().unwrap(), "--output", dir.path().join("o").to_str().unwrap()], &[]);
    assert!(e.contains("pipe.csv is not a regular file (a FIFO)"), "{e}");
}
