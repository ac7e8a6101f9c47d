//! The container stack end to end, with a real Docker engine: `docker-compose.yml` with
//! the CI stand-ins swapped in (`.ci/compose.ci.yml`), then `stack.yml` on a one-node
//! swarm (`.ci/stack.ci.yml`). Each job's results, read back from HDFS with Hadoop's own
//! FsShell inside the namenode container and from MongoDB, must equal an embedded
//! `wattswarm run` of the same files, and every PromQL expression of the Grafana
//! dashboards must return data from the Prometheus inside the stack. With `--profile s3`
//! the output goes to the stack's SeaweedFS instead, read back with boto3.
//!
//! Needs what `scripts/test stack` prepares: a running engine, the base and stand-in images
//! (`images/ci/build`) and `wattswarm:latest` built from this tree
//! (`images/wattswarm/build-from-host`). The tests share the engine: run them with
//! `--test-threads 1`.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::cluster::job_status;
use common::{comparable_results, free_port, plain, read_json, repo, run_ok, sorted, until, RESULT_TABLES};
use serde_json::Value;

fn secret() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("s{:x}{:x}", t, std::process::id())
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs a command; panics with its output unless it succeeds.
fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn docker(args: &[&str]) -> String {
    ok(Command::new("docker").args(args))
}

/// The generated input the stack and the embedded run share, and the embedded run's output.
struct Reference {
    dir: tempfile::TempDir,
}

impl Reference {
    /// The folder mounted at /data: world-readable, since the containers run as uid 10001.
    fn new() -> Reference {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        ok(Command::new("chmod").args(["0777", dir.path().join("data").to_str().unwrap()]));
        Reference { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `wattswarm run` over `input` (a file or folder) with the stack's chunk size, into
    /// `embedded/`.
    fn embedded(&self, input: &Path) -> PathBuf {
        let out = self.dir.path().join("embedded");
        run_ok(&["--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--chunk-size", CHUNK, "--quiet"]);
        out
    }

    /// The stack's generated demo file, copied out of `container`'s /demo.
    fn demo_from(&self, container: &str) -> PathBuf {
        let to = self.dir.path().join("demo.csv");
        docker(&["cp", &format!("{container}:/demo/lcl-generated.csv"), to.to_str().unwrap()]);
        to
    }
}

/// The stack's output copied out of HDFS by Hadoop's FsShell in the namenode container.
fn fetch_hdfs(container: &str, to: &Path) -> PathBuf {
    let _ = docker(&["exec", container, "rm", "-rf", "/tmp/fetched"]);
    docker(&["exec", container, "hdfs", "dfs", "-get", "/wattswarm", "/tmp/fetched"]);
    docker(&["cp", &format!("{container}:/tmp/fetched"), to.to_str().unwrap()]);
    to.to_owned()
}

/// Every Parquet part byte-identical, every result equal.
fn assert_same_output(got: &Path, want: &Path) {
    let parts = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d.join("parquet")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    };
    assert_eq!(parts(got), parts(want), "the same parts, and no temporaries");
    for p in parts(want) {
        let (a, b) = (std::fs::read(got.join("parquet").join(&p)).unwrap(), std::fs::read(want.join("parquet").join(&p)).unwrap());
        assert!(a == b, "parquet/{p} differs from the embedded run's");
    }
    assert!(got.join("_SUCCESS").exists());
    assert_eq!(comparable_results(got), comparable_results(want));
}

/// Every `expr` in the dashboard files, with Grafana's variables as the e2e evaluates them.
fn dashboard_exprs() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo().join("monitoring/grafana/dashboards")).unwrap() {
        out.extend(common::dashboard_queries(&e.unwrap().file_name().to_string_lossy()).into_iter().map(|(_, e)| e));
    }
    assert!(out.len() >= 10, "the dashboards hold their queries: {out:?}");
    out
}

/// Evaluates `expr` over `[from, now]` through Prometheus' HTTP API, as Grafana would;
/// `curl` runs where Prometheus' port is reachable (`prefix`: e.g. `docker exec C`).
fn prom_range(prefix: &[&str], expr: &str, from: u64) -> Vec<Value> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let url = format!("http://127.0.0.1:9090/api/v1/query_range?start={}&end={now}&step=5", from.saturating_sub(60));
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..]).args(["wget", "-qO-", "--post-data"]).arg(format!("query={}", urlencode(expr))).arg(url);
    let body: Value = serde_json::from_str(&ok(&mut cmd)).unwrap();
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body["data"]["result"].as_array().unwrap().clone()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every dashboard query has data for the run. The master publishes the answers (and the
/// job's end) as the job ends, and Prometheus scrapes every 5 s: what a test does after the
/// job may take less than that, so the queries get a few scrapes' time.
fn assert_dashboards_have_data(prefix: &[&str], from: u64) {
    let exprs = dashboard_exprs();
    let empty = || -> Vec<&String> { exprs.iter().filter(|e| prom_range(prefix, e, from).is_empty()).collect() };
    until(Duration::from_secs(60), Duration::from_secs(2), || empty().is_empty().then_some(()), || {
        format!("dashboard queries without data a minute after the run: {:#?}", empty())
    });
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `docker-compose` (1.29, Debian's) or `docker compose` (v2): `COMPOSE` says which.
fn compose_cmd() -> Vec<String> {
    std::env::var("COMPOSE").unwrap_or_else(|_| "docker-compose".into()).split_whitespace().map(str::to_owned).collect()
}

/// A compose project of this test, on its own ports and secrets: `down -v` when dropped.
struct Project {
    name: String,
    /// `-f` files after docker-compose.yml and .ci/compose.ci.yml.
    overrides: Vec<&'static str>,
    env: Vec<(String, String)>,
    token: String,
    password: String,
    master_port: u16,
    mongo_port: u16,
    httpfs_port: u16,
    jupyter_token: String,
    notebook_port: u16,
}

impl Project {
    /// A project over `data`; `name` tells the tests' projects apart.
    fn new(name: &str, data: &Path, overrides: &[&'static str], extra_env: &[(&str, &str)]) -> Project {
        let (token, password, jupyter_token) = (secret(), secret(), secret());
        let (master_port, mongo_port, httpfs_port, notebook_port) = (free_port(), free_port(), free_port(), free_port());
        let mut env: Vec<(String, String)> = [
            ("WATTSWARM_DATA", data.to_str().unwrap().to_owned()),
            ("WATTSWARM_TOKEN", token.clone()),
            ("MONGO_ROOT_USERNAME", "wattswarm".into()),
            ("MONGO_ROOT_PASSWORD", password.clone()),
            ("MONGO_EXPRESS_PASSWORD", secret()),
            ("GRAFANA_ADMIN_PASSWORD", secret()),
            ("JUPYTER_TOKEN", jupyter_token.clone()),
            // Should compose build images/notebook/Dockerfile (scripts/test builds it first):
            // the classic builder, as docker-compose 1.29 uses.
            ("DOCKER_BUILDKIT", "0".into()),
            ("GENERATE_HOUSEHOLDS", HOUSEHOLDS.into()),
            ("GENERATE_DAYS", DAYS.into()),
            ("WATTSWARM_CHUNK_SIZE", CHUNK.into()),
            ("WATTSWARM_LEASE_TIMEOUT_SECONDS", "5".into()),
            ("WORKERS", "3".into()),
            ("HTTPFS_BIND", format!("127.0.0.1:{httpfs_port}")),
            ("MASTER_BIND", format!("127.0.0.1:{master_port}")),
            ("MONGO_BIND", format!("127.0.0.1:{mongo_port}")),
            ("PROMETHEUS_BIND", format!("127.0.0.1:{}", free_port())),
            ("NAMENODE_HTTP_BIND", format!("127.0.0.1:{}", free_port())),
            ("NOTEBOOK_BIND", format!("127.0.0.1:{notebook_port}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // A test's own value replaces the default of the same name.
        env.retain(|(k, _)| !extra_env.iter().any(|(e, _)| e == k));
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Project {
            name: format!("wsci{name}{}", std::process::id()),
            overrides: overrides.to_vec(),
            env,
            token,
            password,
            master_port,
            mongo_port,
            httpfs_port,
            jupyter_token,
            notebook_port,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let c = compose_cmd();
        let mut cmd = Command::new(&c[0]);
        cmd.args(&c[1..]).current_dir(repo()).args(["-p", &self.name, "-f", "docker-compose.yml", "-f", ".ci/compose.ci.yml"]);
        for f in &self.overrides {
            cmd.args(["-f", f]);
        }
        cmd.args(args).envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    fn status(&self) -> Option<Value> {
        job_status(&format!("http://127.0.0.1:{}", self.master_port), &self.token)
    }

    /// Polls the job until it is done; panics if it fails or takes over 10 minutes.
    fn wait_done(&self) -> Value {
        let done = || {
            let st = self.status()?;
            assert_ne!(st["phase"], "failed", "{st}");
            (st["phase"] == "done").then_some(st)
        };
        until(Duration::from_secs(600), Duration::from_millis(500), done, || format!("the job did not finish: {:?}", self.status()))
    }

    fn container(&self, service: &str) -> String {
        ok(&mut self.cmd(&["ps", "-q", service])).lines().next().unwrap_or_else(|| panic!("no {service} container")).to_owned()
    }

    fn logs(&self) -> String {
        self.cmd(&["logs", "--no-color", "--tail", "60"]).output().map(|o| text(&o)).unwrap_or_default()
    }

    fn service_logs(&self, service: &str) -> String {
        text(&self.cmd(&["logs", "--no-color", service]).output().unwrap())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- logs of {}:\n{}", self.name, self.logs());
        }
        let _ = self.cmd(&["down", "-v", "--remove-orphans", "-t", "5"]).output();
    }
}

fn mongo_db(port: u16, user: &str, password: &str) -> (tokio::runtime::Runtime, mongodb::Database) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let uri = format!("mongodb://{user}:{password}@127.0.0.1:{port}/?authSource=admin");
    let client = rt.block_on(mongodb::Client::with_uri_str(uri)).unwrap();
    (rt, client.database("power"))
}

/// Each results collection holds the embedded run's JSON rows; readings = rows.
fn assert_mongo_results(db: &mongodb::Database, rt: &tokio::runtime::Runtime, want: &Path) {
    use futures_util::TryStreamExt;
    for name in RESULT_TABLES {
        let docs: Vec<mongodb::bson::Document> =
            rt.block_on(async { db.collection(name).find(mongodb::bson::doc! {}).await.unwrap().try_collect().await.unwrap() });
        let expected = read_json(&want.join(format!("results/{name}.json"))).as_array().unwrap().clone();
        assert_eq!(sorted(docs.iter().map(plain).collect()), sorted(expected), "{name}");
    }
    let rows = read_json(&want.join("results/summary.json"))["rows"].as_u64().unwrap();
    let readings = rt.block_on(async { db.collection::<mongodb::bson::Document>("readings").count_documents(mongodb::bson::doc! {}).await }).unwrap();
    assert_eq!(readings, rows, "one reading per row, none twice");
}

/// README's recipe "Copying the Parquet to your machine", run as written but for the
/// port: it copies every part through HttpFS, and pyarrow reads them, as many rows as the
/// job's.
fn assert_httpfs_recipe_copies_the_parquet(port: u16, dir: &Path, want: &Path) {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let marker = "<!-- httpfs: the stack test runs this recipe -->\n```sh\n";
    let start = readme.find(marker).expect("README holds the HttpFS recipe") + marker.len();
    let recipe = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(recipe.contains("127.0.0.1:14000"), "{recipe}");
    std::fs::create_dir_all(dir).unwrap();
    ok(Command::new("bash").args(["-euo", "pipefail", "-c", &recipe.replace("127.0.0.1:14000", &format!("127.0.0.1:{port}"))]).current_dir(dir));
    let python = format!("{}/bin/python", common::anchors_venv());
    let rows = ok(Command::new(python).args(["-c", "import pyarrow.parquet as pq; print(pq.read_table('wattswarm-parquet').num_rows)"]).current_dir(dir));
    assert_eq!(rows.trim().parse::<u64>().unwrap(), read_json(&want.join("results/summary.json"))["rows"].as_u64().unwrap());
    let copied = std::fs::read_dir(dir.join("wattswarm-parquet")).unwrap().count();
    assert_eq!(copied, std::fs::read_dir(want.join("parquet")).unwrap().count(), "every part copied");
}

/// The notebook service (the `notebook` profile): JupyterLab answers on its loopback port
/// with its token only, and `scripts/notebooks`, run inside the container (its Python, its
/// environment: MongoDB's credentials, HttpFS), executes every notebook against the job and
/// checks the figures they print against the embedded run's `results/`. The executed
/// notebooks and their plots (checked not blank) are kept in CARGO_TARGET_TMPDIR/notebooks.
fn assert_notebooks_agree(p: &Project, want: &Path) {
    let status = |token: &str| -> u16 {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).http_status_as_error(false).build().into();
        let url = format!("http://127.0.0.1:{}/api/status", p.notebook_port);
        agent.get(&url).header("Authorization", format!("token {token}")).call().map(|r| r.status().as_u16()).unwrap_or(0)
    };
    until(Duration::from_secs(300), Duration::from_secs(1), || (status(&p.jupyter_token) == 200).then_some(()), || format!("JupyterLab did not answer:\n{}", p.service_logs("notebook")));
    assert_eq!(status("not-the-token"), 403, "JupyterLab wants its token");
    let c = p.container("notebook");
    docker(&["cp", want.to_str().unwrap(), &format!("{c}:/tmp/expected")]);
    docker(&["cp", repo().join("scripts/notebooks").to_str().unwrap(), &format!("{c}:/tmp/run-notebooks")]);
    let run = Command::new("docker")
        .args(["exec", &c, "python", "/tmp/run-notebooks", "--expect", "/tmp/expected", "--out", "/tmp/notebooks-out", "--notebooks", "/home/jovyan/work"])
        .output()
        .unwrap();
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("notebooks");
    let _ = std::fs::remove_dir_all(&kept);
    docker(&["cp", &format!("{c}:/tmp/notebooks-out"), kept.to_str().unwrap()]);
    eprintln!("{}", text(&run));
    assert!(run.status.success(), "the notebooks against the stack's job (kept in {}):\n{}", kept.display(), text(&run));
    let pngs = std::fs::read_dir(&kept).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count();
    assert!(pngs >= 6, "{pngs} plots kept in {}", kept.display());
}

/// 414,102 rows, 28.1 MB (seed 1), in 1 MiB chunks: a job of 27 chunks, enough for three
/// workers to share and for one to be killed in the middle (its chunks took 13-15 s with
/// MongoDB readings in 2026-12; the compose test holds the master until Prometheus has
/// scraped every worker, which took 15-20 s). The whole period (829 days), so that the
/// results dashboard's 2012 and 2013 panels have Std and ToU households to show.
const HOUSEHOLDS: &str = "15";
const DAYS: &str = "829";
const CHUNK: &str = "1MiB";

#[test]
fn compose_three_workers_one_killed_mid_job_match_an_embedded_run() {
    let r = Reference::new();
    let p = Project::new("c", &r.data(), &[], &[("COMPOSE_PROFILES", "notebook")]);
    let started = unix_now();
    // WORKERS=3 (the file's `scale:`), no --scale: what a plain `up -d` keeps.
    ok(&mut p.cmd(&["up", "-d"]));

    // Prometheus finds a new worker 5-15 s after it starts (DNS refresh, target update,
    // scrape offset, 5 s each), and this job's chunks take about 15 s: the master is
    // frozen (`docker pause`) until Prometheus has scraped all three workers, so that one
    // of them can be killed after that and before the job ends, however fast the job
    // gets. The workers wait for it as for a master that restarts.
    let master = p.container("master");
    docker(&["pause", &master]);
    let prom = p.container("prometheus");
    let scraped = || -> BTreeSet<String> {
        prom_range(&["docker", "exec", &prom], "wattswarm_worker_busy_chunks", started)
            .iter()
            .filter_map(|s| s["metric"]["worker"].as_str().map(str::to_owned))
            .collect()
    };
    let all_three = || (scraped().len() >= 3).then_some(());
    until(Duration::from_secs(300), Duration::from_secs(1), all_three, || format!("Prometheus scraped {:?}, not three workers", scraped()));
    docker(&["unpause", &master]);

    // With no CSV in the data folder, generate wrote the demo file into its own volume
    // (never into the user's folder), and the master reads that.
    let input = r.demo_from(&master);
    assert_eq!(std::fs::read_dir(r.data()).unwrap().count(), 0, "nothing was written into the user's data folder");
    assert!(p.service_logs("master").contains("reading the generated demo data in /demo"), "{}", p.service_logs("master"));

    // Kill a worker (SIGKILL) while it holds a chunk and chunks remain, once Prometheus
    // has scraped it: every replica, the killed one too, must reach the dashboards. The
    // worker is picked in the status read right before the kill (Prometheus is asked
    // first), so that it has no time to hand its chunk in.
    // What each poll saw, when it changed: the failure message says which condition never held.
    let mut seen_log: Vec<String> = Vec::new();
    let busy_and_scraped = || {
        let seen_by_prometheus = scraped();
        let st = p.status()?;
        let pending = st["chunks"]["pending"].as_u64().unwrap();
        let busy: Vec<&str> = st["workers"].as_array().unwrap().iter().filter(|w| !w["chunk"].is_null()).map(|w| w["id"].as_str().unwrap()).collect();
        let line = format!("phase {}, pending {pending}, busy {busy:?}, scraped {seen_by_prometheus:?}", st["phase"]);
        if seen_log.last().map(|l| &l[l.find(' ').unwrap() + 1..]) != Some(line.as_str()) {
            seen_log.push(format!("{}s {line}", unix_now() - started));
        }
        assert_ne!(st["phase"], "done", "the job ended before a worker could be killed: {st}\nwhat the polls saw:\n{}", seen_log.join("\n"));
        let victim = busy.into_iter().find(|w| seen_by_prometheus.contains(*w));
        victim.filter(|_| pending > 0).map(str::to_owned)
    };
    let killed = until(Duration::from_secs(300), Duration::from_millis(200), busy_and_scraped, || format!("no worker got busy: {:?}", p.status()));
    // A worker's id is <hostname>-<pid>; the hostname is its container's id.
    docker(&["kill", &killed[..12]]);

    let st = p.wait_done();
    assert!(st["leases_expired"].as_u64().unwrap() >= 1, "the killed worker's lease ({killed}) expired and its chunk was redone: {st}");
    // The killed worker may have been forgotten already (silent for ten lease timeouts).
    let mut seen: BTreeSet<&str> = st["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    seen.insert(&killed);
    assert!(seen.len() >= 3, "three workers joined: {seen:?}");

    let want = r.embedded(&input);
    let got = fetch_hdfs(&p.container("namenode"), &r.dir.path().join("hdfs"));
    assert_same_output(&got, &want);
    let (rt, db) = mongo_db(p.mongo_port, "wattswarm", &p.password);
    assert_mongo_results(&db, &rt, &want);
    assert_httpfs_recipe_copies_the_parquet(p.httpfs_port, &r.dir.path().join("recipe"), &want);
    assert_notebooks_agree(&p, &want);

    // Prometheus, inside the stack, scraped every worker and the master, and every
    // dashboard query has data for the run.
    let ids: BTreeSet<String> = prom_range(&["docker", "exec", &prom], "wattswarm_worker_ingested_rows_total", started)
        .iter()
        .map(|s| s["metric"]["worker"].as_str().unwrap().to_owned())
        .collect();
    for w in &seen {
        assert!(ids.contains(*w), "Prometheus scraped worker {w}: it saw {ids:?}");
    }
    assert_dashboards_have_data(&["docker", "exec", &prom], started);
}

/// `docker-compose.autoscale.yml`: the master, given the Docker socket and `--autoscale
/// 1..3`, starts workers like the one compose started until there are three, lists them
/// in its status, and the containers it made belong to the compose project: `down`
/// removes them with the rest.
#[test]
fn compose_autoscaler_adds_workers_that_compose_owns() {
    let r = Reference::new();
    // The user's own file in the data folder: generate writes no demo data, and the
    // master reads only this.
    let input = r.data().join("lcl.csv");
    common::generate(&input, HOUSEHOLDS.parse().unwrap(), DAYS.parse().unwrap(), 2, "six");
    // The socket's group as docker-compose.autoscale.yml says to read it.
    let gid = docker(&["run", "--rm", "-v", "/var/run/docker.sock:/s", "--entrypoint", "stat", "wattswarm:latest", "-c", "%g", "/s"]);
    let p = Project::new(
        "a",
        &r.data(),
        &["docker-compose.autoscale.yml"],
        &[("DOCKER_GID", gid.trim()), ("AUTOSCALE_MIN", "1"), ("AUTOSCALE_MAX", "3")],
    );
    ok(&mut p.cmd(&["up", "-d", "--scale", "worker=1"]));
    let st = p.wait_done();
    assert!(p.service_logs("generate").contains("the master reads those; nothing to do"), "{}", p.service_logs("generate"));

    let docker_view = &st["docker"];
    assert_eq!(docker_view["source"], format!("compose project {}, service worker", p.name), "{st}");
    assert!(docker_view["autoscale"].as_str().unwrap().starts_with("1..3, target"), "{st}");
    assert!(!docker_view["workers"].as_array().unwrap().is_empty(), "the status lists the worker containers: {st}");
    let project_workers = || {
        let filters = [format!("label=com.docker.compose.project={}", p.name), "label=com.docker.compose.service=worker".to_owned()];
        docker(&["ps", "-aq", "--filter", &filters[0], "--filter", &filters[1]])
    };
    let made = project_workers();
    assert_eq!(made.lines().count(), 3, "compose started one worker and the master two more:\n{made}");
    // Who joined, from the workers' own logs: the status lists the workers present now,
    // and the autoscaler may already have stopped one it started once the backlog fell
    // below three (a worker that leaves is forgotten).
    let logs = p.service_logs("worker");
    let job = format!(": joined job {} at", st["job_id"].as_str().unwrap());
    let joined: BTreeSet<&str> = logs
        .lines()
        .filter(|l| l.contains(&job))
        .filter_map(|l| l.split("wattswarm worker ").nth(1)?.split(':').next())
        .collect();
    assert!(joined.len() >= 3, "three workers joined the job: {joined:?}\n{logs}");
    for w in st["workers"].as_array().unwrap() {
        assert!(joined.contains(w["id"].as_str().unwrap()), "the status lists a worker that joined: {w}, joined {joined:?}");
    }

    let want = r.embedded(&input);
    let got = fetch_hdfs(&p.container("namenode"), &r.dir.path().join("hdfs"));
    assert_same_output(&got, &want);

    ok(&mut p.cmd(&["down", "-v", "-t", "5"]));
    assert_eq!(project_workers(), "", "down removed the workers the master started");
}

/// `--profile s3`: SeaweedFS beside the stack and the job's output on it, configured as
/// `.env.example` shows (WATTSWARM_OUTPUT and the AWS variables). The objects, read back
/// with boto3 through the published S3 port, equal an embedded run's files; no temporary or
/// unfinished upload is left; the secret key is in no log of the master's or a worker's,
/// nor in the job's status.
#[test]
fn compose_s3_profile_puts_the_output_in_the_object_store() {
    let r = Reference::new();
    let input = r.data().join("lcl.csv");
    common::generate(&input, HOUSEHOLDS.parse().unwrap(), DAYS.parse().unwrap(), 3, "six");
    let (key_id, secret_key, s3_port) = ("wattswarm".to_owned(), secret(), free_port());
    let s3_bind = format!("127.0.0.1:{s3_port}");
    let p = Project::new(
        "s",
        &r.data(),
        &[],
        &[
            ("COMPOSE_PROFILES", "s3"),
            ("WATTSWARM_OUTPUT", "s3://wattswarm/out"),
            ("AWS_ENDPOINT_URL", "http://s3:8333"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", &key_id),
            ("AWS_SECRET_ACCESS_KEY", &secret_key),
            ("S3_BIND", &s3_bind),
            ("WORKERS", "2"),
        ],
    );
    ok(&mut p.cmd(&["up", "-d"]));
    let st = p.wait_done();
    assert!(!st.to_string().contains(&secret_key), "the job's status holds no secret");

    let s3 = common::S3Server::reach(format!("http://{s3_bind}"), key_id, secret_key.clone());
    let got = r.dir.path().join("s3");
    s3.get("out", &got);
    assert_same_output(&got, &r.embedded(&input));
    assert_eq!(s3.sdk(&["uploads", &s3.url("out")]), "", "no multipart upload left unfinished");
    assert!(s3.list("out").iter().all(|k| !k.ends_with(".tmp")), "no temporary left: {:?}", s3.list("out"));
    for service in ["master", "worker"] {
        assert!(!p.service_logs(service).contains(&secret_key), "{service}'s log holds the secret key");
    }
}

/// A one-node swarm for the test; left again when dropped if this test started it.
struct Swarm {
    started_here: bool,
    stack: String,
}

impl Swarm {
    fn join(stack: &str) -> Swarm {
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let started_here = state.trim() != "active";
        if started_here {
            docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }
        // The stores' placement constraint: this node keeps the stack's volumes.
        let node = docker(&["info", "--format", "{{.Swarm.NodeID}}"]);
        docker(&["node", "update", "--label-add", "wattswarm.stores=true", node.trim()]);
        Swarm {
            started_here,
            stack: stack.to_owned(),
        }
    }

    fn task_container(&self, service: &str) -> String {
        let label = format!("label=com.docker.swarm.service.name={}_{service}", self.stack);
        let running = || docker(&["ps", "-q", "--filter", &label]).lines().next().map(str::to_owned);
        until(Duration::from_secs(180), Duration::from_secs(1), running, || format!("no running task of {service}"))
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for s in ["master", "worker", "generate", "namenode", "mongo"] {
                if let Ok(o) = Command::new("docker").args(["service", "logs", "--tail", "40", &format!("{}_{s}", self.stack)]).output() {
                    eprintln!("--- {s}:\n{}", text(&o));
                }
            }
        }
        let _ = Command::new("docker").args(["stack", "rm", &self.stack]).output();
        // Volumes go once their containers have.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            let left = Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=com.docker.stack.namespace={}", self.stack)]).output();
            if left.map(|o| o.stdout.is_empty()).unwrap_or(true) {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        for v in ["data", "demo", "namenode", "datanode", "mongo", "prometheus"] {
            let _ = Command::new("docker").args(["volume", "rm", &format!("{}_{v}", self.stack)]).output();
        }
        for s in ["wattswarm_token", "mongo_root_password", "grafana_admin_password", "jupyter_token"] {
            let _ = Command::new("docker").args(["secret", "rm", s]).output();
        }
        if self.started_here {
            let _ = Command::new("docker").args(["swarm", "leave", "--force"]).output();
        }
    }
}

#[test]
fn swarm_stack_autoscales_workers_and_matches_an_embedded_run() {
    let stack = format!("wsci{}", std::process::id());
    let swarm = Swarm::join(&stack);
    let password = secret();
    for (name, value) in [("wattswarm_token", secret()), ("mongo_root_password", password.clone()), ("grafana_admin_password", secret()), ("jupyter_token", secret())] {
        let mut c = Command::new("docker").args(["secret", "create", name, "-"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(value.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "docker secret create {name}");
    }
    let started = unix_now();
    // No environment: `docker stack deploy` reads no .env, so stack.yml needs none
    // (.ci/stack.ci.yml sets the small job).
    ok(Command::new("docker").current_dir(repo()).args(["stack", "deploy", "-c", "stack.yml", "-c", ".ci/stack.ci.yml", &stack]));
    // Only Grafana (scaled to 0 here) and the master's API are published.
    for service in ["master", "worker", "namenode", "datanode", "httpfs", "mongo", "prometheus", "grafana", "mongo-express", "notebook"] {
        let ports = docker(&["service", "inspect", "--format", "{{json .Spec.EndpointSpec.Ports}}", &format!("{stack}_{service}")]);
        let want = match service {
            "master" => r#"[{"Protocol":"tcp","TargetPort":7070,"PublishedPort":7070,"PublishMode":"host"}]"#,
            "grafana" => r#"[{"Protocol":"tcp","TargetPort":3000,"PublishedPort":3000,"PublishMode":"host"}]"#,
            _ => "null",
        };
        assert_eq!(ports.trim(), want, "{service} publishes");
    }

    // The master (with the Docker socket and --autoscale 1..3) scales the worker service.
    let master = swarm.task_container("master");
    let status = |c: &str| -> Option<Value> {
        let o = Command::new("docker").args(["exec", c, "wattswarm", "status", "--json", "--master", "http://127.0.0.1:7070"]).output().ok()?;
        serde_json::from_slice(&o.stdout).ok()
    };
    let mut max_replicas = 0;
    let mut master = master;
    let done = || {
        let replicas = docker(&["service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", &format!("{stack}_worker")]);
        max_replicas = max_replicas.max(replicas.trim().parse::<u32>().unwrap_or(0));
        let Some(st) = status(&master) else {
            // The master restarts until generate's file is there: find its new task.
            master = swarm.task_container("master");
            return None;
        };
        assert_ne!(st["phase"], "failed", "{st}");
        (st["phase"] == "done").then_some(st)
    };
    let st = until(Duration::from_secs(600), Duration::from_secs(1), done, || "the swarm job did not finish".into());
    assert_eq!(max_replicas, 3, "the autoscaler asked for one worker per chunk, at most 3");
    let docker_view = &st["docker"];
    assert_eq!(docker_view["source"], format!("swarm service {stack}_worker"), "{st}");
    assert!(docker_view["autoscale"].as_str().unwrap().starts_with("1..3"), "{st}");
    assert!(!docker_view["workers"].as_array().unwrap().is_empty(), "the status lists the worker tasks: {st}");

    // The same file as the stack's: copied out of its demo volume.
    let r = Reference::new();
    let input = r.demo_from(&master);
    let want = r.embedded(&input);
    let got = fetch_hdfs(&swarm.task_container("namenode"), &r.dir.path().join("hdfs"));
    assert_same_output(&got, &want);

    // MongoDB, read from a container on the stack's attachable overlay network.
    let query = "import json,sys; from pymongo import MongoClient; \
                 db = MongoClient('mongo', 27017, username='wattswarm', password=sys.argv[1], authSource='admin').power; \
                 print(json.dumps({'readings': db.readings.count_documents({}), \
                   'by_tariff_month': sorted((d['tariff'], d['month'], d['readings']) for d in db.by_tariff_month.find())}))";
    let mongo_image = docker(&["service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", &format!("{stack}_mongo")]);
    let got: Value = serde_json::from_str(&docker(&[
        "run", "--rm", "--network", &format!("{stack}_wattswarm"), "--entrypoint", "/opt/secantus/venv/bin/python3",
        mongo_image.trim().split('@').next().unwrap(), "-c", query, &password,
    ]))
    .unwrap();
    let summary = read_json(&want.join("results/summary.json"));
    assert_eq!(got["readings"], summary["rows"]);
    let mut by_tariff: Vec<Value> = read_json(&want.join("results/by_tariff_month.json"))
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::json!([d["tariff"], d["month"], d["readings"]]))
        .collect();
    by_tariff.sort_by_key(|v| v.to_string());
    assert_eq!(got["by_tariff_month"], Value::Array(by_tariff));

    // Prometheus found the worker tasks through tasks.worker, and the dashboards have data.
    let prom = swarm.task_container("prometheus");
    let scraped = prom_range(&["docker", "exec", &prom], "up{job=\"wattswarm-worker\"}", started);
    assert!(scraped.len() >= 3, "Prometheus scraped the three worker tasks: {scraped:?}");
    assert_dashboards_have_data(&["docker", "exec", &prom], started);
}

/// A file in the repository's data/ for one test, removed however the test ends.
struct DataFile(PathBuf);

impl Drop for DataFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `docker build` of images/wattswarm/Dockerfile as a user runs it, with the CI stand-in
/// for the official Rust image (classic builder, as docker-compose 1.29 uses): its output.
fn build_image() -> String {
    let o = Command::new("docker")
        .current_dir(repo())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-f", "images/wattswarm/Dockerfile", "--build-arg", "RUST_IMAGE=wattswarm-ci/rust", "-t", "wattswarm-ci/rebuilt", "."])
        .output()
        .unwrap();
    assert!(o.status.success(), "docker build failed:\n{}", text(&o));
    text(&o)
}

/// The Dockerfile's own build stage (scripts/test built wattswarm:latest with it, and the
/// other tests run that image): with an 11 GB file in ./data the context stays the source,
/// and a change under data/ rebuilds nothing, so the result is the very same image.
#[test]
fn dockerfile_context_is_the_source_and_a_data_change_rebuilds_nothing() {
    let big = DataFile(repo().join("data/ci-11g-sparse.csv"));
    ok(Command::new("truncate").args(["-s", "11G", big.0.to_str().unwrap()]));
    let first = build_image();
    // The classic builder says how much it sends: the source, a few MB, never the data.
    let sent = first.lines().find_map(|l| l.strip_prefix("Sending build context to Docker daemon")).expect("the context's size").trim().to_owned();
    let mb: f64 = sent.trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse().unwrap();
    assert!(sent.ends_with("kB") || (sent.ends_with("MB") && mb < 20.0), "context of {sent}");
    let id = |tag: &str| docker(&["image", "inspect", "-f", "{{.Id}}", tag]).trim().to_owned();
    assert_eq!(id("wattswarm-ci/rebuilt"), id("wattswarm:latest"), "the same tree builds the same image:\n{first}");

    // A change under data/: every step from the cache, no crate compiled again.
    ok(Command::new("truncate").args(["-s", "12G", big.0.to_str().unwrap()]));
    std::fs::write(repo().join("data/ci-new.csv"), "LCLid\n").unwrap();
    let _new = DataFile(repo().join("data/ci-new.csv"));
    let second = build_image();
    assert!(!second.contains("Running in"), "a step ran again after a change under data/:\n{second}");
    assert_eq!(id("wattswarm-ci/rebuilt"), id("wattswarm:latest"));
    let _ = Command::new("docker").args(["image", "rm", "wattswarm-ci/rebuilt"]).output();
}
