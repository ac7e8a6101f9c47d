//! The analysts' notebooks (notebooks/*.ipynb), run top to bottom by `scripts/notebooks`
//! (nbclient) against an embedded job over generated data that spans 2012 and 2013, its
//! results in a real MongoDB-wire server (SecantusDB) and its Parquet read where the job
//! wrote it: every figure the notebooks print must equal the job's `results/`, and every
//! plot is a PNG that is not blank. The stack test runs the same inside the notebook
//! container, against HDFS through HttpFS.
mod common;

use std::process::Command;

use common::WireDb;

#[test]
fn every_notebook_runs_and_prints_the_jobs_figures() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lcl.csv");
    // 8 households from 2011-11-23 over 800 days: both tariffs, 2012 and 2013.
    common::generate(&input, 8, 800, 3, "six");
    let db = WireDb::start();
    let out = dir.path().join("out");
    let run = common::bin()
        .args(["run", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--chunk-size", "4MiB", "--quiet"])
        .env("WATTSWARM_MONGO_URI", db.uri())
        .env("WATTSWARM_MONGO_READINGS", "false")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let venv = common::anchors_venv();
    let plots = dir.path().join("plots");
    let o = Command::new(format!("{venv}/bin/python"))
        .arg(common::repo().join("scripts/notebooks"))
        .args(["--expect", out.to_str().unwrap(), "--out", plots.to_str().unwrap()])
        .env("MONGO_URI", db.uri())
        .env("PARQUET_DIR", out.join("parquet"))
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "scripts/notebooks:\n{said}");
    for book in ["1-acorn-and-tariff", "2-load-profile-and-daily-spread", "3-households-from-parquet"] {
        assert!(said.contains(&format!("{book}.ipynb: figures equal")), "{said}");
    }
    // 2013 against 2012, like for like: the data has both years.
    assert!(said.contains("3 notebooks, 0 problems"), "{said}");
    let executed = std::fs::read_to_string(plots.join("1-acorn-and-tariff.ipynb")).unwrap();
    assert!(executed.contains("ToU / Std: "), "the like-for-like comparison ran");
}
