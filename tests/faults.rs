//! Faults the README promises to survive, tried as an attacker would: a kill at every
//! step of the end of a job, two masters on one output, a paused master and a paused
//! worker, forged and malformed reports, fake workers by the hundred, a slow body, a user's
//! own files, and a seeded random schedule of `kill -9`, `SIGSTOP` and restarts. Each ends
//! exact (the results equal an embedded run's, one part per chunk, no temporaries left)
//! or refused with a message.
//!
//! `WS_SOAK_ITERATIONS=N cargo test --release --test faults random_schedule` runs
//! the random schedule N times (default 2, what CI runs) with seeds 1..=N.
mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{get, healthy, metric, post, worker, Master, Procs, TOKEN};
use common::{comparable_results, exited, free_port, generate, read_json, run_ok, until, RESULT_TABLES};
use serde_json::{json, Value};

struct Data {
    dir: tempfile::TempDir,
    csv: PathBuf,
    /// The embedded run's output, the reference for every other run.
    base: PathBuf,
    chunks: usize,
}

const CHUNK: &str = "256KiB";

/// ~6 MB in about 25 chunks, and its embedded run.
fn data() -> Data {
    data_of(12, 120)
}

/// `households` × `days` of generated data in chunks of [`CHUNK`], and its embedded run.
fn data_of(households: u32, days: u32) -> Data {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, households, days, 5, "six");
    let base = dir.path().join("embedded");
    run_ok(&["--input", csv.to_str().unwrap(), "--output", base.to_str().unwrap(), "--quiet", "--chunk-size", CHUNK]);
    let chunks = read_json(&base.join("results/summary.json"))["chunks"].as_u64().unwrap() as usize;
    Data { dir, csv, base, chunks }
}

/// The output equals the embedded run's: the same results, byte for byte where they do
/// not carry timings, one part per chunk with the same bytes, and nothing left over.
fn assert_exact(out: &Path, d: &Data) {
    assert!(out.join("_SUCCESS").exists(), "{} is finished", out.display());
    let (got, want) = (comparable_results(out), comparable_results(&d.base));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, v) in &want {
        assert!(got[k] == *v, "{k} differs from the embedded run");
    }
    for f in RESULT_TABLES.map(|t| format!("{t}.json")).into_iter().chain(["household_day.parquet".into()]) {
        assert!(std::fs::read(out.join("results").join(&f)).unwrap() == std::fs::read(d.base.join("results").join(&f)).unwrap(), "results/{f} byte-identical");
    }
    let parts: Vec<String> = names(&out.join("parquet"));
    assert_eq!(parts.len(), d.chunks, "one part per chunk: {parts:?}");
    for p in &parts {
        assert!(std::fs::read(out.join("parquet").join(p)).unwrap() == std::fs::read(d.base.join("parquet").join(p)).unwrap(), "{p} byte-identical");
    }
    let hidden: Vec<String> = ["", "parquet", "results"].iter().flat_map(|d| names(&out.join(d))).filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "no temporaries: {hidden:?}");
    assert!(!out.join("_state").exists(), "the job's state is cleaned up: {:?}", names(&out.join("_state")));
    let locks: Vec<String> = names(out).into_iter().filter(|n| n.starts_with("_lock")).collect();
    assert!(locks.is_empty(), "the lock is given up: {locks:?}");
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn run(d: &Data, out: &Path, env: &[(&str, &str)]) -> std::process::Output {
    common::bin()
        .args(["run", "--input", d.csv.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet", "--chunk-size", CHUNK])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success());
}

fn master_args(port: u16, d: &Data, out: &Path, lease: &str) -> Command {
    let mut c = common::bin();
    c.args(["master", "--listen", &format!("127.0.0.1:{port}"), "--advertise", &format!("http://127.0.0.1:{port}")])
        .args(["--input", d.csv.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet", "--chunk-size", CHUNK])
        .args(["--lease-timeout", lease, "--exit-when-done"])
        .env("WATTSWARM_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn stderr_of(c: &mut Child) -> String {
    let mut s = String::new();
    c.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

#[test]
fn a_kill_at_every_step_of_the_finish_costs_time_not_data() {
    let d = data();
    for point in ["before-report-saved", "after-report-saved", "after-household-day", "after-results", "after-success"] {
        let out = d.dir.path().join(point);
        let o = run(&d, &out, &[("WS_FAILPOINT", point)]);
        assert!(!o.status.success(), "{point}: the run was stopped there");
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("failpoint {point}")), "{point}: {}", String::from_utf8_lossy(&o.stderr));
        // Started again as it was: it finishes, whatever the kill left.
        let o = run(&d, &out, &[]);
        assert!(o.status.success(), "{point}: {}", String::from_utf8_lossy(&o.stderr));
        assert_exact(&out, &d);
    }
}

#[test]
fn a_finished_job_started_again_computes_nothing_and_a_users_files_are_kept() {
    let d = data();
    let out = d.dir.path().join("out");
    assert!(run(&d, &out, &[]).status.success());
    let summary = out.join("results/summary.json");
    let written = std::fs::metadata(&summary).unwrap().modified().unwrap();
    let o = run(&d, &out, &[]);
    assert!(o.status.success());
    assert_eq!(std::fs::metadata(&summary).unwrap().modified().unwrap(), written, "results/ not rewritten");
    assert_exact(&out, &d);
    // A user's own files beside wattswarm's survive a new job over the same output.
    std::fs::write(out.join("results/thesis.txt"), "mine").unwrap();
    std::fs::write(out.join("parquet/my-own-data.parquet"), "mine").unwrap();
    let o = common::bin()
        .args(["run", "--input", d.csv.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet", "--chunk-size", "1MiB"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(out.join("results/thesis.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(out.join("parquet/my-own-data.parquet")).unwrap(), "mine");
    // A folder that is not a wattswarm output is refused, untouched.
    let theirs = d.dir.path().join("theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    let o = run(&d, &theirs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a wattswarm output"), "{err}");
    assert_eq!(names(&theirs), ["notes.txt"], "nothing written into it");
}

#[test]
fn a_second_master_is_refused_then_takes_over_once_the_first_is_gone() {
    let d = data();
    let out = d.dir.path().join("dist");
    let mut procs = Procs::default();
    let port = free_port();
    let a = Master::start(&mut procs, port, &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "30"]);
    // Another master, and a `run`, on the same output: refused, naming the holder.
    let mut b = master_args(free_port(), &d, &out, "30").spawn().unwrap();
    let st = exited(&mut b, Duration::from_secs(20), "the second master");
    let err = stderr_of(&mut b);
    assert_eq!(st.code(), Some(1), "{err}");
    let holder = format!("(pid {})", procs.0[0].id());
    assert!(err.contains("in use by another master") && err.contains(&holder), "{err}");
    let o = run(&d, &out, &[]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(&holder));
    assert_eq!(a.job()["phase"], "running", "the first master carries on");
    // The first one dies (kill -9): its pid is gone from this host, so the lock is taken
    // over at once, though it was renewed a moment ago.
    procs.0[0].kill().unwrap();
    procs.0[0].wait().unwrap();
    let b = Master::start(&mut procs, port, &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "30"]);
    procs.0.push(worker(&b.url, "w", free_port()));
    b.wait_done(Duration::from_secs(120));
    signal(&procs.0[1], "-TERM");
    exited(&mut procs.0[1], Duration::from_secs(20), "the master, after SIGTERM,");
    assert_exact(&out, &d);
}

#[test]
fn a_paused_master_that_lost_its_lock_commits_nothing() {
    let d = data();
    let out = d.dir.path().join("dist");
    let mut procs = Procs::default();
    let a = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "2", "--exit-when-done"]);
    procs.0.push(worker(&a.url, "wa", free_port()));
    until(Duration::from_secs(60), Duration::from_millis(20), || (a.job()["chunks"]["done"].as_u64().unwrap() >= 2).then_some(()), || "2 chunks done".into());
    signal(&procs.0[0], "-STOP");
    std::thread::sleep(Duration::from_millis(3500));
    // Silent past the timeout: another master takes over and finishes the job.
    let b = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "2"]);
    procs.0.push(worker(&b.url, "wb", free_port()));
    b.wait_done(Duration::from_secs(120));
    let sealed = std::fs::read(out.join("_SUCCESS")).unwrap();
    signal(&procs.0[0], "-CONT");
    // The first master wakes, finds its lock gone, and stops without committing.
    let mut first = procs.0.remove(0);
    let st = exited(&mut first, Duration::from_secs(20), "the fenced master");
    assert!(!st.success(), "a master that lost its lock fails its job");
    assert_eq!(std::fs::read(out.join("_SUCCESS")).unwrap(), sealed);
    assert_exact(&out, &d);
}

/// A `Done` report as JSON, for a chunk's real byte length, with household index `index`.
fn forged(worker: &str, job: &str, chunk: &Value, attempt: u64, index: u32) -> Vec<u8> {
    let len = chunk["end"].as_u64().unwrap() - chunk["start"].as_u64().unwrap();
    let report = json!({
        "chunk": chunk["id"], "attempt": attempt, "parquet_bytes": 1, "seconds": 0.0,
        "stages": {"read": 0.0, "parse": 0.0, "encode": 0.0, "write": 0.0},
        "aggregate": {
            "households": ["MAC000002"],
            "totals": {"rows": 1, "readings": 1, "nulls": 0, "rejected": 0, "lines": 1, "blank_lines": 0,
                       "header_lines": 0, "input_bytes": len, "first_ts": 0, "last_ts": 0},
            "groups": [
                {"dim": "acorn_grouped", "group": "Affluent", "month": 24150, "stats": {"rows": 1, "readings": 1, "kwh_sum": 7_000_000_000_i64, "kwh_min": 7_000_000_000_i64, "kwh_max": 7_000_000_000_i64}, "households": [index]},
                {"dim": "tariff", "group": "Std", "month": 24150, "stats": {"rows": 1, "readings": 1, "kwh_sum": 7_000_000_000_i64, "kwh_min": 7_000_000_000_i64, "kwh_max": 7_000_000_000_i64}, "households": [0]},
                {"dim": "acorn", "group": "ACORN-A", "month": 24150, "stats": {"rows": 1, "readings": 1, "kwh_sum": 7_000_000_000_i64, "kwh_min": 7_000_000_000_i64, "kwh_max": 7_000_000_000_i64}, "households": [0]}
            ],
            "profile": [{"tariff": "Std", "slot": 0, "readings": 1, "kwh_sum": 7_000_000_000_i64}]
        }
    });
    serde_json::to_vec(&json!({"worker": worker, "job_id": job, "outcome": {"Done": report}})).unwrap()
}

#[test]
fn forged_malformed_and_fake_peers_are_refused_and_the_job_stays_exact() {
    let d = data();
    let out = d.dir.path().join("dist");
    let mut procs = Procs::default();
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "1"]);
    let call = |path: &str, body: Value| post(&format!("{}{path}", m.url), Some(TOKEN), serde_json::to_vec(&body).unwrap());
    let (code, info) = call("/v1/register", json!({"worker": "mallory"}));
    assert_eq!(code, 200);
    let job = serde_json::from_str::<Value>(&info).unwrap()["job_id"].as_str().unwrap().to_owned();
    let (_, lease) = call("/v1/lease", json!({"worker": "mallory", "job_id": job}));
    let work = &serde_json::from_str::<Value>(&lease).unwrap()["Work"];
    let (chunk, attempt) = (&work["chunk"], work["attempt"].as_u64().unwrap());
    // One lease per worker: asking again hands the first one back (a new attempt).
    let (_, again) = call("/v1/lease", json!({"worker": "mallory", "job_id": job}));
    let work = &serde_json::from_str::<Value>(&again).unwrap()["Work"];
    let (chunk2, attempt2) = (work["chunk"].clone(), work["attempt"].as_u64().unwrap());
    assert_eq!((&chunk2["id"], attempt2), (&chunk["id"], attempt + 1));
    assert_eq!(m.job()["chunks"]["running"], 1);
    // Someone else's chunk, reported by another token holder: refused.
    let url = format!("{}/v1/report", m.url);
    let (code, body) = post(&url, Some(TOKEN), forged("eve", &job, &chunk2, attempt2, 0));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("which mallory holds"), "{body}");
    // The holder's own report naming a household its table does not have: refused, and
    // the chunk goes back to the queue (it used to panic the master, at every restart).
    let (code, body) = post(&url, Some(TOKEN), forged("mallory", &job, &chunk2, attempt2, 7));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("names household 7 of 1"), "{body}");
    // A late report of the handed-back attempt: ignored.
    let (code, _) = post(&url, Some(TOKEN), forged("mallory", &job, chunk, attempt, 0));
    assert_eq!(code, 200);
    // A made-up failure of an attempt nobody holds: ignored too, not counted as a failure
    // (it was, and logged as one).
    let failures = metric(&m.metrics(), "wattswarm_chunk_failures_total");
    let made_up = json!({"worker": "mallory", "job_id": job, "outcome": {"Failed": {"chunk": chunk["id"], "attempt": attempt, "error": "made up"}}});
    let (code, _) = call("/v1/report", made_up);
    assert_eq!(code, 200);
    assert_eq!(metric(&m.metrics(), "wattswarm_chunk_failures_total"), failures, "a stale failure is no failure");
    assert_eq!(metric(&m.metrics(), "wattswarm_stale_reports_total"), 2.0, "the late report and the made-up failure");
    // Two hundred fake workers each grab a chunk and vanish.
    for i in 0..200 {
        let w = format!("fake-{i}");
        assert_eq!(call("/v1/register", json!({"worker": w})).0, 200);
        call("/v1/lease", json!({"worker": w, "job_id": job}));
    }
    procs.0.push(worker(&m.url, "honest-1", free_port()));
    procs.0.push(worker(&m.url, "honest-2", free_port()));
    let j = m.wait_done(Duration::from_secs(120));
    assert_eq!(metric(&m.metrics(), "wattswarm_reports_refused_total"), 2.0);
    assert_exact(&out, &d);
    assert!(read_json(&out.join("results/summary.json"))["workers"].as_u64().unwrap() <= 2, "only workers that did work are counted");
    // Silent workers are forgotten after ten lease timeouts.
    let pruned = || {
        let n = m.job()["workers"].as_array().unwrap().len();
        (n <= 3).then_some(n)
    };
    until(Duration::from_secs(30), Duration::from_millis(500), pruned, || format!("fake workers still listed: {}", j["workers"].as_array().unwrap().len()));
    assert!(get(&format!("{}/v1/job", m.url), Some(TOKEN)).1.len() < 10_000, "/v1/job stays small");
}

#[test]
fn a_slow_body_is_cut_off() {
    let d = data();
    let mut procs = Procs::default();
    let port = free_port();
    let _m = Master::start(&mut procs, port, &d.csv, &d.dir.path().join("dist"), &["--chunk-size", CHUNK]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t = Instant::now();
    write!(s, "POST /v1/report HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"wor").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8];
    while !answer.ends_with(b"\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        answer.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?} after {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(15), "cut off after {:?}", t.elapsed());
}

#[test]
fn a_worker_stopped_past_its_lease_and_a_second_signal() {
    let d = data();
    let out = d.dir.path().join("dist");
    let mut procs = Procs::default();
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", CHUNK, "--lease-timeout", "2"]);
    procs.0.push(worker(&m.url, "sleepy", free_port()));
    let busy = || m.job()["workers"].as_array().unwrap().iter().find(|w| w["id"] == "sleepy" && w["chunk"].is_u64()).map(|_| ());
    // SIGSTOP while it holds a lease. A chunk takes milliseconds, so the worker may have
    // reported between the look and the signal: look again once it is stopped (anything
    // it sent has landed by then) and try again if it held nothing.
    let stopped_holding = || {
        busy()?;
        signal(&procs.0[1], "-STOP");
        std::thread::sleep(Duration::from_millis(300));
        let held = busy();
        if held.is_none() {
            signal(&procs.0[1], "-CONT");
        }
        held
    };
    until(Duration::from_secs(60), Duration::from_millis(5), stopped_holding, || "sleepy never stopped holding a chunk".into());
    // Past the lease timeout its chunk goes to another worker; woken, its late report is
    // ignored.
    procs.0.push(worker(&m.url, "steady", free_port()));
    let expired = || (metric(&m.metrics(), "wattswarm_leases_expired_total") >= 1.0).then_some(());
    until(Duration::from_secs(30), Duration::from_millis(50), expired, || "the stopped worker's lease never expired".into());
    signal(&procs.0[1], "-CONT");
    m.wait_done(Duration::from_secs(120));
    assert_exact_dist(&out, &d, &mut procs);
}

#[test]
fn a_worker_whose_master_is_gone_stops_on_a_second_signal() {
    let d = data();
    let mut procs = Procs::default();
    let m = Master::start(&mut procs, free_port(), &d.csv, &d.dir.path().join("dist"), &["--chunk-size", "64KiB"]);
    procs.0.push(worker(&m.url, "orphan", free_port()));
    until(Duration::from_secs(60), Duration::from_millis(5), || (m.job()["chunks"]["done"].as_u64().unwrap() >= 3).then_some(()), || "3 chunks".into());
    procs.0[0].kill().unwrap();
    procs.0[0].wait().unwrap();
    // Its master gone, the worker retries its report (or its next lease); SIGTERM asks it
    // to stop after that, a second SIGTERM stops it at once.
    let w = &mut procs.0[1];
    signal(w, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").args(["-TERM", &w.id().to_string()]).status();
    exited(w, Duration::from_secs(5), "a worker after two signals");
}

/// Stops a master run without --exit-when-done, then checks its output.
fn assert_exact_dist(out: &Path, d: &Data, procs: &mut Procs) {
    signal(&procs.0[0], "-TERM");
    exited(&mut procs.0[0], Duration::from_secs(20), "the master, after SIGTERM,");
    assert_exact(out, d);
}

/// A reproducible pseudo-random sequence (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One random schedule: a master and three workers on 127.0.0.1, and every 20-300 ms one
/// of: `kill -9` a worker (a new one takes its place), `kill -9` the master (started again
/// on the same output, so also inside the finish), `SIGSTOP` a worker past its lease and
/// `SIGCONT` it, or nothing. Returns how many processes it killed.
fn schedule(d: &Data, seed: u64) -> u32 {
    let out = d.dir.path().join(format!("random-{seed}"));
    let port = free_port();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut procs = Procs::default();
    let start_master = |procs: &mut Procs| {
        let c = master_args(port, d, &out, "2").stderr(Stdio::null()).spawn().unwrap();
        procs.0.insert(0, c);
        healthy(&format!("http://127.0.0.1:{port}"));
    };
    let url = format!("http://127.0.0.1:{port}");
    start_master(&mut procs);
    for i in 0..3 {
        procs.0.push(worker(&url, &format!("r{seed}-{i}"), free_port()));
    }
    let (mut kills, mut next_id) = (0, 3);
    let t = Instant::now();
    let mut stopped: Option<(usize, Instant)> = None;
    loop {
        if out.join("_SUCCESS").exists() && procs.0[0].try_wait().unwrap().is_some() {
            break;
        }
        // A master that exited (done, or killed at the seal and found _SUCCESS) or died.
        if procs.0[0].try_wait().unwrap().is_some() {
            if out.join("_SUCCESS").exists() && !out.join("_state").exists() {
                break;
            }
            procs.0.remove(0);
            start_master(&mut procs);
        }
        assert!(t.elapsed() < Duration::from_secs(150), "seed {seed}: the job did not end");
        std::thread::sleep(Duration::from_millis(20 + rng.below(280)));
        if let Some((i, since)) = stopped {
            if since.elapsed() > Duration::from_millis(2500) {
                signal(&procs.0[i], "-CONT");
                stopped = None;
            }
        }
        match rng.below(10) {
            0..=2 if procs.0.len() > 1 => {
                let i = 1 + rng.below(procs.0.len() as u64 - 1) as usize;
                if stopped.is_some_and(|(s, _)| s == i) {
                    continue;
                }
                let _ = procs.0[i].kill();
                let _ = procs.0[i].wait();
                kills += 1;
                procs.0[i] = worker(&url, &format!("r{seed}-{next_id}"), free_port());
                next_id += 1;
            }
            3 => {
                let _ = procs.0[0].kill();
                let _ = procs.0[0].wait();
                kills += 1;
            }
            4 if stopped.is_none() && procs.0.len() > 1 => {
                let i = 1 + rng.below(procs.0.len() as u64 - 1) as usize;
                signal(&procs.0[i], "-STOP");
                stopped = Some((i, Instant::now()));
            }
            _ => {}
        }
    }
    if let Some((i, _)) = stopped {
        signal(&procs.0[i], "-CONT");
    }
    // A worker woken after the job ended may still be writing a chunk it no longer holds:
    // its hidden temporary is its own to remove. Asked to stop, every worker finishes its
    // chunk, gives up reporting to the gone master and exits; then nothing may be left.
    for w in procs.0.iter_mut().skip(1) {
        signal(w, "-TERM");
    }
    for w in procs.0.iter_mut().skip(1) {
        exited(w, Duration::from_secs(30), "a worker asked to stop after the job");
    }
    // A master killed after _SUCCESS but before its clean-up: the next start finishes it.
    if out.join("_state").exists() || names(&out).iter().any(|n| n.starts_with("_lock")) {
        let mut c = master_args(port, d, &out, "2").spawn().unwrap();
        assert!(exited(&mut c, Duration::from_secs(30), "a master on a finished output").success());
    }
    assert_exact(&out, d);
    kills
}

#[test]
fn random_schedule_of_kills_and_pauses_ends_exact() {
    // ~40 MB in about 160 chunks: long enough for several kills in every schedule.
    let d = data_of(40, 300);
    let n: u64 = std::env::var("WS_SOAK_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let mut kills = 0;
    for seed in 1..=n {
        let k = schedule(&d, seed);
        eprintln!("seed {seed}: exact after {k} kills");
        kills += k;
    }
    eprintln!("{n} schedules, {kills} kills, every one exact");
    assert!(kills >= n as u32, "the schedules killed something: {kills} kills in {n}");
}
