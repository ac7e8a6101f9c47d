//! wattswarm against a real S3-compatible object store: SeaweedFS (`scripts/s3server`),
//! configured only through the standard AWS variables, read back with the AWS SDK
//! (boto3, `tests/s3.py`), never with wattswarm's client.
mod common;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::{worker_with, Master, Procs};
use common::{assert_same_files, comparable_results, files_under, free_port, generate, run_ok, the_commit_rule_holds, until, S3Server};
use wattswarm_core::storage::{Commit, Output};
use wattswarm_core::store::Location;

/// The tests that call wattswarm's library in this process set the AWS variables of their
/// own server (`S3Server::export`): one at a time.
static IN_PROCESS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Local input to S3 output, then S3 input (a prefix, and one object) to S3 output: the
/// local run's files, byte for byte, and no temporary left; the secret key never printed.
#[test]
fn a_run_to_s3_and_from_s3_gives_the_local_results_byte_for_byte() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--chunk-size", "96KiB", "--workers", "3"];
    let (clean, messy, local) = common::messy_and_its_local_run(dir.path(), &args);

    let run = |input: &str, out: &str| {
        let st = common::bin().args(["run", "--input", input, "--output", out]).args(args).envs(s3.env()).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&st.stdout), String::from_utf8_lossy(&st.stderr));
        assert!(st.status.success(), "{stderr}");
        assert!(!stdout.contains(&s3.secret) && !stderr.contains(&s3.secret), "the secret key is never printed");
        assert!(stdout.contains(&format!("{out}/results")), "the output is named as given: {stdout}");
    };
    run(messy.to_str().unwrap(), &s3.url("jobs/one"));
    let back = dir.path().join("back");
    s3.get("jobs/one", &back);
    assert_same_files(&back, &local, "S3");
    assert_eq!(s3.sdk(&["uploads", &s3.url("jobs")]), "", "no multipart upload left unfinished");

    // S3 input: a prefix (every *.csv under it) and one object. Rejects name the file as
    // it was given, so only their paths differ.
    s3.put(&messy, "data/in/messy.csv");
    s3.put(&clean, "data/in/notes.txt"); // not *.csv: not input
    for (i, input) in [s3.url("data/in/"), s3.url("data/in/messy.csv")].iter().enumerate() {
        let out = s3.url(&format!("jobs/from-s3-{i}"));
        run(input, &out);
        let back = dir.path().join(format!("back-{i}"));
        s3.get(&format!("jobs/from-s3-{i}"), &back);
        let mut got = comparable_results(&back);
        let mut want = comparable_results(&local);
        let fix = |v: &mut serde_json::Value, from: &str| *v = serde_json::json!(v.as_str().unwrap().replace(from, "<input>"));
        fix(got.get_mut("rejects").unwrap(), &s3.url("data/in/messy.csv"));
        fix(want.get_mut("rejects").unwrap(), messy.to_str().unwrap());
        assert_eq!(got, want, "input {input}");
        for f in files_under(&local).iter().filter(|f| f.starts_with("parquet/")) {
            assert!(std::fs::read(back.join(f)).unwrap() == std::fs::read(local.join(f)).unwrap(), "{f} differs");
        }
    }

    // What a user gets wrong: one clear message each, non-zero exit, the secret unsaid.
    let fails = |input: &str, env: Vec<(&str, String)>| {
        let st = common::bin().args(["run", "--input", input, "--output", &s3.url("jobs/bad"), "--quiet"]).envs(env).output().unwrap();
        assert!(!st.status.success());
        let stderr = String::from_utf8_lossy(&st.stderr).into_owned();
        assert!(!stderr.contains(&s3.secret), "{stderr}");
        stderr
    };
    let e = fails(&s3.url("data/none/"), s3.env());
    assert!(e.contains("no input found at s3://wattswarm/data/none"), "{e}");
    let e = fails("s3://no-such-bucket/in/", s3.env());
    assert!(e.contains("s3://no-such-bucket/in") && e.contains("the bucket no-such-bucket does not exist: create it first"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line, not the server's XML: {e}");
    let mut wrong = s3.env();
    wrong.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    wrong.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret".into()));
    let e = fails(&s3.url("data/in/"), wrong);
    assert!(e.contains("s3://wattswarm/data/in"), "the location is named: {e}");
}

/// The commit rule on a local folder and on S3: the same check for both (HDFS's is in
/// tests/hdfs.rs).
#[test]
fn the_commit_rule_holds_on_a_local_folder_and_on_s3() {
    let _one = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    the_commit_rule_holds(&Output::local(dir.path()));
    let s3 = S3Server::start();
    s3.export();
    let out = Output::open(&Location::parse(&s3.url("rule")).unwrap(), &Default::default()).unwrap();
    the_commit_rule_holds(&out);
    assert_eq!(s3.list("rule"), ["parquet/part-00007.parquet", "parquet/part-00008.parquet", "results/x.json"], "what boto3 sees");
}

const KILLED: &str = "parquet/part-00003.parquet";

fn big() -> Vec<u8> {
    (0..20u32 << 20).map(|i| (i % 241) as u8).collect()
}

/// Run as a child process by `a_writer_killed_mid_upload_leaves_nothing_half_written`.
#[test]
#[ignore = "a child process of another test"]
fn writer_to_be_killed() {
    let Ok(at) = std::env::var("WS_S3_CHILD_OUTPUT") else { return };
    let out = Output::open(&Location::parse(&at).unwrap(), &Default::default()).unwrap();
    let mut w = out.create(KILLED, "killed.a0").unwrap();
    w.write_all(&big()).unwrap();
    println!("WRITTEN");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// A writer `kill -9`ed with two parts of its upload sent: nobody sees the file, the next
/// attempt commits it whole, and the unfinished upload is only the bucket's to clear.
#[test]
fn a_writer_killed_mid_upload_leaves_nothing_half_written() {
    let _one = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let s3 = S3Server::start();
    s3.export();
    let at = s3.url("killed");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_to_be_killed", "--ignored", "--nocapture"])
        .env("WS_S3_CHILD_OUTPUT", &at)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().contains("WRITTEN")), "the child wrote");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(s3.list("killed"), Vec::<String>::new(), "nothing is seen, not even a temporary");
    assert!(s3.sdk(&["uploads", &at]).contains(".part-00003.parquet.killed.a0.tmp"), "its upload was under way");

    let out = Output::open(&Location::parse(&at).unwrap(), &Default::default()).unwrap();
    let mut w = out.create(KILLED, "next.a1").unwrap();
    w.write_all(&big()).unwrap();
    assert_eq!(out.commit(w.close().unwrap(), KILLED).unwrap(), Commit::Committed);
    let back = tempfile::tempdir().unwrap();
    s3.get("killed", back.path());
    assert!(std::fs::read(back.path().join(KILLED)).unwrap() == big(), "the next attempt's file, whole");
}

/// A job on S3 whose worker is `kill -9`ed mid-job: another worker finishes it, exactly.
#[test]
fn a_worker_killed_mid_job_on_s3_costs_time_not_data() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, 12, 120, 5, "six");
    let base = dir.path().join("embedded");
    run_ok(&["--input", csv.to_str().unwrap(), "--output", base.to_str().unwrap(), "--quiet", "--chunk-size", "256KiB"]);
    s3.put(&csv, "in/lcl.csv");

    let mut procs = Procs(Vec::new());
    let env: Vec<(String, String)> = s3.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let m = Master::start_with(
        &mut procs,
        free_port(),
        Path::new(&s3.url("in/lcl.csv")),
        Path::new(&s3.url("out")),
        &["--chunk-size", "256KiB", "--lease-timeout", "2"],
        &env,
    );
    let mut doomed = worker_with(&m.url, "doomed", free_port(), &env);
    until(Duration::from_secs(60), Duration::from_millis(20), || (m.job()["chunks"]["done"].as_u64()? >= 2).then_some(()), || format!("no progress: {}", m.job()));
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    procs.0.push(worker_with(&m.url, "survivor", free_port(), &env));
    let job = m.wait_done(Duration::from_secs(120));
    assert!(!job.to_string().contains(&s3.secret) && !m.metrics().contains(&s3.secret), "the secret is in no status");
    let back = dir.path().join("back");
    s3.get("out", &back);
    assert_eq!(comparable_results(&back), comparable_results(&base));
    let parts = files_under(&back).into_iter().filter(|f| f.starts_with("parquet/")).collect::<Vec<_>>();
    let want = files_under(&base).into_iter().filter(|f| f.starts_with("parquet/")).collect::<Vec<_>>();
    assert_eq!(parts, want, "one part per chunk, no temporary");
    for f in &want {
        assert!(std::fs::read(back.join(f)).unwrap() == std::fs::read(base.join(f)).unwrap(), "{f} differs");
    }
}
