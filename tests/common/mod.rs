//! Shared by the integration tests: running the binary, a deliberately plain reference
//! implementation of every aggregate, and a generator of messy input.
#![allow(dead_code)]

pub mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use serde_json::{json, Value};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wattswarm"))
}

/// Runs `wattswarm run` with the given args; panics with its output on failure.
pub fn run_ok(args: &[&str]) -> Output {
    let out = bin().arg("run").args(args).env_remove("RUST_LOG").output().expect("wattswarm runs");
    assert!(
        out.status.success(),
        "wattswarm run {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn generate(out: &Path, households: u32, days: u32, seed: u64, layout: &str) {
    let st = bin()
        .args(["generate", "--out", out.to_str().unwrap(), "--households", &households.to_string()])
        .args(["--days", &days.to_string(), "--seed", &seed.to_string(), "--layout", layout])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
}

/// Calls `ready` every `every` until it gives a value; panics with `why()` after `limit`.
/// Every test that waits for a server, a process or a job waits through this.
pub fn until<T>(limit: Duration, every: Duration, mut ready: impl FnMut() -> Option<T>, why: impl FnOnce() -> String) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(t.elapsed() < limit, "after {limit:?}: {}", why());
        std::thread::sleep(every);
    }
}

/// Waits for a child process to exit; panics after `limit`.
pub fn exited(child: &mut std::process::Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    until(limit, Duration::from_millis(50), || child.try_wait().unwrap(), || format!("{what} did not exit"))
}

/// A port nothing listens on now, for a server a test starts, and never one this process
/// was given before: the kernel may hand a port it just freed out again, and a stack test
/// once got the same one for two published ports.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if given.insert(port) {
            return port;
        }
    }
}

/// The results every job writes as `results/{name}.json`, one collection each in MongoDB
/// (`household_day` is the Parquet file `results/household_day.parquet`).
pub const RESULT_TABLES: [&str; 4] = ["by_acorn_grouped_month", "by_tariff_month", "by_acorn_month", "by_tariff_halfhour"];

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The Python environment scripts/setup fills (pyarrow, DuckDB, Polars, pymongo, SecantusDB,
/// nbclient): `$ANCHORS_VENV`, or where scripts/lib.sh puts it.
pub fn anchors_venv() -> String {
    std::env::var("ANCHORS_VENV").unwrap_or_else(|_| format!("{}/.cache/wattswarm-anchors", std::env::var("HOME").unwrap()))
}

/// The Grafana variables the dashboards may use, and what the tests put in their place
/// before they send a query to Prometheus (tests/monitoring.rs holds every dashboard to
/// these). A new variable needs a value here.
pub const DASHBOARD_VARIABLES: &[(&str, &str)] = &[("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "1h"), ("$worker", ".*")];

/// A dashboard's query with [`DASHBOARD_VARIABLES`] replaced by their values.
pub fn with_dashboard_variables(expr: &str) -> String {
    DASHBOARD_VARIABLES.iter().fold(expr.to_owned(), |e, (var, value)| e.replace(var, value))
}

/// `(panel id, expr)` of every query in the dashboard `file` of monitoring/grafana/dashboards,
/// with Grafana's variables replaced.
pub fn dashboard_queries(file: &str) -> Vec<(u64, String)> {
    let path = repo().join("monitoring/grafana/dashboards").join(file);
    let d = read_json(&path);
    let mut panels: Vec<&Value> = d["panels"].as_array().unwrap().iter().collect();
    let mut out = Vec::new();
    while let Some(p) = panels.pop() {
        panels.extend(p["panels"].as_array().into_iter().flatten());
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((p["id"].as_u64().unwrap(), with_dashboard_variables(t["expr"].as_str().unwrap())));
        }
    }
    out.sort();
    out
}

/// The results that must not depend on workers, chunking or timing.
pub fn comparable_results(out: &Path) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for f in RESULT_TABLES {
        m.insert(f.to_string(), read_json(&out.join(format!("results/{f}.json"))));
    }
    let mut s = read_json(&out.join("results/summary.json"));
    for k in ["seconds", "workers", "chunks", "parquet_bytes"] {
        s.as_object_mut().unwrap().remove(k);
    }
    m.insert("summary".into(), s);
    m.insert("household_day".into(), household_day(&out.join("results/household_day.parquet")));
    if out.join("results/rejects.csv").exists() {
        m.insert("rejects".into(), json!(std::fs::read_to_string(out.join("results/rejects.csv")).unwrap()));
    }
    m
}

/// `household_day.parquet` as JSON rows.
pub fn household_day(path: &Path) -> Value {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut rows = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let ids = b.column(0).as_dictionary::<Int32Type>();
        let values = ids.values().as_string::<i32>();
        let days = b.column(1).as_primitive::<Date32Type>();
        let n = b.column(2).as_primitive::<Int64Type>();
        let s = b.column(3).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let id = values.value(ids.keys().value(i) as usize);
            let day = NaiveDate::from_num_days_from_ce_opt(days.value(i) + 719_163).unwrap();
            rows.push(json!([id, day.to_string(), n.value(i), s.value(i)]));
        }
    }
    Value::Array(rows)
}

#[derive(Default, Clone)]
struct Cell {
    rows: u64,
    readings: u64,
    sum: i64,
    min: Option<i64>,
    max: Option<i64>,
    households: BTreeSet<String>,
}

/// Splits a CSV line the simplest correct way, character by character.
fn fields(line: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out.last_mut().unwrap().push('"');
                } else {
                    quoted = false;
                }
            } else {
                out.last_mut().unwrap().push(c);
            }
        } else if c == ',' {
            out.push(String::new());
            at_start = true;
            continue;
        } else if c == '"' && out.last().unwrap().trim().is_empty() && at_start {
            out.last_mut().unwrap().clear();
            quoted = true;
        } else {
            out.last_mut().unwrap().push(c);
        }
        at_start = false;
    }
    (!quoted).then_some(out)
}

fn parse_ts(s: &str) -> Option<NaiveDateTime> {
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    None
}

/// What a correct run must produce, computed independently: chrono for dates, `f64`
/// parsing for kWh, BTreeMaps for groups. Expects the 6-column layout.
pub fn reference(files: &[PathBuf]) -> BTreeMap<String, Value> {
    let mut groups: [BTreeMap<(String, String), Cell>; 3] = Default::default();
    let mut profile: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    let mut hh_day: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    let (mut rows, mut readings, mut nulls, mut rejected, mut lines, mut blank, mut headers) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut households = BTreeSet::new();
    let (mut first, mut last): (Option<NaiveDateTime>, Option<NaiveDateTime>) = (None, None);
    let mut rejects = String::from("file,line,reason,raw\n");
    let mut input_bytes = 0;
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        input_bytes += bytes.len() as u64;
        let text = String::from_utf8(bytes).unwrap();
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut all: Vec<&str> = text.split('\n').collect();
        if all.last() == Some(&"") {
            all.pop();
        }
        for (i, raw) in all.iter().enumerate() {
            lines += 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                blank += 1;
                continue;
            }
            let mut reject = |reason: &str| {
                rejected += 1;
                let q = |s: &str| if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
                rejects.push_str(&format!("{},{},{},{}\n", q(&path.display().to_string()), i + 1, q(reason), q(line)));
            };
            let Some(f) = fields(line) else {
                reject("unterminated quoted field");
                continue;
            };
            let f: Vec<String> = f.iter().map(|s| s.trim_matches([' ', '\t']).to_string()).collect();
            if f.len() != 6 {
                if f[0].eq_ignore_ascii_case("LCLid") {
                    reject("a header line of another layout");
                } else {
                    reject(&format!("expected 6 fields, found {}", f.len()));
                }
                continue;
            }
            if f[0].is_empty() {
                reject("empty LCLid");
                continue;
            }
            if f[0].eq_ignore_ascii_case("LCLid") {
                headers += 1;
                continue;
            }
            let Some(ts) = parse_ts(&f[2]) else {
                reject("DateTime is not a valid date and time");
                continue;
            };
            let kwh: Option<i64> = if f[3].is_empty() || f[3].eq_ignore_ascii_case("null") {
                None
            } else {
                match f[3].parse::<f64>() {
                    Ok(x) if x.is_finite() => Some((x * 1e6).round() as i64),
                    _ => {
                        reject("kWh is neither a number nor Null");
                        continue;
                    }
                }
            };
            rows += 1;
            households.insert(f[0].clone());
            first = Some(first.map_or(ts, |t| t.min(ts)));
            last = Some(last.map_or(ts, |t| t.max(ts)));
            let month = ts.format("%Y-%m").to_string();
            let day = ts.format("%Y-%m-%d").to_string();
            for (g, key) in groups.iter_mut().zip([&f[5], &f[1], &f[4]]) {
                let c = g.entry((key.clone(), month.clone())).or_default();
                c.rows += 1;
                c.households.insert(f[0].clone());
                if let Some(v) = kwh {
                    c.readings += 1;
                    c.sum += v;
                    c.min = Some(c.min.map_or(v, |m| m.min(v)));
                    c.max = Some(c.max.map_or(v, |m| m.max(v)));
                }
            }
            let d = hh_day.entry((f[0].clone(), day)).or_default();
            match kwh {
                Some(v) => {
                    readings += 1;
                    d.0 += 1;
                    d.1 += v;
                    let slot = format!("{:02}:{:02}", ts.hour(), if ts.minute() < 30 { 0 } else { 30 });
                    let p = profile.entry((f[1].clone(), slot)).or_default();
                    p.0 += 1;
                    p.1 += v;
                }
                None => nulls += 1,
            }
        }
    }
    let kwh = |m: i64| m as f64 / 1e6;
    let mean = |s: i64, n: u64| if n == 0 { Value::Null } else { json!(s as f64 / 1e6 / n as f64) };
    let mut out = BTreeMap::new();
    for (g, (name, field)) in groups.iter().zip([("by_acorn_grouped_month", "acorn_grouped"), ("by_tariff_month", "tariff"), ("by_acorn_month", "acorn")]) {
        let rows: Vec<Value> = g
            .iter()
            .map(|((k, m), c)| {
                let mut o = serde_json::Map::new();
                o.insert(field.into(), json!(k));
                o.insert("month".into(), json!(m));
                o.insert("rows".into(), json!(c.rows));
                o.insert("readings".into(), json!(c.readings));
                o.insert("kwh_sum".into(), json!(kwh(c.sum)));
                o.insert("kwh_mean".into(), mean(c.sum, c.readings));
                o.insert("kwh_min".into(), json!(c.min.map(kwh)));
                o.insert("kwh_max".into(), json!(c.max.map(kwh)));
                o.insert("households".into(), json!(c.households.len()));
                Value::Object(o)
            })
            .collect();
        out.insert(name.to_string(), Value::Array(rows));
    }
    out.insert(
        "by_tariff_halfhour".into(),
        Value::Array(profile.iter().map(|((t, s), (n, sum))| json!({"tariff": t, "halfhour": s, "readings": n, "kwh_mean": mean(*sum, *n)})).collect()),
    );
    let total: i64 = groups[1].values().map(|c| c.sum).sum();
    let fmt = |t: Option<NaiveDateTime>| t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    out.insert(
        "summary".into(),
        json!({"rows": rows, "readings": readings, "nulls": nulls, "rejected": rejected, "households": households.len(),
               "first_reading": fmt(first), "last_reading": fmt(last), "input_bytes": input_bytes, "files": files.len(),
               "lines": lines, "blank_lines": blank, "header_lines": headers, "kwh_sum": kwh(total)}),
    );
    out.insert(
        "household_day".into(),
        Value::Array(hh_day.iter().map(|((id, d), (n, s))| json!([id, d, n, kwh(*s)])).collect()),
    );
    if rejected > 0 {
        out.insert("rejects".into(), json!(rejects));
    }
    out
}

/// Rewrites a generated file with every quirk a reader must survive: BOM, quoted
/// fields, the other DateTime format, LF and blank lines, repeated headers, `Null` and
/// empty kWh, and lines broken for every reject reason.
pub fn make_messy(clean: &Path, messy: &Path) {
    let text = std::fs::read_to_string(clean).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        let s = match i % 97 {
            _ if i == 0 => format!("\u{feff}{l}"),
            5 => f.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(","),
            11 => {
                // dd/mm/yyyy HH:MM, as in one published sample.
                let (d, t) = f[2].split_at(10);
                let p: Vec<&str> = d.split('-').collect();
                format!("{},{},{}/{}/{} {},{},{},{}", f[0], f[1], p[2], p[1], p[0], &t[1..6], f[3], f[4], f[5])
            }
            17 => format!("{l}\n"),
            23 => format!("{l}\r\n\r\n   "),
            29 if i % 3 == 0 => "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped".to_string(),
            31 => format!("{},{},2013-02-30 00:00:00.0000000,{},{},{}", f[0], f[1], f[3], f[4], f[5]),
            37 => format!("{},{},{},abc,{},{}", f[0], f[1], f[2], f[4], f[5]),
            41 => format!(",{},{},{},{},{}", f[1], f[2], f[3], f[4], f[5]),
            43 => f[..5].join(","),
            47 => format!("{},{},{}, Null ,{},{}", f[0], f[1], f[2], f[4], f[5]),
            53 => format!("{},{},{},,{},{}", f[0], f[1], f[2], f[4], f[5]),
            59 => format!("\"{},{},{},{},{},{}", f[0], f[1], f[2], f[3], f[4], f[5]),
            _ => l.to_string(),
        };
        out.push(s);
    }
    let mut text = out.join("\r\n");
    text = text.replace("\n\r\n", "\n"); // the LF-only lines
    std::fs::write(messy, text.as_bytes()).unwrap();

}

/// A real HDFS (Apache Hadoop's MiniDFSCluster, `scripts/minidfs`) on 127.0.0.1. It stops
/// when dropped, or when the test process ends (its stdin closes).
pub struct MiniDfs {
    child: std::process::Child,
    _stdin: std::process::ChildStdin,
    dir: tempfile::TempDir,
    /// `hdfs://127.0.0.1:PORT`
    pub url: String,
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a test server started by a script prints on its first line once clients can use
/// it, after `prefix`; panics naming `what` if the line is anything else.
fn ready_line(child: &mut std::process::Child, prefix: &str, what: &str) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{what} did not start: {line:?} (see its stderr above)"))
        .to_owned()
}

impl MiniDfs {
    /// Starts a cluster with `datanodes` DataNodes, on `port` (0: any free port).
    pub fn start(datanodes: u32, port: u16) -> MiniDfs {
        MiniDfs::start_with(datanodes, port, &[])
    }

    /// The same, with Hadoop settings (`KEY=VALUE`) for its NameNode and DataNodes.
    pub fn start_with(datanodes: u32, port: u16, conf: &[&str]) -> MiniDfs {
        use std::process::Stdio;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(repo().join("scripts/minidfs"))
            .arg(dir.path())
            .args(["--datanodes", &datanodes.to_string(), "--port", &port.to_string()])
            .args(conf.iter().flat_map(|kv| ["--conf", kv]))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("scripts/minidfs starts (Java 17 and Maven are needed)");
        let stdin = child.stdin.take().unwrap();
        let url = ready_line(&mut child, "READY ", "MiniDFSCluster");
        MiniDfs {
            child,
            _stdin: stdin,
            dir,
            url,
        }
    }

    /// The folder that holds the cluster's files (the DataNodes' block files among them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs Hadoop's own `hdfs dfs` (FsShell) with `args`; returns its stdout.
    pub fn fs(&self, args: &[&str]) -> String {
        let out = Command::new(repo().join("scripts/minidfs")).arg("--fs").args(args).output().unwrap();
        assert!(out.status.success(), "hdfs dfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Copies `hdfs_path` (absolute on this cluster, or a full `hdfs://` URL as `list`
    /// gives them) to the local `to`.
    pub fn get(&self, hdfs_path: &str, to: &Path) {
        let src = if hdfs_path.starts_with("hdfs://") { hdfs_path.to_owned() } else { format!("{}{hdfs_path}", self.url) };
        self.fs(&["-get", &src, to.to_str().unwrap()]);
    }

    /// Copies the local `from` to `hdfs_path`.
    pub fn put(&self, from: &Path, hdfs_path: &str) {
        self.fs(&["-mkdir", "-p", &format!("{}{}", self.url, parent(hdfs_path))]);
        self.fs(&["-put", "-f", from.to_str().unwrap(), &format!("{}{hdfs_path}", self.url)]);
    }

    /// Every path under `hdfs_path`, recursively, as `hdfs dfs -ls -R` lists them.
    pub fn list(&self, hdfs_path: &str) -> Vec<String> {
        self.fs(&["-ls", "-R", &format!("{}{hdfs_path}", self.url)])
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect()
    }
}

fn parent(p: &str) -> &str {
    p.rfind('/').map(|i| &p[..i.max(1)]).unwrap_or("/")
}

impl Drop for MiniDfs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which MongoDB-wire server a [`WireDb`] runs. The MongoDB suites run on both, so nothing
/// in wattswarm leans on one server's quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// SecantusDB (PyPI, Python), in the anchors' virtual environment.
    Secantus,
    /// FerretDB 1.24 (Go) on SQLite, built by `scripts/setup`.
    Ferret,
}

/// A MongoDB-wire-compatible server on 127.0.0.1, with its data in a temporary folder.
/// Installed by `scripts/setup` (SecantusDB into the anchors' virtual environment, FerretDB
/// into `~/.cache/wattswarm-ferretdb`).
pub struct WireDb {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub kind: Wire,
}

impl WireDb {
    /// SecantusDB.
    pub fn start() -> WireDb {
        WireDb::start_kind(Wire::Secantus)
    }

    pub fn start_kind(kind: Wire) -> WireDb {
        let mut db = WireDb {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            kind,
        };
        db.up();
        db
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again) on the same port and data.
    pub fn up(&mut self) {
        let home = std::env::var("HOME").unwrap();
        let child = match self.kind {
            Wire::Secantus => {
                let venv = anchors_venv();
                Command::new(format!("{venv}/bin/secantusd-py"))
                    .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--storage-path"])
                    .arg(self.dir.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start secantusd-py from {venv} ({e}): run scripts/setup, which installs it"))
            }
            Wire::Ferret => {
                let bin = std::env::var("FERRETDB").unwrap_or_else(|_| format!("{home}/.cache/wattswarm-ferretdb/ferretdb"));
                let dir = self.dir.path().display();
                Command::new(&bin)
                    .args(["--handler=sqlite", &format!("--sqlite-url=file:{dir}/"), &format!("--state-dir={dir}"), "--telemetry=disable"])
                    .arg(format!("--listen-addr=127.0.0.1:{}", self.port))
                    .args(["--debug-addr=127.0.0.1:0", "--log-level=WARN"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): run scripts/setup, which builds it"))
            }
        };
        self.child = Some(child);
        let port = self.port;
        until(
            Duration::from_secs(60),
            Duration::from_millis(50),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
            || format!("{:?} did not start", self.kind),
        );
    }

    /// Stops (`SIGSTOP`) or continues (`SIGCONT`) the server: frozen, it holds every
    /// client's request where it is.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let st = Command::new("kill").args([if frozen { "-STOP" } else { "-CONT" }, &pid]).status().unwrap();
        assert!(st.success());
    }

    /// The names of the database's collections.
    pub fn collections(&self) -> Vec<String> {
        let mut v = self.with(async |db| db.list_collection_names().await.unwrap());
        v.sort();
        v
    }

    /// Kills the server (`kill -9`).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `f` with a client of the `power` database.
    pub fn with<T>(&self, f: impl AsyncFnOnce(mongodb::Database) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = mongodb::Client::with_uri_str(self.uri()).await.unwrap();
            f(client.database("power")).await
        })
    }

    /// Every document of `collection`, sorted by `_id`.
    pub fn all(&self, collection: &str) -> Vec<mongodb::bson::Document> {
        use futures_util::TryStreamExt;
        self.with(async |db| {
            db.collection::<mongodb::bson::Document>(collection)
                .find(mongodb::bson::doc! {})
                .sort(mongodb::bson::doc! {"_id": 1})
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap()
        })
    }

    pub fn count(&self, collection: &str) -> u64 {
        self.with(async |db| db.collection::<mongodb::bson::Document>(collection).count_documents(mongodb::bson::doc! {}).await.unwrap())
    }
}

impl Drop for WireDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A MongoDB document as JSON, without `_id` and `job`: a row as the JSON results hold it.
pub fn plain(d: &mongodb::bson::Document) -> Value {
    let mut d = d.clone();
    d.remove("_id");
    d.remove("job");
    mongodb::bson::Bson::Document(d).into_relaxed_extjson()
}

/// `v` sorted by its documents' text with their keys in order: MongoDB keeps the order a
/// document was written in, the JSON files theirs, and equality ignores it.
pub fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    fn canonical(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let fields: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
                format!("{fields:?}")
            }
            other => other.to_string(),
        }
    }
    v.sort_by_key(canonical);
    v
}

/// A real S3-compatible server (SeaweedFS, `scripts/s3server`) on 127.0.0.1, with one
/// bucket, `wattswarm`, and a key pair made up for this run. It stops when dropped. Or one
/// that runs elsewhere (`reach`: the compose stack's), seen through the same client.
pub struct S3Server {
    child: Option<std::process::Child>,
    _dir: Option<tempfile::TempDir>,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
}

impl S3Server {
    pub const BUCKET: &'static str = "wattswarm";

    pub fn start() -> S3Server {
        use std::process::Stdio;
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let (key_id, secret) = (format!("wattswarm-test-{}", std::process::id()), format!("s3cret-{nanos:x}"));
        let mut child = Command::new(repo().join("scripts/s3server"))
            .arg(dir.path())
            .env("AWS_ACCESS_KEY_ID", &key_id)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .stdout(Stdio::piped())
            .spawn()
            .expect("scripts/s3server starts (scripts/setup e2e builds SeaweedFS)");
        let endpoint = ready_line(&mut child, "S3_ENDPOINT=", "SeaweedFS");
        let s3 = S3Server {
            child: Some(child),
            _dir: Some(dir),
            endpoint,
            key_id,
            secret,
        };
        s3.sdk(&["mb", S3Server::BUCKET]);
        s3
    }

    /// A server this test did not start, at `endpoint`, with its bucket `wattswarm` there.
    pub fn reach(endpoint: String, key_id: String, secret: String) -> S3Server {
        S3Server { child: None, _dir: None, endpoint, key_id, secret }
    }

    /// The variables every AWS tool (and wattswarm) reads to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }

    /// `s3://wattswarm/<key>`
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", S3Server::BUCKET)
    }

    /// Runs tests/s3.py (boto3, the AWS SDK) with `args`; returns its stdout.
    pub fn sdk(&self, args: &[&str]) -> String {
        let out = Command::new(format!("{}/bin/python", anchors_venv()))
            .arg(repo().join("tests/s3.py"))
            .args(args)
            .envs(self.env())
            .output()
            .unwrap();
        assert!(out.status.success(), "s3.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Copies every object under `s3://wattswarm/<key>/` to the local `to`.
    pub fn get(&self, key: &str, to: &Path) {
        self.sdk(&["get", &self.url(key), to.to_str().unwrap()]);
    }

    pub fn put(&self, from: &Path, key: &str) {
        self.sdk(&["put", from.to_str().unwrap(), &self.url(key)]);
    }

    /// Every key under `s3://wattswarm/<key>/`, relative to it, sorted.
    pub fn list(&self, key: &str) -> Vec<String> {
        let mut v: Vec<String> = self.sdk(&["ls", &self.url(key)]).lines().map(str::to_owned).collect();
        v.sort();
        v
    }

    /// Sets this server's variables in this process, for wattswarm's library called in it.
    pub fn export(&self) {
        for (k, v) in self.env() {
            std::env::set_var(k, v);
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The output's commit rule, held on any store (tests/s3.rs: local and S3; tests/hdfs.rs:
/// HDFS): a file is seen whole under its real name or not at all, however far its upload
/// went; of attempts racing for one name exactly one wins, whole; a later attempt is told
/// the name is taken and changes nothing; a writer that gave up leaves only a hidden
/// temporary, which `remove_temps` clears.
pub fn the_commit_rule_holds(out: &wattswarm_core::storage::Output) {
    use std::io::Write;
    use wattswarm_core::storage::Commit;
    out.prepare().unwrap();
    let (big, raced) = ("parquet/part-00007.parquet", "parquet/part-00008.parquet");
    // More than two parts of an object store's multipart upload, sent before the close.
    let bytes: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut a = out.create(big, "a.a0").unwrap();
    a.write_all(&bytes).unwrap();
    assert!(!out.exists(big).unwrap(), "{big} is not seen before its commit");
    assert!(out.list("parquet").unwrap().iter().all(|n| n.starts_with('.')), "only hidden names while writing");
    let a = a.close().unwrap();
    assert_eq!(a.bytes, bytes.len() as u64);

    let outcomes: Vec<(usize, Commit)> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..6)
            .map(|i| {
                s.spawn(move || {
                    let mut w = out.create(raced, &format!("w{i}.a{i}")).unwrap();
                    w.write_all(format!("attempt {i};").repeat(5000).as_bytes()).unwrap();
                    (i, out.commit(w.close().unwrap(), raced).unwrap())
                })
            })
            .collect();
        racers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = outcomes.iter().filter(|(_, c)| *c == Commit::Committed).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "exactly one of the racing attempts commits: {outcomes:?}");
    let got = out.read(raced).unwrap().unwrap();
    assert!(got == format!("attempt {};", winners[0]).repeat(5000).as_bytes(), "the winner's bytes, whole");

    assert_eq!(out.commit(a, big).unwrap(), Commit::Committed);
    assert!(out.exists(big).unwrap(), "{big} is seen once committed");
    assert!(!out.exists("parquet").unwrap(), "a folder is not a committed file");
    let mut late = out.create(big, "b.a1").unwrap();
    late.write_all(b"a later attempt").unwrap();
    assert_eq!(out.commit(late.close().unwrap(), big).unwrap(), Commit::AlreadyThere);
    assert!(out.read(big).unwrap().unwrap() == bytes, "the first commit stays, byte for byte");

    let mut gave_up = out.create(raced, "c.a2").unwrap();
    gave_up.write_all(b"half").unwrap();
    drop(gave_up); // never closed nor committed: a worker that failed here
    assert!(out.remove_temps().unwrap() <= 1);
    assert_eq!(out.list("parquet").unwrap(), ["part-00007.parquet", "part-00008.parquet"], "no temporaries left");

    out.write_atomic("results/x.json", b"1").unwrap();
    out.write_atomic("results/x.json", b"2").unwrap();
    assert_eq!(out.read("results/x.json").unwrap().unwrap(), b"2", "write_atomic replaces");
    assert!(out.read("results/none.json").unwrap().is_none());
}

/// Every file under `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                v.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    v.sort();
    v
}

/// A job's output copied back from a store (`got`) holds the files of the same job run to
/// a local folder (`want`), byte for byte but for the timings (summary.json's seconds, the
/// report's run section, _SUCCESS's job id), and no temporary file.
pub fn assert_same_files(got: &Path, want: &Path, store: &str) {
    assert_eq!(files_under(got), files_under(want), "the same files on {store}, and no temporary ones");
    assert!(files_under(got).iter().filter(|f| f.starts_with("parquet/part-")).count() > 3);
    for f in files_under(want) {
        if f == "results/summary.json" || f == "_SUCCESS" {
            continue; // seconds differ; _SUCCESS holds the job's manifest, with its id
        }
        let (g, w) = (std::fs::read(got.join(&f)).unwrap(), std::fs::read(want.join(&f)).unwrap());
        if f == "results/report.html" {
            // The page's run section names the job's seconds; the answers must match.
            let answers = |b: &[u8]| wattswarm_master::report::answers_part(&String::from_utf8_lossy(b));
            assert_eq!(answers(&g), answers(&w), "{f} differs on {store} beyond its run section");
            continue;
        }
        assert!(g == w, "{f} differs on {store}");
    }
}

/// Every Parquet file of the job in `want` (a local folder) is in `got` byte for byte;
/// returns how many there are. For runs whose results differ only in the input's name.
pub fn assert_same_parquet(got: &Path, want: &Path) -> usize {
    let parts: Vec<String> = files_under(want).into_iter().filter(|f| f.starts_with("parquet/")).collect();
    for f in &parts {
        assert!(std::fs::read(got.join(f)).unwrap() == std::fs::read(want.join(f)).unwrap(), "{f} differs");
    }
    parts.len()
}

/// The stores' suites' input, in `dir`: 10 households × 60 days, clean (`clean.csv`) and
/// made messy (`in/messy.csv`), and the messy file's run to the local `local/` with
/// `args`, the reference the stores' runs are held to. Returns (clean, messy, local).
pub fn messy_and_its_local_run(dir: &Path, args: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let clean = dir.join("clean.csv");
    let messy = dir.join("in/messy.csv");
    std::fs::create_dir_all(messy.parent().unwrap()).unwrap();
    generate(&clean, 10, 60, 5, "six");
    make_messy(&clean, &messy);
    let local = dir.join("local");
    run_ok(&[&["--input", messy.to_str().unwrap(), "--output", local.to_str().unwrap()][..], args].concat());
    (clean, messy, local)
}
