//! wattswarm against two independent MongoDB-wire servers, SecantusDB (Python, from PyPI)
//! and FerretDB 1.24 on SQLite (Go): every test body runs on both, so nothing is tuned to
//! one server. After a job, the database holds exactly that job's set: one document per
//! accepted row in `power.readings`, its results, no staging collection left; a job killed
//! or a worker killed along the way changes nothing of that.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use mongodb::bson::{Bson, Document};
use serde_json::Value;

use common::cluster::job_status;
use common::{free_port, generate, make_messy, plain, read_json, sorted, until, Wire, WireDb, RESULT_TABLES};

const SECRET: &str = "pw-never-shown-41c7";
const TOKEN: &str = "mongo-test-token-5d1e";

/// Runs each named test body, `fn(Wire)`, once per server.
macro_rules! on_both_servers {
    ($($name:ident),* $(,)?) => {
        mod secantus {
            $(#[test] fn $name() { super::$name(super::common::Wire::Secantus) })*
        }
        mod ferretdb {
            $(#[test] fn $name() { super::$name(super::common::Wire::Ferret) })*
        }
    };
}

on_both_servers!(
    readings_and_results_in_mongodb_with_no_duplicates_after_a_rerun,
    a_server_lost_mid_job_costs_time_not_data,
    a_second_file_leaves_exactly_its_own_rows_and_an_abandoned_job_leaves_nothing,
    a_worker_killed_mid_readings_leaves_every_row_once,
    a_master_killed_during_the_export_resumes_to_the_exact_set,
);

/// `wattswarm run` into `db`: 3 workers, 64 KiB chunks, unless `extra` (environment) says otherwise.
fn run_cmd(db: &WireDb, input: &Path, out: &Path, extra: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = common::bin();
    cmd.args(["run", "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .env("WATTSWARM_WORKERS", "3")
        .env("WATTSWARM_CHUNK_SIZE", "64KiB")
        .env("WATTSWARM_MONGO_URI", db.uri())
        .env("WATTSWARM_MONGO_PASSWORD", SECRET)
        .env("WATTSWARM_MONGO_BATCH", "1000");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

fn run_into(db: &WireDb, input: &Path, out: &Path, extra: &[(&str, &str)]) -> std::process::Output {
    let o = run_cmd(db, input, out, extra).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!all.contains(SECRET), "the password never shows");
    o
}

fn summary(out: &Path) -> Value {
    read_json(&out.join("results/summary.json"))
}

/// The id of the job in `out`: its manifest's while it runs, its record's once done (the
/// manifest goes with `_state`).
fn job_id(db: &WireDb, out: &Path) -> String {
    let manifest = out.join("_state/job.json");
    if manifest.exists() {
        return read_json(&manifest)["job_id"].as_str().unwrap().to_owned();
    }
    let location = out.display().to_string();
    let record = db.all("jobs").into_iter().find(|j| j.get_str("output") == Ok(location.as_str()));
    record.unwrap_or_else(|| panic!("no job record with output {location}")).get_str("_id").unwrap().to_owned()
}

/// The database holds exactly the set of the job that wrote `out`: its readings (count and
/// kWh sum; with `rows_expected`, those rows), each results collection equal to its JSON
/// results and tagged with its job, and no staging collection of any job.
fn assert_exactly_the_set_of(db: &WireDb, out: &Path, job: &str) {
    let s = summary(out);
    let rows = s["rows"].as_u64().unwrap();
    let readings = db.all("readings");
    assert_eq!(readings.len() as u64, rows, "one reading per accepted row of {}", out.display());
    let sum: f64 = readings.iter().filter_map(|d| d.get_f64("kwh").ok()).sum();
    assert!((sum - s["kwh_sum"].as_f64().unwrap()).abs() < 1e-6, "kWh {sum} vs {}", s["kwh_sum"]);
    for name in RESULT_TABLES {
        let want = read_json(&out.join(format!("results/{name}.json"))).as_array().unwrap().clone();
        let docs = db.all(name);
        assert!(docs.iter().all(|d| d.get_str("job") == Ok(job)), "{name} is job {job}'s");
        assert_eq!(sorted(docs.iter().map(plain).collect()), sorted(want), "{name}");
    }
    let hd = common::household_day(&out.join("results/household_day.parquet"));
    let got: Vec<Value> = db.all("household_day").iter().map(plain).collect();
    assert_eq!(got.len(), hd.as_array().unwrap().len(), "household_day");
    let staging: Vec<String> = db.collections().into_iter().filter(|c| c.contains("__")).collect();
    assert!(staging.is_empty(), "no staging collection is left: {staging:?}");
    let record = db.all("jobs").into_iter().find(|j| j.get_str("_id") == Ok(job)).expect("the job's record");
    assert_eq!(record.get_str("status"), Ok("done"), "{record}");
}

/// The staging collection of `live` of the job in `out` (its name carries the job id).
fn staging_count(db: &WireDb, out: &Path, live: &str) -> u64 {
    db.count(&format!("{live}__{}", job_id(db, out)))
}

/// The (LCLid, DateTime in ms) of every row of a clean generated file.
fn pairs_of(csv: &Path) -> BTreeSet<(String, i64)> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let dt = chrono::NaiveDateTime::parse_from_str(f[2].trim(), "%Y-%m-%d %H:%M:%S%.f").unwrap_or_else(|e| panic!("{l}: {e}"));
            (f[0].trim().to_owned(), dt.and_utc().timestamp_millis())
        })
        .collect()
}

fn pairs_in_readings(db: &WireDb) -> BTreeSet<(String, i64)> {
    db.all("readings")
        .iter()
        .map(|d| (d.get_str("lclid").unwrap().to_owned(), d.get_datetime("ts").unwrap().timestamp_millis()))
        .collect()
}

/// Kills a child (`kill -9`) and reaps it.
fn kill(c: &mut Child) {
    c.kill().unwrap();
    c.wait().unwrap();
}

fn readings_and_results_in_mongodb_with_no_duplicates_after_a_rerun(wire: Wire) {
    let db = WireDb::start_kind(wire);
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.csv");
    let messy = dir.path().join("messy.csv");
    generate(&clean, 8, 20, 9, "six");
    make_messy(&clean, &messy);
    let out = dir.path().join("out");
    let o = run_into(&db, &messy, &out, &[]);
    // FerretDB 1.24 cannot rename with dropTarget: one warning per job names the fallback.
    let warnings = String::from_utf8_lossy(&o.stderr).matches("cannot rename with dropTarget (NotImplemented").count();
    assert_eq!(warnings, usize::from(wire == Wire::Ferret), "{}", String::from_utf8_lossy(&o.stderr));
    let s = summary(&out);
    let rows = s["rows"].as_u64().unwrap();
    assert!(rows > 5_000 && s["rejected"].as_u64().unwrap() > 0);
    let first = job_id(&db, &out);
    assert_exactly_the_set_of(&db, &out, &first);

    // Readings: one document per accepted row, typed for analysts.
    let readings = db.all("readings");
    let nulls = readings.iter().filter(|d| d.get("kwh") == Some(&Bson::Null)).count() as u64;
    assert_eq!(nulls, s["nulls"].as_u64().unwrap());
    let d = &readings[readings.len() / 2];
    assert!(matches!(d.get("_id"), Some(Bson::Int64(_))), "{d}");
    assert!(matches!(d.get("ts"), Some(Bson::DateTime(_))), "{d}");
    assert!(d.get_str("lclid").unwrap().starts_with("MAC") && d.get_str("acorn_grouped").is_ok() && d.get_str("tariff").is_ok());
    let hd = db.all("household_day");
    assert!(matches!(hd[0].get("day"), Some(Bson::DateTime(_))), "{}", hd[0]);
    // The key indexes survive the swap; the readings' are built before it.
    let indexes = db.with(async |db| db.collection::<Document>("by_acorn_grouped_month").list_index_names().await.unwrap());
    assert!(indexes.iter().any(|i| i.contains("acorn_grouped") && i.contains("month")), "{indexes:?}");
    let indexes = db.with(async |db| db.collection::<Document>("readings").list_index_names().await.unwrap());
    assert!(indexes.iter().any(|i| i.contains("lclid") && i.contains("ts")), "{indexes:?}");

    // The job's record: done, with its counts, export time and a configuration without secrets.
    let jobs = db.all("jobs");
    assert_eq!(jobs.len(), 1);
    let job = Bson::Document(jobs[0].clone()).into_relaxed_extjson();
    assert_eq!(job["status"], "done");
    assert_eq!(job["summary"]["rows"].as_u64(), Some(rows));
    assert_eq!(job["collections"]["household_day"].as_u64(), Some(hd.len() as u64));
    assert!(job["export_seconds"].as_f64().is_some_and(|s| s > 0.0), "{job}");
    assert_eq!(job["config"]["chunk_size"], 65536);
    assert!(!job.to_string().contains(SECRET));

    // A re-run (a new job over the same input) duplicates nothing and replaces the set.
    let out2 = dir.path().join("out2");
    run_into(&db, &messy, &out2, &[]);
    let second = job_id(&db, &out2);
    assert_ne!(first, second);
    assert_exactly_the_set_of(&db, &out2, &second);
    assert_eq!(db.count("jobs"), 2);

    // Readings off: a job replaces the whole set, so the earlier job's readings go too.
    run_into(&db, &messy, &dir.path().join("out3"), &[("WATTSWARM_MONGO_READINGS", "false")]);
    assert!(!db.collections().contains(&"readings".to_string()), "{:?}", db.collections());
    assert_eq!(db.count("by_tariff_month"), read_json(&out.join("results/by_tariff_month.json")).as_array().unwrap().len() as u64);
    assert_eq!(db.count("jobs"), 3);
}

fn a_server_lost_mid_job_costs_time_not_data(wire: Wire) {
    let mut db = WireDb::start_kind(wire);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, 12, 30, 21, "six");
    let out = dir.path().join("out");
    let mut run = common::bin()
        .args(["run", "--input", csv.to_str().unwrap(), "--output", out.to_str().unwrap(), "--workers", "2", "--chunk-size", "32KiB"])
        .env("WATTSWARM_MONGO_URI", db.uri())
        .env("WATTSWARM_MONGO_BATCH", "500")
        .env("WATTSWARM_MONGO_RETRY_SECONDS", "60")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some readings are in, then take the server away for two seconds.
    let arrived = || (out.join("_state/job.json").exists() && staging_count(&db, &out, "readings") >= 2000).then_some(());
    until(Duration::from_secs(60), Duration::from_millis(50), arrived, || "no readings arrived".into());
    db.kill();
    std::thread::sleep(Duration::from_secs(2));
    db.up();
    let status = run.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(run.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    // An insert in flight at the kill fails and is retried ("retrying" in the log); one sent
    // while the server is away waits in the driver's server selection instead. Which one
    // happens depends on timing, so the test holds the outcome: every row stored once and
    // the job done.
    assert_exactly_the_set_of(&db, &out, &job_id(&db, &out));
    let ids: BTreeSet<i64> = db.all("readings").iter().map(|d| d.get_i64("_id").unwrap()).collect();
    assert_eq!(ids.len() as u64, summary(&out)["rows"].as_u64().unwrap());
}

/// A server after a first job over a generated `a.csv`; `b.csv` generated beside it.
struct AfterA {
    db: WireDb,
    dir: tempfile::TempDir,
    b: std::path::PathBuf,
    out_a: std::path::PathBuf,
}

/// `a` and `b`: (households, days, seed) of each file.
fn after_a_first_job(wire: Wire, a: (u32, u32, u64), b: (u32, u32, u64)) -> AfterA {
    let db = WireDb::start_kind(wire);
    let dir = tempfile::tempdir().unwrap();
    let (a_csv, b_csv) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    generate(&a_csv, a.0, a.1, a.2, "six");
    generate(&b_csv, b.0, b.1, b.2, "six");
    let out_a = dir.path().join("out-a");
    run_into(&db, &a_csv, &out_a, &[]);
    assert_exactly_the_set_of(&db, &out_a, &job_id(&db, &out_a));
    AfterA { db, dir, b: b_csv, out_a }
}

fn a_second_file_leaves_exactly_its_own_rows_and_an_abandoned_job_leaves_nothing(wire: Wire) {
    // The same households, other seeds: many rows of b have the `_id` (file index and byte
    // offset) of a row of a; b is shorter, so a's tail would show if it stayed.
    let AfterA { db, dir, b, out_a } = after_a_first_job(wire, (8, 20, 1), (8, 10, 2));

    // A job over b killed mid-readings: readers still see a's whole set.
    let out_b = dir.path().join("out-b");
    let slow = [("WATTSWARM_MONGO_BATCH", "100"), ("WATTSWARM_MONGO_CONCURRENCY", "1"), ("WATTSWARM_WORKERS", "1")];
    let mut killed = run_cmd(&db, &b, &out_b, &slow)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = || (out_b.join("_state/job.json").exists() && staging_count(&db, &out_b, "readings") > 0).then_some(());
    until(Duration::from_secs(60), Duration::from_millis(10), started, || "the job over b stored no readings".into());
    kill(&mut killed);
    let abandoned = job_id(&db, &out_b);
    assert_exactly_the_set_of_but_staging(&db, &out_a, &abandoned);

    // A new job over b, in a new output: exactly b's rows and results, the killed job's
    // staging collections gone and its record marked.
    let out_b2 = dir.path().join("out-b2");
    run_into(&db, &b, &out_b2, &[]);
    let b_job = job_id(&db, &out_b2);
    assert_exactly_the_set_of(&db, &out_b2, &b_job);
    assert!(summary(&out_b2)["rows"].as_u64() < summary(&out_a)["rows"].as_u64(), "b is the shorter file");
    assert_eq!(pairs_in_readings(&db), pairs_of(&b), "the (LCLid, DateTime) pairs are b's");
    let record = db.all("jobs").into_iter().find(|j| j.get_str("_id") == Ok(abandoned.as_str())).unwrap();
    assert_eq!((record.get_str("status"), record.get_str("abandoned_by")), (Ok("abandoned"), Ok(b_job.as_str())), "{record}");

    // The killed job cannot come back and swap in a set without its lost readings.
    let o = run_cmd(&db, &b, &out_b, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(&format!("removed by job {b_job}")), "{err}");
    assert_exactly_the_set_of(&db, &out_b2, &b_job);
}

/// While a job is unfinished: the live set is still `out`'s; `unfinished` has staging
/// collections beside it.
fn assert_exactly_the_set_of_but_staging(db: &WireDb, out: &Path, unfinished: &str) {
    let s = summary(out);
    assert_eq!(db.count("readings"), s["rows"].as_u64().unwrap());
    let job = job_id(db, out);
    assert!(db.all("by_tariff_month").iter().all(|d| d.get_str("job") == Ok(job.as_str())));
    let staging: Vec<String> = db.collections().into_iter().filter(|c| c.contains("__")).collect();
    assert!(!staging.is_empty() && staging.iter().all(|c| c.ends_with(&format!("__{unfinished}"))), "{staging:?}");
}

fn a_worker_killed_mid_readings_leaves_every_row_once(wire: Wire) {
    let db = WireDb::start_kind(wire);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, 8, 30, 5, "six");
    let out = dir.path().join("out");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("WATTSWARM_MONGO_URI", db.uri()), ("WATTSWARM_MONGO_BATCH", "100".into()), ("WATTSWARM_TOKEN", TOKEN.into())];
    let mut master = common::bin()
        .args(["master", "--listen", &format!("127.0.0.1:{port}"), "--advertise", &url, "--exit-when-done", "--quiet"])
        .args(["--input", csv.to_str().unwrap(), "--output", out.to_str().unwrap(), "--chunk-size", "128KiB", "--lease-timeout", "2"])
        .envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let worker = |id: &str| {
        common::bin()
            .args(["worker", "--master", &url, "--id", id])
            .envs(env.iter().map(|(k, v)| (k, v.as_str())))
            .env("WATTSWARM_HEARTBEAT_SECONDS", "1")
            .env("WATTSWARM_MONGO_CONCURRENCY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut victim = worker("victim");
    // Kill the victim while it holds a chunk whose readings are being stored.
    let busy = || {
        let j = job_status(&url, TOKEN)?;
        let chunk = j["workers"].as_array()?.iter().find(|w| w["id"] == "victim")?["chunk"].as_u64()?;
        (staging_count(&db, &out, "readings") > 0).then_some(chunk)
    };
    let chunk = until(Duration::from_secs(60), Duration::from_millis(5), busy, || "the victim stored no readings".into());
    kill(&mut victim);
    let stored_at_kill = staging_count(&db, &out, "readings");
    let mut steady = worker("steady");
    let st = common::exited(&mut master, Duration::from_secs(120), "the master");
    let mut err = String::new();
    std::io::Read::read_to_string(master.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(st.success(), "{err}");
    let _ = steady.wait();
    let rows = summary(&out)["rows"].as_u64().unwrap();
    assert!(stored_at_kill < rows, "the victim died mid-job (chunk {chunk}, {stored_at_kill} of {rows} stored)");
    assert_exactly_the_set_of(&db, &out, &job_id(&db, &out));
    assert_eq!(pairs_in_readings(&db), pairs_of(&csv));
}

fn a_master_killed_during_the_export_resumes_to_the_exact_set(wire: Wire) {
    let AfterA { db, dir, b, out_a } = after_a_first_job(wire, (6, 10, 3), (30, 40, 4));
    // Small batches, one in flight: the export of b's 1,200 household-days takes a dozen
    // round trips. Once some are in, freeze the server (the master's next insert waits),
    // kill the master, thaw the server.
    let out = dir.path().join("out");
    let slow = [("WATTSWARM_MONGO_BATCH", "100"), ("WATTSWARM_MONGO_CONCURRENCY", "1")];
    let mut master = run_cmd(&db, &b, &out, &slow).stderr(Stdio::null()).spawn().unwrap();
    let exporting = || (out.join("_state/job.json").exists() && staging_count(&db, &out, "household_day") > 0).then_some(());
    until(Duration::from_secs(120), Duration::from_millis(5), exporting, || "the export did not start".into());
    db.freeze(true);
    kill(&mut master);
    db.freeze(false);
    let job = job_id(&db, &out);
    let record = db.all("jobs").into_iter().find(|j| j.get_str("_id") == Ok(job.as_str())).unwrap();
    assert_eq!(record.get_str("status"), Ok("running"), "killed during the export: {record}");
    assert!(!out.join("_SUCCESS").exists());
    assert_exactly_the_set_of_but_staging(&db, &out_a, &job);

    // The same job again, on the same output: it resumes (same id, its chunks done) and
    // ends with exactly its set.
    run_into(&db, &b, &out, &slow);
    assert_eq!(job_id(&db, &out), job, "resumed, not started afresh");
    assert_exactly_the_set_of(&db, &out, &job);
    assert_eq!(pairs_in_readings(&db), pairs_of(&b));
    assert_eq!(db.count("jobs"), 2);
}

/// The README's mongosh queries, each followed by the output it documents for the sample.
fn readme_queries() -> Vec<(String, Value)> {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    for part in readme.split("<!-- mongosh: the test runs this query -->").skip(1) {
        let js = part.split("```js\n").nth(1).and_then(|p| p.split("```").next()).expect("a js block").trim().to_owned();
        let json = part.split("```json\n").nth(1).and_then(|p| p.split("```").next()).expect("its output").trim().to_owned();
        let want = serde_json::from_str(&json).unwrap_or_else(|e| panic!("README output of {js}: {e}"));
        out.push((js, want));
    }
    out
}

/// On SecantusDB only: the README's queries are MongoDB's, and FerretDB 1.24 lacks `$avg`
/// and `$divide` and computes only the first accumulator of a `$group` (it answers the
/// second query with a kWh sum of 0). What wattswarm stores is checked on FerretDB by every
/// other test; these check the README's numbers.
#[test]
fn the_readme_queries_return_the_documented_numbers_in_mongosh() {
    let queries = readme_queries();
    assert!(queries.len() >= 3, "the README documents its queries");
    let db = WireDb::start_kind(Wire::Secantus);
    let dir = tempfile::tempdir().unwrap();
    let st = common::bin()
        .args(["run", "--output", dir.path().join("out").to_str().unwrap(), "--quiet"])
        .env("WATTSWARM_MONGO_URI", db.uri())
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let mongosh = std::env::var("MONGOSH").unwrap_or_else(|_| format!("{}/.cache/wattswarm-mongosh/node_modules/.bin/mongosh", std::env::var("HOME").unwrap()));
    for (js, want) in queries {
        let o = std::process::Command::new(&mongosh)
            .args([&format!("{}power", db.uri()), "--quiet", "--eval", &format!("EJSON.stringify({js})")])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {mongosh} ({e}): run scripts/setup, which installs it"));
        assert!(o.status.success(), "{js}: {}", String::from_utf8_lossy(&o.stderr));
        let got: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{js}: {e}: {}", String::from_utf8_lossy(&o.stdout)));
        assert_eq!(got, want, "{js}");
    }
}
