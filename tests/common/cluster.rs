//! Processes for the tests of the master and workers as separate processes: ports, child
//! processes killed however a test ends, HTTP calls, and the master's status.
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::until;

pub const TOKEN: &str = "test-token-7f3a";

/// Child processes, killed when the test ends however it ends.
#[derive(Default)]
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

pub fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    match req.call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

pub fn post(url: &str, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = agent().post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    match req.send(&body[..]) {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

pub struct Master {
    pub url: String,
}

impl Master {
    pub fn start(procs: &mut Procs, port: u16, input: &Path, out: &Path, extra: &[&str]) -> Master {
        Master::start_with(procs, port, input, out, extra, &[])
    }

    pub fn start_with(procs: &mut Procs, port: u16, input: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Master {
        let child = super::bin()
            .args(["master", "--listen", &format!("127.0.0.1:{port}"), "--advertise", &format!("http://127.0.0.1:{port}")])
            .args(["--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--quiet"])
            .args(extra)
            .envs(env.iter().copied())
            .env("WATTSWARM_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(child);
        let m = Master {
            url: format!("http://127.0.0.1:{port}"),
        };
        healthy(&m.url);
        m
    }

    pub fn job(&self) -> Value {
        let (code, body) = get(&format!("{}/v1/job", self.url), Some(TOKEN));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn wait_done(&self, limit: Duration) -> Value {
        let ready = || {
            let j = self.job();
            assert_ne!(j["phase"], "failed", "job failed: {j}");
            (j["phase"] == "done").then_some(j)
        };
        until(limit, Duration::from_millis(100), ready, || format!("job not done: {}", self.job()))
    }

    pub fn metrics(&self) -> String {
        let (code, body) = get(&format!("{}/metrics", self.url), Some(TOKEN));
        assert_eq!(code, 200);
        body
    }
}

pub fn worker(master: &str, id: &str, metrics_port: u16) -> Child {
    worker_with(master, id, metrics_port, &[])
}

pub fn worker_with(master: &str, id: &str, metrics_port: u16, env: &[(&str, &str)]) -> Child {
    super::bin()
        .args(["worker", "--master", master, "--id", id, "--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .envs(env.iter().copied())
        .env("WATTSWARM_TOKEN", TOKEN)
        .env("WATTSWARM_HEARTBEAT_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// `GET /v1/job` of the master at `url`: its job's status, or `None` while it does not
/// answer one.
pub fn job_status(url: &str, token: &str) -> Option<Value> {
    let (code, body) = get(&format!("{url}/v1/job"), Some(token));
    (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

/// Waits until a master answers its health check.
pub fn healthy(url: &str) {
    let up = || (get(&format!("{url}/healthz"), None).0 == 200).then_some(());
    until(Duration::from_secs(20), Duration::from_millis(50), up, || format!("the master at {url} did not come up"));
}

