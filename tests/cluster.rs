//! The master and workers as separate processes on 127.0.0.1: results identical to an
//! embedded run, through worker crashes (`kill -9`), a master crash and restart, and
//! bad requests; every /metrics body checked by `promtool check metrics`; the results
//! dashboard's queries through a real Prometheus.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cluster::{get, healthy, metric, post, worker, worker_with, Master, Procs, TOKEN};
use common::{comparable_results, exited, free_port, generate, run_ok, until};
use serde_json::Value;

fn promtool_check(body: &str, what: &str) {
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's prometheus package; scripts/setup installs it)");
    use std::io::Write;
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let o = p.wait_with_output().unwrap();
    assert!(o.status.success(), "promtool rejects the {what} metrics:\n{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

struct Data {
    _dir: tempfile::TempDir,
    root: PathBuf,
    csv: PathBuf,
    want: std::collections::BTreeMap<String, Value>,
}

/// ~35 MB of data and its embedded-run results.
fn data(households: u32) -> Data {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, households, 400, 17, "six");
    let base = dir.path().join("embedded");
    run_ok(&["--input", csv.to_str().unwrap(), "--output", base.to_str().unwrap(), "--quiet", "--chunk-size", "1MiB"]);
    Data {
        root: dir.path().to_owned(),
        want: comparable_results(&base),
        csv,
        _dir: dir,
    }
}

fn assert_same_results(out: &Path, want: &std::collections::BTreeMap<String, Value>) {
    let got = comparable_results(out);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, v) in want {
        assert!(got[k] == *v, "{k} differs from the embedded run");
    }
}

#[test]
fn master_and_three_worker_processes_match_the_embedded_run() {
    let d = data(30);
    let mut procs = Procs::default();
    let out = d.root.join("dist");
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", "1MiB"]);
    let wports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for (i, p) in wports.iter().enumerate() {
        procs.0.push(worker(&m.url, &format!("w{i}"), *p));
    }
    // The workers' own metrics, while they are alive.
    let metrics_url = format!("http://127.0.0.1:{}/metrics", wports[0]);
    until(Duration::from_secs(20), Duration::from_millis(20), || (get(&metrics_url, None).0 == 200).then_some(()), || "no worker metrics".into());
    let j = m.wait_done(Duration::from_secs(120));
    assert_eq!(j["chunks"]["failed"], 0);
    assert_same_results(&out, &d.want);
    let text = m.metrics();
    promtool_check(&text, "master");
    assert_eq!(metric(&text, "wattswarm_job_progress_ratio"), 1.0);
    assert_eq!(metric(&text, "wattswarm_ingested_rows_total"), d.want["summary"]["rows"].as_f64().unwrap());
    // Each worker commits a chunk while it parses the next, naming it in its next lease
    // request: nothing was handed back or reported late.
    assert_eq!(metric(&text, "wattswarm_chunks_retried_total"), 0.0);
    assert_eq!(metric(&text, "wattswarm_stale_reports_total"), 0.0);
    let served: Vec<&Value> = j["workers"].as_array().unwrap().iter().filter(|w| w["chunks_done"].as_u64().unwrap() > 0).collect();
    assert!(served.len() >= 2, "the work was shared: {j}");
    // Workers leave by themselves once the job is done.
    for c in procs.0.iter_mut().skip(1) {
        assert!(exited(c, Duration::from_secs(20), "a worker, after the job,").success());
    }
}

#[test]
fn worker_metrics_pass_promtool() {
    let d = data(4);
    let mut procs = Procs::default();
    let out = d.root.join("dist");
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", "256KiB"]);
    let wport = free_port();
    procs.0.push(worker(&m.url, "solo", wport));
    // The only worker: the job cannot end before it has served its metrics, so poll them
    // while it works (after the job it exits, and a scrape could come too late).
    let scrape = || {
        let (c, b) = get(&format!("http://127.0.0.1:{wport}/metrics"), None);
        (c == 200 && b.contains("wattswarm_worker_ingested_rows_total") && metric(&b, "wattswarm_worker_ingested_rows_total") > 0.0).then_some(b)
    };
    let body = until(Duration::from_secs(30), Duration::from_millis(20), scrape, || "no worker metrics with ingested rows".into());
    promtool_check(&body, "worker");
    m.wait_done(Duration::from_secs(60));
}

#[test]
fn killing_workers_mid_chunk_loses_nothing() {
    let d = data(200);
    let mut procs = Procs::default();
    let out = d.root.join("dist");
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &["--chunk-size", "8MiB", "--lease-timeout", "2"]);
    procs.0.push(worker(&m.url, "steady", free_port()));
    // Four times: start a worker, wait until it holds a chunk, kill -9 it mid-chunk.
    let mut killed = Vec::new();
    for n in 0..4 {
        let id = format!("victim-{n}");
        procs.0.push(worker(&m.url, &id, free_port()));
        killed.push(kill_when_busy(&m, procs.0.last_mut().unwrap(), &id));
    }
    assert_eq!(killed.len(), 4);
    m.wait_done(Duration::from_secs(180));
    assert_same_results(&out, &d.want);
    let text = m.metrics();
    // A victim can finish its chunk between our look and the kill; most are caught mid-chunk.
    let expired = metric(&text, "wattswarm_leases_expired_total");
    assert!(expired >= 1.0, "killed workers' leases expired and went to another worker: {expired}, {killed:?}");
    let total = m.job()["chunks"]["done"].as_f64().unwrap();
    assert_eq!(metric(&text, "wattswarm_chunks_completed_total"), total, "each chunk counted once");
    let stray: Vec<_> = std::fs::read_dir(out.join("parquet")).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
    assert!(stray.is_empty(), "no temporary part left behind: {stray:?}");
}

#[test]
fn a_master_killed_mid_job_resumes_without_redoing_chunks() {
    let d = data(60);
    let mut procs = Procs::default();
    let out = d.root.join("dist");
    let port = free_port();
    let args = ["--chunk-size", "1MiB", "--lease-timeout", "3"];
    let m = Master::start(&mut procs, port, &d.csv, &out, &args);
    procs.0.push(worker(&m.url, "a", free_port()));
    procs.0.push(worker(&m.url, "b", free_port()));
    let five_done = || Some(m.job()["chunks"]["done"].as_u64().unwrap()).filter(|&done| done >= 5);
    let done_before = until(Duration::from_secs(60), Duration::from_millis(20), five_done, || "5 chunks done".into());
    let total = m.job()["chunks"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>();
    assert!(done_before < total, "killed mid-job");
    procs.0[0].kill().unwrap(); // kill -9
    procs.0[0].wait().unwrap();
    // Started again with the same output; the workers find it by themselves.
    let m = Master::start(&mut procs, port, &d.csv, &out, &args);
    m.wait_done(Duration::from_secs(120));
    assert_same_results(&out, &d.want);
    let text = m.metrics();
    let resumed = metric(&text, "wattswarm_chunks_resumed_total");
    let completed = metric(&text, "wattswarm_chunks_completed_total");
    assert!(resumed >= done_before as f64, "{resumed} resumed, {done_before} were done");
    assert_eq!(resumed + completed, total as f64, "no completed chunk was done again");
}

#[test]
fn tokens_bad_bodies_and_the_master_keeps_serving() {
    let d = data(3);
    let mut procs = Procs::default();
    let out = d.root.join("dist");
    let m = Master::start(&mut procs, free_port(), &d.csv, &out, &[]);
    let job = format!("{}/v1/job", m.url);
    assert_eq!(get(&job, None).0, 401, "no token");
    assert_eq!(get(&job, Some("wrong")).0, 401, "wrong token");
    assert_eq!(get(&format!("{}/metrics", m.url), None).0, 401);
    assert_eq!(post(&format!("{}/v1/lease", m.url), None, b"{}".to_vec()).0, 401);
    let (code, body) = post(&format!("{}/v1/register", m.url), Some(TOKEN), b"{not json".to_vec());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("bad request body"), "{body}");
    let (code, _) = post(&format!("{}/v1/register", m.url), Some(TOKEN), br#"{"wrong": 1}"#.to_vec());
    assert_eq!(code, 400);
    let big = vec![b' '; 17 << 20];
    let (code, _) = post(&format!("{}/v1/report", m.url), Some(TOKEN), big);
    assert!(code == 413 || code == 0, "oversized body refused, got {code}");
    let (code, body) = post(&format!("{}/v1/lease", m.url), Some(TOKEN), br#"{"worker":"x","job_id":"old"}"#.to_vec());
    assert_eq!(code, 409, "a worker of another job is told to register again: {body}");
    // Still serving, and the token appears nowhere it answers.
    let (code, body) = get(&job, Some(TOKEN));
    assert_eq!(code, 200);
    assert!(!body.contains(TOKEN));
    assert!(!m.metrics().contains(TOKEN));
    // SIGTERM: a clean exit.
    let pid = procs.0[0].id();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let st = exited(&mut procs.0[0], Duration::from_secs(15), "the master, after SIGTERM,");
    assert!(st.success(), "SIGTERM exits cleanly: {st}");
}

#[test]
fn a_worker_started_before_its_master_waits_and_joins() {
    let d = data(3);
    let mut procs = Procs::default();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let early = common::bin()
        .args(["worker", "--master", &url, "--id", "early", "--metrics-listen", &format!("127.0.0.1:{}", free_port())])
        .env("WATTSWARM_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let m = Master::start(&mut procs, port, &d.csv, &d.root.join("dist"), &["--exit-when-done"]);
    let _ = m;
    let o = early.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let attempts = err.lines().filter(|l| l.contains("attempt")).count();
    assert!((2..=8).contains(&attempts), "one line per attempt, with backoff: {err}");
    assert!(err.contains("is the master up"), "{err}");
    assert!(err.contains("joined job"), "{err}");
    assert_same_results(&d.root.join("dist"), &d.want);
}

#[test]
fn a_chunk_failing_every_attempt_fails_the_job_with_its_file_and_range() {
    let d = data(3);
    let mut procs = Procs::default();
    let port = free_port();
    let gone = d.root.join("gone.csv");
    std::fs::copy(&d.csv, &gone).unwrap();
    let mut master = common::bin()
        .args(["master", "--listen", &format!("127.0.0.1:{port}"), "--input", gone.to_str().unwrap()])
        .args(["--output", d.root.join("dist").to_str().unwrap(), "--quiet"])
        .env("WATTSWARM_TOKEN", TOKEN)
        .env("WATTSWARM_MAX_ATTEMPTS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    healthy(&url);
    // The input vanishes after the master checked it: every attempt fails.
    std::fs::remove_file(&gone).unwrap();
    procs.0.push(worker(&url, "w", free_port()));
    let status = exited(&mut master, Duration::from_secs(30), "the master of a failing job");
    let mut err = String::new();
    std::io::Read::read_to_string(master.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("failed 2 times") && err.contains("gone.csv, bytes 0..") && err.contains("No such file"), "{err}");
    // The worker heard that the job is over and left, instead of retrying a master that is gone.
    let w = &mut procs.0[0];
    assert!(exited(w, Duration::from_secs(10), "the worker of a failed job").success());
}

/// Waits until worker `id` holds a chunk, then kills it (`kill -9`); returns the chunk.
fn kill_when_busy(m: &Master, w: &mut Child, id: &str) -> u64 {
    let leased = || {
        let j = m.job();
        let chunk = j["workers"].as_array().unwrap().iter().find(|x| x["id"] == id).and_then(|x| x["chunk"].as_u64());
        assert!(chunk.is_some() || j["phase"] == "running", "the job ended before {id} got a lease: {j}");
        chunk
    };
    let chunk = until(Duration::from_secs(60), Duration::from_millis(5), leased, || format!("no lease for {id}"));
    w.kill().unwrap();
    w.wait().unwrap();
    chunk
}

#[test]
fn on_hdfs_and_mongodb_a_killed_worker_leaves_no_partial_part_and_no_duplicate() {
    let dfs = common::MiniDfs::start(1, 0);
    let db = common::WireDb::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, 8, 90, 23, "six");
    let local = dir.path().join("embedded");
    run_ok(&["--input", csv.to_str().unwrap(), "--output", local.to_str().unwrap(), "--quiet", "--chunk-size", "256KiB"]);
    let env = [("WATTSWARM_MONGO_URI", db.uri()), ("WATTSWARM_MONGO_BATCH", "500".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut procs = Procs::default();
    let out = format!("{}/dist", dfs.url);
    let m = Master::start_with(&mut procs, free_port(), &csv, Path::new(&out), &["--chunk-size", "256KiB", "--lease-timeout", "2"], &env);
    procs.0.push(worker_with(&m.url, "steady", free_port(), &env));
    procs.0.push(worker_with(&m.url, "victim", free_port(), &env));
    let chunk = kill_when_busy(&m, procs.0.last_mut().unwrap(), "victim");
    // After the kill, while the job goes on: every visible part is whole, with Parquet's
    // magic at both ends (a part written in place would be cut short); unfinished ones are
    // hidden. Wait until there is at least one to look at.
    let early = dir.path().join("early");
    std::fs::create_dir_all(&early).unwrap();
    let committed = || {
        let visible: Vec<String> = dfs.list("/dist/parquet").into_iter().filter(|p| !p.rsplit('/').next().unwrap().starts_with('.')).collect();
        (!visible.is_empty()).then_some(visible)
    };
    let visible = until(Duration::from_secs(60), Duration::from_millis(100), committed, || "no part committed after the kill".into());
    for p in &visible {
        let name = p.rsplit('/').next().unwrap();
        dfs.get(p, &early.join(name));
        let bytes = std::fs::read(early.join(name)).unwrap();
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "{p} is a whole Parquet file");
    }
    m.wait_done(Duration::from_secs(180));
    let back = dir.path().join("back");
    dfs.get("/dist", &back);
    assert_same_results(&back, &comparable_results(&local));
    let hidden: Vec<String> = dfs.list("/dist").into_iter().filter(|p| p.rsplit('/').next().unwrap().starts_with('.')).collect();
    assert!(hidden.is_empty(), "no temporary file left on HDFS: {hidden:?}");
    for e in std::fs::read_dir(local.join("parquet")).unwrap().flatten() {
        let name = e.file_name();
        assert!(std::fs::read(e.path()).unwrap() == std::fs::read(back.join("parquet").join(&name)).unwrap(), "{name:?} (the killed worker held chunk {chunk})");
    }
    let rows = common::read_json(&back.join("results/summary.json"))["rows"].as_u64().unwrap();
    assert_eq!(db.count("readings"), rows, "every reading once, though chunk {chunk}'s worker died mid-chunk");
}

/// The stack's demo data (`--fallback-input`) is read only when `--input` holds no CSV;
/// when both hold data the job is the user's alone, never a mix of the two.
#[test]
fn the_fallback_input_is_read_only_when_the_input_holds_no_data() {
    let (user, demo) = (data(3), data(4));
    let empty = user.root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (name, input, want) in [("no-user-data", &empty, &demo.want), ("both", &user.csv, &user.want)] {
        let mut procs = Procs::default();
        let out = user.root.join(name);
        let extra = ["--chunk-size", "1MiB", "--fallback-input", demo.csv.to_str().unwrap()];
        let m = Master::start(&mut procs, free_port(), input, &out, &extra);
        procs.0.push(worker(&m.url, "w", free_port()));
        m.wait_done(Duration::from_secs(60));
        assert_same_results(&out, want);
    }
}

/// A Prometheus server (Debian's `prometheus`, the package that brings promtool) scraping
/// one target every second, with the job's token.
struct Prometheus {
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(procs: &mut Procs, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, TOKEN).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wattswarm-master\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n",
            token.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (Debian's prometheus package; scripts/setup installs it)");
        procs.0.push(child);
        let url = format!("http://127.0.0.1:{port}");
        until(Duration::from_secs(30), Duration::from_millis(100), || (get(&format!("{url}/-/ready"), None).0 == 200).then_some(()), || "Prometheus not ready".into());
        Prometheus { url, _dir: dir }
    }

    /// The instant vector of `expr` now, as Grafana's instant queries ask for it.
    fn query(&self, expr: &str) -> Vec<Value> {
        let mut r = common::cluster::agent().get(format!("{}/api/v1/query", self.url)).query("query", expr).call().unwrap();
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{expr}: {body}");
        body["data"]["result"].as_array().unwrap().clone()
    }

    /// `expr` as a range query over the last `seconds`, as Grafana's time series ask for it.
    fn query_range(&self, expr: &str, seconds: u64) -> Vec<Value> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut r = common::cluster::agent()
            .get(format!("{}/api/v1/query_range", self.url))
            .query("query", expr)
            .query("start", (now - seconds).to_string())
            .query("end", (now + 1).to_string())
            .query("step", "1")
            .call()
            .unwrap();
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["status"], "success", "{expr}: {body}");
        body["data"]["result"].as_array().unwrap().clone()
    }
}

/// `(label values, value)` of each sample of an instant vector.
fn samples(result: &[Value], labels: &[&str]) -> BTreeMap<Vec<String>, f64> {
    result
        .iter()
        .map(|s| {
            let key = labels.iter().map(|l| s["metric"][*l].as_str().unwrap_or_else(|| panic!("no {l} in {s}")).to_string()).collect();
            (key, s["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// `(keys, f(row))` of the rows of a results table.
fn rows(table: &Value, keys: &[&str], f: impl Fn(&Value) -> Option<f64>) -> BTreeMap<Vec<String>, f64> {
    table.as_array().unwrap().iter().filter_map(|r| Some((keys.iter().map(|k| r[*k].as_str().unwrap().to_string()).collect(), f(r)?))).collect()
}

fn assert_close(got: &BTreeMap<Vec<String>, f64>, want: &BTreeMap<Vec<String>, f64>, what: &str) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: the same groups");
    for (k, w) in want {
        assert!((got[k] - w).abs() <= 1e-9 * w.abs().max(1.0), "{what} {k:?}: {} against the results' {w}", got[k]);
    }
}

/// The results dashboard through a real Prometheus that scraped the master of a job: every
/// query has data, the numbers are the job's results (kWh per household-day is 48 times the
/// mean half-hourly reading; households per Acorn group and month add up, month by month,
/// to the households the input holds then), and they stay once the master has gone.
#[test]
fn prometheus_serves_the_results_dashboard_the_jobs_answers() {
    // 829 days: 2012 and 2013 whole, for the like-for-like tariff panels.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lcl.csv");
    generate(&csv, 30, 829, 5, "six");
    let mut procs = Procs::default();
    let port = free_port();
    let out = dir.path().join("dist");
    let m = Master::start(&mut procs, port, &csv, &out, &["--chunk-size", "4MiB"]);
    let prom = Prometheus::start(&mut procs, &format!("127.0.0.1:{port}"));
    procs.0.push(worker(&m.url, "a", free_port()));
    procs.0.push(worker(&m.url, "b", free_port()));
    m.wait_done(Duration::from_secs(120));
    until(Duration::from_secs(30), Duration::from_millis(200), || (!prom.query("wattswarm_result_acorn_grouped_households").is_empty()).then_some(()), || "Prometheus has not scraped the results".into());
    let results = comparable_results(&out);

    let check = |prom: &Prometheus| {
        let queries = common::dashboard_queries("wattswarm-results.json");
        assert!(queries.len() >= 12, "{queries:?}");
        let empty: Vec<&String> = queries.iter().map(|(_, e)| e).filter(|e| prom.query_range(e, 120).is_empty()).collect();
        assert!(empty.is_empty(), "results dashboard queries without data: {empty:#?}");
        let expr = |panel: u64| -> Vec<&str> { queries.iter().filter(|(p, _)| *p == panel).map(|(_, e)| e.as_str()).collect() };
        let per_day = |r: &Value| Some(48.0 * r["kwh_mean"].as_f64()?);

        // kWh per household-day by Acorn group and month: the XY chart and the table.
        let want = rows(&results["by_acorn_grouped_month"], &["acorn_grouped", "month"], per_day);
        for panel in [8, 9] {
            assert_close(&samples(&prom.query(expr(panel)[0]), &["acorn_grouped", "month"]), &want, &format!("panel {panel}"));
        }
        // Households per group and month: the results' numbers, and month by month they add
        // up to the households with rows in the input that month.
        let households = samples(&prom.query(expr(14)[0]), &["acorn_grouped", "month"]);
        assert_close(&households, &rows(&results["by_acorn_grouped_month"], &["acorn_grouped", "month"], |r| r["households"].as_f64()), "households");
        let mut by_month: BTreeMap<String, f64> = BTreeMap::new();
        for (k, n) in &households {
            *by_month.entry(k[1].clone()).or_default() += n;
        }
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut in_input: BTreeMap<String, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() == 6 && f[2].len() >= 7 {
                in_input.entry(f[2][..7].to_string()).or_default().insert(f[0]);
            }
        }
        let in_input: BTreeMap<String, f64> = in_input.into_iter().map(|(m, h)| (m, h.len() as f64)).collect();
        assert_eq!(by_month, in_input, "households per month, summed over the Acorn groups");
        let most = by_month.values().cloned().fold(0.0, f64::max);
        assert!(most > 0.0 && most <= results["summary"]["households"].as_f64().unwrap(), "{by_month:?}");

        // Std and ToU in 2013 only.
        let tariff = rows(&results["by_tariff_month"], &["tariff", "month"], per_day);
        let in_2013: BTreeMap<Vec<String>, f64> = tariff.iter().filter(|(k, _)| k[1].starts_with("2013-")).map(|(k, v)| (k.clone(), *v)).collect();
        assert!(in_2013.keys().any(|k| k[0] == "ToU") && in_2013.keys().any(|k| k[0] == "Std"), "both tariffs in 2013: {tariff:?}");
        assert_close(&samples(&prom.query(expr(11)[0]), &["tariff", "month"]), &in_2013, "panel 11");
        // ToU against Std by calendar month, 2012 beside 2013, and each year's mean.
        let mut ratio = BTreeMap::new();
        for (k, tou) in tariff.iter().filter(|(k, _)| k[0] == "ToU" && (k[1].starts_with("2012-") || k[1].starts_with("2013-"))) {
            if let Some(std) = tariff.get(&vec!["Std".to_string(), k[1].clone()]) {
                ratio.insert(vec![k[1][..4].to_string(), k[1][5..].to_string()], tou / std - 1.0);
            }
        }
        assert!(["2012", "2013"].iter().all(|y| ratio.keys().any(|k| k[0] == *y)), "months of 2012 and of 2013 with both tariffs: {ratio:?}");
        assert_close(&samples(&prom.query(expr(12)[0]), &["year", "calendar_month"]), &ratio, "panel 12");
        let stat: Vec<f64> = expr(15).iter().map(|e| prom.query(e)[0]["value"][1].as_str().unwrap().parse().unwrap()).collect();
        for (got, year) in stat.iter().zip(["2012", "2013"]) {
            let months: Vec<f64> = ratio.iter().filter(|(k, _)| k[0] == year).map(|(_, v)| *v).collect();
            let mean = months.iter().sum::<f64>() / months.len() as f64;
            assert!((got - mean).abs() < 1e-9, "panel 15, {year}: {got} against {mean}");
        }
        // The daily profile: 48 half hours of each tariff.
        let profile = rows(&results["by_tariff_halfhour"], &["tariff", "halfhour"], |r| r["kwh_mean"].as_f64());
        assert_eq!(profile.len(), 96);
        assert_close(&samples(&prom.query(expr(16)[0]), &["tariff", "halfhour"]), &profile, "panel 16");
    };
    check(&prom);

    // The master gone (and so its series marked stale), the answers stay.
    procs.0[0].kill().unwrap();
    procs.0[0].wait().unwrap();
    until(Duration::from_secs(30), Duration::from_millis(200), || prom.query("wattswarm_result_acorn_grouped_households").is_empty().then_some(()), || "the master's series are still live".into());
    check(&prom);
}
