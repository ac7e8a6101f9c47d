//! The monitoring provisioning (`monitoring/`) holds together, without Docker: dashboards
//! are valid JSON with unique uids and titles, every panel and query uses the provisioned
//! datasource, every query names only metrics that wattswarm exports and parses as PromQL,
//! and promtool accepts both Prometheus configurations and the alert rules and passes
//! their unit tests; every panel matches the schema of the Grafana the stack pins. Whether each query returns data after a real job is the end-to-end
//! stack test's question; this one is fast and runs everywhere promtool does.
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{with_dashboard_variables, DASHBOARD_VARIABLES};
use serde_json::Value;

/// Every metric the dashboards and alerts may use; `metric_list_matches_the_declarations`
/// holds it to `master/src/metrics.rs` and `workers/src/metrics.rs`. The end-to-end stack
/// test checks that each dashboard query returns data after a job.
const METRICS: &[&str] = &[
    // The master's.
    "wattswarm_ingested_rows_total",
    "wattswarm_read_bytes_total",
    "wattswarm_rejected_rows_total",
    "wattswarm_null_readings_total",
    "wattswarm_parquet_written_bytes_total",
    "wattswarm_mongo_readings_stored_total",
    "wattswarm_job_chunks",
    "wattswarm_stage_seconds_total",
    "wattswarm_chunks_completed_total",
    "wattswarm_chunks_resumed_total",
    "wattswarm_chunk_failures_total",
    "wattswarm_leases_expired_total",
    "wattswarm_chunks_retried_total",
    "wattswarm_stale_reports_total",
    "wattswarm_workers_alive",
    "wattswarm_job_progress_ratio",
    "wattswarm_job_eta_seconds",
    "wattswarm_job_input_bytes",
    "wattswarm_job_finished_timestamp_seconds",
    "wattswarm_result_acorn_grouped_mean_kwh",
    "wattswarm_result_acorn_grouped_households",
    "wattswarm_result_tariff_mean_kwh",
    "wattswarm_result_tariff_halfhour_mean_kwh",
    // Each worker's.
    "wattswarm_worker_ingested_rows_total",
    "wattswarm_worker_read_bytes_total",
    "wattswarm_worker_rejected_rows_total",
    "wattswarm_worker_null_readings_total",
    "wattswarm_worker_parquet_written_bytes_total",
    "wattswarm_worker_chunk_progress_bytes",
    "wattswarm_worker_busy_chunks",
    "wattswarm_worker_chunks_total",
    "wattswarm_worker_stage_seconds_total",
    "wattswarm_worker_hdfs_short_circuit_read_bytes_total",
    "wattswarm_worker_hdfs_direct_read_bytes_total",
];

/// Histograms, queried through their `_bucket`, `_sum` and `_count` series.
const HISTOGRAMS: &[&str] = &[
    "wattswarm_chunk_duration_seconds",
    "wattswarm_worker_chunk_duration_seconds",
    "wattswarm_worker_store_write_seconds",
];

fn monitoring() -> PathBuf {
    common::repo().join("monitoring")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs promtool in `dir`; fails (never skips) without it, since then nothing here is
/// checked.
fn run_promtool(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install Debian's `prometheus` package (scripts/setup does)"))
}

/// Runs promtool, which must succeed.
fn promtool(args: &[&str], dir: &Path) {
    let out = run_promtool(args, dir);
    assert!(
        out.status.success(),
        "promtool {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The names in `text` that start with `wattswarm_` at a token boundary.
fn metric_names(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("wattswarm_") {
        let boundary = rest[..i].chars().next_back().is_none_or(|c| !is_name(c));
        let len = rest[i..].find(|c: char| !is_name(c)).unwrap_or(rest.len() - i);
        if boundary {
            names.push(rest[i..i + len].to_string());
        }
        rest = &rest[i + len..];
    }
    names
}

fn is_exported(name: &str) -> bool {
    METRICS.contains(&name)
        || HISTOGRAMS.iter().any(|h| ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{h}{s}")))
}

/// The value of the one `key: value` line in a YAML file (enough for the provisioning's
/// flat files; no YAML parser among the dependencies).
fn yaml_value(yaml: &str, key: &str) -> String {
    let values: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    assert_eq!(values.len(), 1, "expected one `{key}:` line, found {values:?}");
    values[0].to_string()
}

struct Dashboard {
    file: String,
    json: Value,
}

fn dashboards() -> Vec<Dashboard> {
    let dir = monitoring().join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let all: Vec<Dashboard> = files
        .iter()
        .map(|f| {
            let file = f.file_name().unwrap().to_string_lossy().into_owned();
            // Grafana's provider loads only .json; anything else here is a mistake.
            assert!(file.ends_with(".json"), "{file}: not a dashboard");
            let json = serde_json::from_str(&read(f)).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
            Dashboard { file, json }
        })
        .collect();
    let want: BTreeSet<&str> = ["wattswarm-operator.json", "wattswarm-results.json"].into();
    assert!(want.iter().all(|w| all.iter().any(|d| d.file == *w)), "missing dashboards: want {want:?}");
    all
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = d["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner);
        }
        out.push(p);
    }
    out
}

/// (dashboard file, panel title, expr) of every query in every dashboard.
fn queries(all: &[Dashboard]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for d in all {
        for p in panels(&d.json) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let title = p["title"].as_str().unwrap_or("").to_string();
                let expr = t["expr"].as_str().unwrap_or_else(|| panic!("{}: {title:?}: a target without expr", d.file));
                out.push((d.file.clone(), title, expr.to_string()));
            }
        }
    }
    out
}

#[test]
fn dashboards_are_consistent_with_the_provisioned_datasource() {
    let ds_yaml = read(&monitoring().join("grafana/provisioning/datasources/prometheus.yml"));
    assert_eq!(yaml_value(&ds_yaml, "type"), "prometheus");
    // Panels name the datasource through the dashboard's `datasource` variable, never a
    // uid: imported into another Grafana, the dashboard picks that one's Prometheus.
    let datasource = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let provider = read(&monitoring().join("grafana/provisioning/dashboards/wattswarm.yml"));
    assert_eq!(yaml_value(&provider, "path"), "/var/lib/grafana/dashboards", "where the compose file mounts the dashboards");

    let all = dashboards();
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for d in &all {
        let (f, j) = (&d.file, &d.json);
        let duid = j["uid"].as_str().unwrap_or_else(|| panic!("{f}: no uid"));
        assert!(uids.insert(duid.to_string()), "{f}: uid {duid:?} used twice");
        let title = j["title"].as_str().unwrap_or_else(|| panic!("{f}: no title"));
        assert!(titles.insert(title.to_string()), "{f}: title {title:?} used twice");

        let ps = panels(j);
        assert!(!ps.is_empty(), "{f}: no panels");
        let mut ids = BTreeSet::new();
        for p in ps {
            let title = p["title"].as_str().unwrap_or("");
            assert!(ids.insert(p["id"].as_u64().unwrap_or_else(|| panic!("{f}: {title:?}: no id"))), "{f}: {title:?}: id used twice");
            // Rows only group panels: they query nothing.
            if p["type"] == "row" {
                assert!(p.get("targets").is_none(), "{f}: row {title:?} has targets");
                continue;
            }
            assert_eq!(p["datasource"], datasource, "{f}: panel {title:?}");
            let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{f}: panel {title:?} has no targets"));
            assert!(!targets.is_empty(), "{f}: panel {title:?} has no targets");
            for t in targets {
                assert_eq!(t["datasource"], datasource, "{f}: panel {title:?}, target {}", t["refId"]);
                let expr = t["expr"].as_str().unwrap_or("");
                assert!(!expr.trim().is_empty(), "{f}: panel {title:?}, target {}: empty expr", t["refId"]);
            }
        }
        let vars = j["templating"]["list"].as_array().unwrap_or_else(|| panic!("{f}: no variables"));
        assert!(
            vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
            "{f}: no `datasource` variable of type prometheus"
        );
        for v in vars {
            if v["type"] == "query" {
                assert_eq!(v["datasource"], datasource, "{f}: variable {}", v["name"]);
                let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or("");
                for name in metric_names(q) {
                    assert!(is_exported(&name), "{f}: variable {}: {name} is not a wattswarm metric", v["name"]);
                }
            }
        }
    }
}

#[test]
fn queries_name_exported_metrics_and_only_known_variables() {
    let qs = queries(&dashboards());
    assert!(qs.len() >= 20, "only {} queries", qs.len());
    let mut used = BTreeSet::new();
    for (f, title, expr) in &qs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{f}: {title:?}: {expr} names no wattswarm metric");
        for name in names {
            assert!(is_exported(&name), "{f}: {title:?}: {name} is not a metric wattswarm exports ({expr})");
            used.insert(name);
        }
        // The end-to-end test substitutes exactly these variables; any other `$` would
        // reach Prometheus as is.
        let mut rest = expr.clone();
        for (var, _) in DASHBOARD_VARIABLES {
            rest = rest.replace(var, "");
        }
        // label_replace's "$1" is PromQL's, not a variable (Grafana leaves `$<digits>` alone).
        let rest: String = rest
            .split('$')
            .enumerate()
            .map(|(i, part)| if i == 0 || part.starts_with(|c: char| c.is_ascii_digit()) { part.to_string() } else { format!("${part}") })
            .collect();
        assert!(!rest.contains('$'), "{f}: {title:?}: a variable other than {DASHBOARD_VARIABLES:?} in {expr}");
    }
    // The results dashboard exists to show the answers: each result gauge is on it.
    for r in METRICS.iter().filter(|m| m.starts_with("wattswarm_result_")) {
        assert!(used.contains(*r), "no panel shows {r}");
    }
    let alerts = read(&monitoring().join("prometheus/alerts.yml"));
    for name in metric_names(&alerts) {
        assert!(is_exported(&name), "alerts.yml: {name} is not a metric wattswarm exports");
    }
}

#[test]
fn metric_list_matches_the_declarations() {
    // Each binary declares its metrics in one module, by their names without the
    // registry's prefix (`wattswarm_`, or `wattswarm_worker_` with the worker label).
    let root = common::repo();
    let master = read(&root.join("master/src/metrics.rs"));
    let worker = read(&root.join("workers/src/metrics.rs"));
    for name in METRICS.iter().chain(HISTOGRAMS) {
        let (source, file, short) = match name.strip_prefix("wattswarm_worker_") {
            Some(short) => (&worker, "workers/src/metrics.rs", short),
            None => (&master, "master/src/metrics.rs", name.strip_prefix("wattswarm_").unwrap()),
        };
        assert!(source.contains(&format!("\"{short}\"")), "{name}: {file} declares no {short:?}");
    }
}

/// Whether promtool parses each expression, as recording rules in one file.
fn promtool_parses(exprs: &[String]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        // A JSON string is a valid YAML double-quoted scalar.
        rules.push_str(&format!("      - record: dashboard_query_{i}\n        expr: {}\n", Value::String(e.clone())));
    }
    std::fs::write(dir.path().join("queries.yml"), rules).unwrap();
    let out = run_promtool(&["check", "rules", "queries.yml"], dir.path());
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn queries_parse_as_promql() {
    // promtool has no offline query check, but it parses recording rules: one rule per
    // query, with the variables replaced as the end-to-end test does.
    let qs: Vec<(String, String, String)> = queries(&dashboards())
        .into_iter()
        .map(|(f, title, expr)| (f, title, with_dashboard_variables(&expr)))
        .collect();
    let all: Vec<String> = qs.iter().map(|q| q.2.clone()).collect();
    if promtool_parses(&all).is_ok() {
        return;
    }
    // Name the queries that fail: promtool's positions in a generated file say little.
    let bad: Vec<String> = qs
        .iter()
        .filter_map(|(f, title, e)| promtool_parses(std::slice::from_ref(e)).err().map(|why| format!("{f}: {title:?}: {e}\n{why}")))
        .collect();
    panic!("queries that are not PromQL:\n{}", bad.join("\n"));
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let dir = monitoring().join("prometheus");
    promtool(&["check", "rules", "alerts.yml"], &dir);
    promtool(&["test", "rules", "alerts.test.yml"], &dir);
}

#[test]
fn prometheus_configs_pass_promtool() {
    let dir = monitoring().join("prometheus");
    let alerts = dir.join("alerts.yml");
    // promtool opens the rule files and the token file: point them at the repository's
    // alerts and a scratch token, and change nothing else.
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "t").unwrap();
    for (file, token_path) in [("prometheus.yml", "/tmp/wattswarm_token"), ("prometheus-swarm.yml", "/run/secrets/wattswarm_token")] {
        let text = read(&dir.join(file));
        let mut checked = text.clone();
        for (from, to) in [("/etc/prometheus/alerts.yml", alerts.to_str().unwrap()), (token_path, token.to_str().unwrap())] {
            assert_eq!(text.matches(from).count(), 1, "{file}: expected {from} once");
            checked = checked.replace(from, to);
        }
        std::fs::write(tmp.path().join(file), checked).unwrap();
        promtool(&["check", "config", file], tmp.path());
    }
}

#[test]
fn compose_and_swarm_configs_differ_only_in_discovery_and_token() {
    let dir = monitoring().join("prometheus");
    let settings = |file: &str| -> Vec<String> {
        read(&dir.join(file))
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let (compose, swarm) = (settings("prometheus.yml"), settings("prometheus-swarm.yml"));
    assert_eq!(compose.len(), swarm.len(), "the two configurations have different settings");
    let differ: Vec<(&str, &str)> = compose.iter().zip(&swarm).filter(|(a, b)| a != b).map(|(a, b)| (a.trim(), b.trim())).collect();
    assert_eq!(
        differ,
        [
            ("credentials_file: /tmp/wattswarm_token", "credentials_file: /run/secrets/wattswarm_token"),
            ("- names: [\"worker\"]", "- names: [\"tasks.worker\"]"),
        ]
    );
}

/// The schema check (`monitoring/grafana/schema/check.mjs`) on `dir`, against the types that
/// scripts/setup installs into `$GRAFANA_SCHEMA_DIR`; fails (never skips) without them.
fn schema_check(dir: &Path) -> std::process::Output {
    let lib = std::env::var("GRAFANA_SCHEMA_DIR").expect("GRAFANA_SCHEMA_DIR: where scripts/setup installs Grafana's schema (run the tests through scripts/test)");
    Command::new("node")
        .arg(monitoring().join("grafana/schema/check.mjs"))
        .arg(dir)
        .env("GRAFANA_SCHEMA_DIR", lib)
        .output()
        .expect("node runs")
}

#[test]
fn dashboards_match_the_schema_of_the_pinned_grafana() {
    // The schema is the one of the Grafana that the stack runs.
    let lib = PathBuf::from(std::env::var("GRAFANA_SCHEMA_DIR").expect("GRAFANA_SCHEMA_DIR (scripts/test sets it)"));
    let root = common::repo();
    for file in ["docker-compose.yml", "stack.yml"] {
        let text = read(&root.join(file));
        let pinned = text.split("grafana/grafana:").nth(1).and_then(|t| t.split(|c: char| c == '}' || c.is_whitespace()).next());
        for package in ["schema", "data"] {
            let json: Value = serde_json::from_str(&read(&lib.join(format!("node_modules/@grafana/{package}/package.json")))).unwrap();
            assert_eq!(Some(json["version"].as_str().unwrap()), pinned, "{file}'s Grafana and @grafana/{package}");
        }
    }
    let out = schema_check(&monitoring().join("grafana/dashboards"));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_schema_check_finds_a_wrong_field_and_a_wrong_type() {
    // The results dashboard with three mistakes Grafana would not load as meant: each is
    // reported with its panel.
    let dir = tempfile::tempdir().unwrap();
    let mut d: Value = serde_json::from_str(&read(&monitoring().join("grafana/dashboards/wattswarm-results.json"))).unwrap();
    let panel = |d: &mut Value, kind: &str| -> (u64, Value) {
        let p = d["panels"].as_array_mut().unwrap().iter_mut().find(|p| p["type"] == kind && p["transformations"].is_array()).unwrap_or_else(|| panic!("no {kind} panel"));
        (p["id"].as_u64().unwrap(), p.take())
    };
    let (xy, mut p) = panel(&mut d, "xychart");
    p["options"]["legend"]["showLegend"] = "yes".into(); // a string for a boolean
    d["panels"].as_array_mut().unwrap().push(p);
    let (table, mut p) = panel(&mut d, "table");
    p["fieldConfig"]["defaults"]["custom"]["cellOptions"]["colour"] = "red".into(); // no such field
    d["panels"].as_array_mut().unwrap().push(p);
    let (bars, mut p) = panel(&mut d, "barchart");
    p["transformations"][0]["options"]["sort"][0]["desc"] = 1.into(); // a number for a boolean
    d["panels"].as_array_mut().unwrap().push(p);
    d["panels"] = Value::Array(d["panels"].as_array().unwrap().iter().filter(|p| !p.is_null()).cloned().collect());
    std::fs::write(dir.path().join("broken.json"), d.to_string()).unwrap();
    let out = schema_check(dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the check passed a broken dashboard");
    for (id, what) in [(xy, "'string' is not assignable to type 'boolean"), (table, "'\"colour\"' does not exist"), (bars, "does not satisfy the expected type 'Transformation<\"sortByTransformer\">'")] {
        assert!(err.lines().any(|l| l.starts_with(&format!("broken.json: panel {id} ")) && l.contains(what)), "panel {id}: {what}:\n{err}");
    }
}
