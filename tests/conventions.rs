//! What CI cannot run, checked in the files: the official images (which cannot be pulled
//! here) are named with the tags, variables and ports their documentation gives, and the
//! compose file, the stack file, the image's Dockerfile and its build context keep the
//! conventions README states. A regression in any of them fails here, without Docker.
mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::repo;
use serde_yaml::Value;

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A compose-format file, with its `<<:` merge keys applied.
fn yaml(file: &str) -> Value {
    let mut v: Value = serde_yaml::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    v.apply_merge().unwrap();
    v
}

fn services(file: &Value) -> BTreeMap<String, Value> {
    file["services"].as_mapping().unwrap().iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone())).collect()
}

/// `${NAME:-default}` gives its default; anything else is itself.
fn default_of(s: &str) -> String {
    match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).and_then(|r| r.split_once(":-")) {
        Some((_, d)) => d.to_owned(),
        None => s.to_owned(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => default_of(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn env(service: &Value) -> BTreeMap<String, String> {
    service["environment"].as_mapping().map(|m| m.iter().map(|(k, v)| (text(k), text(v))).collect()).unwrap_or_default()
}

/// `512m`, `1g`, `640M`, `1G` in MiB.
fn mib(size: &str) -> u64 {
    let (n, unit) = size.split_at(size.len() - 1);
    n.parse::<u64>().unwrap_or_else(|_| panic!("{size}: not a size")) * if unit.eq_ignore_ascii_case("g") { 1024 } else { 1 }
}

/// The official images, as CI's stand-ins emulate them (images/ci/README.md): pinned.
const IMAGES: &[(&str, &str)] = &[
    ("namenode", "apache/hadoop:3.4.1"),
    ("datanode", "apache/hadoop:3.4.1"),
    ("httpfs", "apache/hadoop:3.4.1"),
    ("mongo", "mongo:7.0.14"),
    ("mongo-express", "mongo-express:0.54.0"),
    ("prometheus", "prom/prometheus:v2.53.2"),
    ("grafana", "grafana/grafana:11.2.0"),
];

#[test]
fn both_files_pin_the_official_images_that_ci_stands_in_for() {
    // The Hadoop stand-in is built from exactly this release's jars.
    assert!(read("images/ci/hadoop/build").contains("hadoop-hdfs-3\\.4\\.1\\.jar"));
    for file in ["docker-compose.yml", "stack.yml"] {
        let s = services(&yaml(file));
        for (service, image) in IMAGES {
            assert_eq!(text(&s[*service]["image"]), *image, "{file}: {service}");
        }
        for (name, svc) in &s {
            let image = text(&svc["image"]);
            assert!(image.contains(':') && !image.ends_with(":latest") || image == "wattswarm:latest", "{file}: {name}: {image} is not pinned");
        }
    }
}

#[test]
fn environment_names_are_the_ones_each_image_reads() {
    for file in ["docker-compose.yml", "stack.yml"] {
        let s = services(&yaml(file));
        // mongo-express 0.54 reads these (1.0 reads ME_CONFIG_MONGODB_URL instead).
        let me: Vec<String> = env(&s["mongo-express"]).into_keys().map(|k| k.trim_end_matches("_FILE").to_owned()).collect();
        assert_eq!(
            me,
            ["ME_CONFIG_BASICAUTH_PASSWORD", "ME_CONFIG_BASICAUTH_USERNAME", "ME_CONFIG_MONGODB_ADMINPASSWORD", "ME_CONFIG_MONGODB_ADMINUSERNAME", "ME_CONFIG_MONGODB_SERVER"],
            "{file}"
        );
        let mongo: Vec<String> = env(&s["mongo"]).into_keys().collect();
        assert!(mongo.iter().all(|k| k.starts_with("MONGO_INITDB_ROOT_")), "{file}: {mongo:?}");
        // Grafana reads a file through a double underscore; everything else is GF_<SECTION>_<KEY>.
        for k in env(&s["grafana"]).keys() {
            assert!(k.starts_with("GF_") && (!k.ends_with("_FILE") || k.ends_with("__FILE")), "{file}: grafana {k}");
        }
        // The Hadoop image's envtoconf: FILE.XML_property, plus its shell's variables.
        for svc in ["namenode", "datanode", "httpfs"] {
            for k in env(&s[svc]).keys() {
                let known = ["HADOOP_HEAPSIZE_MAX", "ENSURE_NAMENODE_DIR"].contains(&k.as_str());
                assert!(known || k.starts_with("CORE-SITE.XML_") || k.starts_with("HDFS-SITE.XML_"), "{file}: {svc} {k}");
            }
            assert!(env(&s[svc]).contains_key("HADOOP_HEAPSIZE_MAX"), "{file}: {svc} has no heap limit");
        }
        assert_eq!(env(&s["namenode"])["CORE-SITE.XML_hadoop.prometheus.endpoint.enabled"], "true", "{file}: Hadoop's /prom");
        // WiredTiger's cache within the container's limit.
        assert_eq!(s["mongo"]["command"], serde_yaml::from_str::<Value>(r#"["--wiredTigerCacheSizeGB", "0.5"]"#).unwrap(), "{file}");
    }
}

/// What each service may use, in MiB: the memory limits of everything that stays up,
/// workers as many as the file starts.
fn memory(file: &str) -> BTreeMap<String, u64> {
    let s = services(&yaml(file));
    let mut out = BTreeMap::new();
    for (name, svc) in s {
        let (limit, count) = if file == "stack.yml" {
            let d = &svc["deploy"];
            (text(&d["resources"]["limits"]["memory"]), d["replicas"].as_u64().unwrap_or(1))
        } else {
            (text(&svc["mem_limit"]), svc["scale"].as_str().map(|s| default_of(s).parse().unwrap()).unwrap_or(1))
        };
        // A service under a profile (the notebook) starts only when asked for.
        let count = if svc.get("profiles").is_some() { 0 } else { count };
        if name != "generate" {
            out.insert(name, mib(&limit) * count);
        }
    }
    out
}

#[test]
fn the_default_stack_fits_an_8_gb_docker_desktop() {
    for file in ["docker-compose.yml", "stack.yml"] {
        let m = memory(file);
        let total: u64 = m.values().sum();
        // 6.5 GiB of limits leaves the VM's own system room in 8 GB.
        assert!(total <= 6656, "{file}: {total} MiB of limits: {m:?}");
        assert!(m["worker"] >= 4 * 512, "{file}: four workers of 512 MiB by default: {m:?}");
        // JupyterLab is opt-in (a profile, 0 replicas): with it, 7.5 GiB.
        assert_eq!(m["notebook"], 0, "{file}: the notebook starts only when asked for");
    }
    let compose = services(&yaml("docker-compose.yml"));
    assert_eq!(compose["notebook"]["profiles"], serde_yaml::from_str::<Value>("[notebook]").unwrap());
    assert_eq!(mib(&text(&compose["notebook"]["mem_limit"])), 1024);
    assert_eq!(services(&yaml("stack.yml"))["notebook"]["deploy"]["resources"]["limits"]["memory"], Value::from("1G"));
}

#[test]
fn compose_keeps_its_workers_and_checks_each_service_health() {
    let s = services(&yaml("docker-compose.yml"));
    // A plain `up -d` must not scale the workers back to one mid-job.
    assert_eq!(text(&s["worker"]["scale"]), "4");
    for svc in ["namenode", "datanode", "httpfs", "mongo", "mongo-express", "prometheus", "grafana", "notebook"] {
        let test = serde_yaml::to_string(&s[svc]["healthcheck"]["test"]).unwrap();
        assert!(test.contains("CMD"), "{svc}: no healthcheck");
    }
    // MongoDB's healthcheck asks the container's address: the image's first, init-time
    // server listens on 127.0.0.1 only.
    let mongo = serde_yaml::to_string(&s["mongo"]["healthcheck"]["test"]).unwrap();
    assert!(mongo.contains("hostname -i") && !mongo.contains("127.0.0.1"), "{mongo}");
    // Published on the loopback address unless the user opens them up.
    for (name, svc) in &s {
        for p in svc["ports"].as_sequence().into_iter().flatten() {
            assert!(p.as_str().unwrap().starts_with("${") && p.as_str().unwrap().contains(":-127.0.0.1:"), "{name}: {p:?}");
        }
    }
    // The demo data never goes into the user's folder: generate mounts it read-only.
    let gen: Vec<String> = s["generate"]["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(gen, ["${WATTSWARM_DATA:-./data}:/data:ro", "demo:/demo"]);
    assert!(s["generate"].get("user").is_none(), "generate runs as the image's unprivileged user");
}

#[test]
fn the_stack_needs_no_env_file_publishes_only_grafana_and_the_api_and_pins_its_stores() {
    let raw = read("stack.yml");
    let stack = yaml("stack.yml");
    // Docker CLI 20.10 (Debian 12) wants a version.
    assert_eq!(stack["version"], Value::from("3.8"));
    // `docker stack deploy` reads no .env: a variable would silently be its default.
    // (`$${…}` is a `$` escaped for the shell of `generate`.)
    let interpolated = raw.lines().filter(|l| !l.trim_start().starts_with('#')).find(|l| l.replace("$${", "").contains("${"));
    assert_eq!(interpolated, None, "stack.yml interpolates a variable");
    for (name, svc) in services(&stack) {
        let deploy = &svc["deploy"];
        assert_eq!(deploy["endpoint_mode"], Value::from("dnsrr"), "{name}: virtual IPs need IPVS");
        let ports: Vec<(u64, String)> = svc["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|p| (p["published"].as_u64().unwrap(), p["mode"].as_str().unwrap().to_owned()))
            .collect();
        let want: Vec<(u64, String)> = match name.as_str() {
            "master" => vec![(7070, "host".into())],
            "grafana" => vec![(3000, "host".into())],
            _ => vec![],
        };
        assert_eq!(ports, want, "{name}: published ports");
        // A service that writes a named volume stays on the node that has it, and so does
        // the master, which reads the input there; workers and the stateless UIs go anywhere.
        let writes = svc["volumes"].as_sequence().into_iter().flatten().map(|v| v.as_str().unwrap()).any(|v| !v.starts_with('/') && !v.ends_with(":ro"));
        let constraints = serde_yaml::to_string(&deploy["placement"]["constraints"]).unwrap();
        let pinned = constraints.contains("node.labels.wattswarm.stores == true");
        assert_eq!(pinned, writes || name == "master", "{name}: placement {constraints}");
        assert!(!constraints.contains("node.role"), "{name}: managers are not one node");
    }
}

fn sha8(file: &str) -> String {
    let o = Command::new("sha256sum").arg(repo().join(file)).output().unwrap();
    String::from_utf8(o.stdout).unwrap()[..8].to_owned()
}

#[test]
fn swarm_configs_are_named_by_their_contents() {
    let stack = yaml("stack.yml");
    let configs = stack["configs"].as_mapping().unwrap();
    assert!(configs.len() >= 6);
    for (key, c) in configs {
        let file = c["file"].as_str().unwrap().trim_start_matches("./");
        let want = format!("wattswarm_{}_{}", key.as_str().unwrap(), sha8(file));
        assert_eq!(c["name"].as_str().unwrap(), want, "{file} changed: rename its config (stack.yml says how)");
    }
}

/// The paths `.dockerignore` lets back in after excluding everything.
fn docker_allowed() -> Vec<String> {
    let ignore = read(".dockerignore");
    let rules: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(rules[0], "*", "the context starts empty");
    rules[1..].iter().map(|r| r.strip_prefix('!').unwrap_or_else(|| panic!("{r}: only exceptions after *")).to_owned()).collect()
}

#[test]
fn the_build_context_is_the_source_and_the_prebuilt_binary_is_opt_in() {
    let allowed = docker_allowed();
    let dockerfile = read("images/wattswarm/Dockerfile");
    let under = |p: &str| allowed.iter().any(|a| p == a || p.starts_with(&format!("{a}/")) || a.starts_with(&format!("{p}/")));
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            let src = src.replace("[t]", "t");
            assert!(under(&src), "{line}: {src} is not let into the context by .dockerignore");
        }
    }
    // Nothing of the data but the committed sample; nothing of the build outputs.
    assert!(allowed.iter().all(|a| !a.starts_with("data") || a == "data/sample"), "{allowed:?}");
    assert!(allowed.iter().all(|a| !a.starts_with("target") && !a.starts_with(".git")), "{allowed:?}");
    // The host's binary only with PREBUILT set, which build-from-host sets, then removes it.
    assert!(dockerfile.contains("if [ -n \"$PREBUILT\" ]; then \\\n        [ -x /prebuilt/wattswarm ]"), "the prebuilt binary is copied only under PREBUILT");
    let host = read("images/wattswarm/build-from-host");
    assert!(host.contains("--build-arg PREBUILT=1") && host.contains("trap 'rm -f images/wattswarm/prebuilt/wattswarm' EXIT"));
    // Dependencies in a layer of their own, before the source is copied.
    let deps = dockerfile.find("COPY Cargo.toml Cargo.lock").unwrap();
    assert!(deps < dockerfile.find("COPY src src").unwrap());
}

#[test]
fn the_results_dashboard_reads_the_last_value_in_its_range() {
    // Instant queries see nothing five minutes after the master's last scrape.
    let d: serde_json::Value = serde_json::from_str(&read("monitoring/grafana/dashboards/wattswarm-results.json")).unwrap();
    let mut exprs = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(exprs.len() >= 8);
    for e in exprs {
        assert!(e.matches("wattswarm_").count() == e.matches("[$__range])").count() && e.contains("last_over_time("), "{e}");
    }
}

#[test]
fn the_autoscale_override_names_the_socket_group_portably_and_no_secret_is_in_the_repository() {
    let o = read("docker-compose.autoscale.yml");
    assert!(!o.contains("stat -c"), "GNU stat only: macOS's has no -c");
    for line in read(".env.example").lines().filter(|l| !l.starts_with('#')) {
        if let Some((k, v)) = line.split_once('=') {
            if k.contains("PASSWORD") || k.contains("TOKEN") {
                assert!(v.is_empty(), ".env.example: {k} must be empty");
            }
        }
    }
}

/// The official Jupyter image, pinned, under the clients the notebooks need
/// (images/notebook), named by the base's tag in both files; its settings are names that
/// Jupyter Server or notebooks/wattswarm_data.py read, the token and MongoDB's password come
/// from `.env` or Docker secrets, and ./notebooks is mounted where the image's user works.
#[test]
fn the_notebook_service_runs_the_pinned_jupyter_image_with_the_stacks_credentials() {
    let dockerfile = read("images/notebook/Dockerfile");
    assert!(dockerfile.contains("ARG JUPYTER_IMAGE=quay.io/jupyter/scipy-notebook:2026-05-31\nFROM ${JUPYTER_IMAGE}\n"), "{dockerfile}");
    for file in ["images/notebook/requirements.txt", "images/ci/notebook/requirements.txt"] {
        for line in read(file).lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            assert!(line.contains("=="), "{file}: {line} is not pinned");
        }
    }
    let helper = read("notebooks/wattswarm_data.py");
    for file in ["docker-compose.yml", "stack.yml"] {
        let s = services(&yaml(file));
        let nb = &s["notebook"];
        assert_eq!(text(&nb["image"]), "wattswarm-notebook:2026-05-31", "{file}: named by the base's tag");
        let vols: Vec<&str> = nb["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(vols, ["./notebooks:/home/jovyan/work"], "{file}: the notebooks are mounted, so edits persist");
        let env = env(nb);
        for k in env.keys() {
            let jupyter = k == "JUPYTER_TOKEN" || k == "JUPYTER_TOKEN_FILE";
            assert!(jupyter || helper.contains(&format!("\"{k}\"")), "{file}: notebook {k} is read by nothing");
        }
        assert_eq!(env["MONGO_URI"], "mongodb://mongo:27017/", "{file}");
        assert_eq!(env["WEBHDFS_URL"], "http://httpfs:14000/webhdfs/v1/wattswarm", "{file}: the job's output through HttpFS");
        if file == "stack.yml" {
            assert_eq!(env["JUPYTER_TOKEN_FILE"], "/run/secrets/jupyter_token");
            assert_eq!(env["MONGO_PASSWORD_FILE"], "/run/secrets/mongo_root_password");
            assert!(!env.contains_key("JUPYTER_TOKEN") && !env.contains_key("MONGO_PASSWORD"), "secrets only");
        } else {
            // `${…:?…}`: no default, so no token in the repository.
            let raw = &nb["environment"];
            assert!(raw["JUPYTER_TOKEN"].as_str().unwrap().starts_with("${JUPYTER_TOKEN:?"), "{file}");
            assert!(raw["MONGO_PASSWORD"].as_str().unwrap().starts_with("${MONGO_ROOT_PASSWORD:?"), "{file}");
            assert_eq!(nb["build"]["context"], Value::from("images/notebook"));
        }
    }
}
