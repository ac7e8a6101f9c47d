//! The Docker engine, when its socket is mounted into the master's container.
//!
//! The master finds out how it was deployed from its own container's labels (docker
//! compose or a swarm stack), lists the worker containers or tasks with their state for
//! its status and metrics, and with `--autoscale MIN..MAX` sets the number of workers to
//! the backlog: the chunks pending or running, within MIN and MAX. On a swarm that is a
//! service update; under compose there is no service to update, so the master does what
//! `docker compose up --scale` does: it starts more containers like an existing worker
//! (same image, command, environment, volumes, network alias, compose labels) or stops
//! idle ones (SIGTERM: the worker leaves and holds no lease). Without the socket nothing
//! changes, and the status says autoscaling is off.
//!
//! Only during the job: once no chunk is pending, workers leave on their own.
use std::collections::HashMap;
use std::time::Duration;

use actix::{Message, Recipient};
use bollard::models::{ContainerConfig, ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectServiceOptions, ListContainersOptions, ListTasksOptions, StopContainerOptions, UpdateServiceOptions,
};
use bollard::Docker;
use serde::{Deserialize, Serialize};

use crate::metrics::MasterMetrics;

const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_NUMBER: &str = "com.docker.compose.container-number";
const SWARM_SERVICE: &str = "com.docker.swarm.service.name";
const STACK_NAMESPACE: &str = "com.docker.stack.namespace";

/// `--autoscale MIN..MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autoscale {
    pub min: usize,
    pub max: usize,
}

impl std::str::FromStr for Autoscale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--autoscale {s:?}: expected MIN..MAX, e.g. 1..8, with 1 <= MIN <= MAX");
        let (a, b) = s.split_once("..").ok_or_else(bad)?;
        let (min, max) = (a.trim().parse::<usize>().map_err(|_| bad())?, b.trim().parse::<usize>().map_err(|_| bad())?);
        if min == 0 || min > max {
            return Err(bad());
        }
        Ok(Autoscale { min, max })
    }
}

impl Autoscale {
    /// Workers for a backlog of chunks: one per chunk, within MIN and MAX.
    pub fn target(&self, backlog: usize) -> usize {
        backlog.clamp(self.min, self.max)
    }
}

/// One worker container (compose) or task (swarm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerContainer {
    pub name: String,
    /// Docker's state: running, exited, … (swarm: the task's state).
    pub state: String,
    /// Docker's words, e.g. "Up 3 minutes (healthy)".
    pub status: String,
}

/// What the master sees of Docker, in its status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerStatus {
    /// e.g. "compose project wattswarm, service worker", or why Docker is not used.
    pub source: String,
    /// e.g. "1..8, target 3", or "off: …".
    pub autoscale: String,
    pub workers: Vec<WorkerContainer>,
}

/// How this master was deployed.
#[derive(Debug, Clone, PartialEq)]
enum Platform {
    Compose { project: String, service: String },
    Swarm { service: String },
}

impl Platform {
    fn describe(&self) -> String {
        match self {
            Platform::Compose { project, service } => format!("compose project {project}, service {service}"),
            Platform::Swarm { service } => format!("swarm service {service}"),
        }
    }
}

/// The platform from the master container's labels; `worker` is the workers' service
/// name in the compose file or stack.
fn platform(labels: &HashMap<String, String>, worker: &str) -> Option<Platform> {
    if labels.contains_key(SWARM_SERVICE) {
        let service = match labels.get(STACK_NAMESPACE) {
            Some(ns) => format!("{ns}_{worker}"),
            None => worker.to_owned(),
        };
        return Some(Platform::Swarm { service });
    }
    labels.get(COMPOSE_PROJECT).map(|p| Platform::Compose {
        project: p.clone(),
        service: worker.to_owned(),
    })
}

/// A new compose container's name: the template's with the next number
/// (`proj-worker-1` → `proj-worker-4`, or `proj_worker_1` → `proj_worker_4` for 1.29).
fn next_name(template: &str, number: u32) -> String {
    let t = template.trim_start_matches('/');
    match t.rfind(['-', '_']) {
        Some(i) if t[i + 1..].chars().all(|c| c.is_ascii_digit()) => format!("{}{number}", &t[..=i]),
        _ => format!("{t}-{number}"),
    }
}

/// The Docker engine and this deployment's workers.
pub struct Engine {
    docker: Docker,
    platform: Platform,
}

impl Engine {
    /// Connects to the socket (`DOCKER_HOST`, or /var/run/docker.sock) and reads this
    /// container's labels. `Err` says why Docker is not used.
    pub async fn connect(worker_service: &str) -> Result<Engine, String> {
        let socket = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let path = socket.trim_start_matches("unix://");
        if socket.starts_with("unix://") && !std::path::Path::new(path).exists() {
            return Err(format!("no Docker socket at {path} (mount it to list the workers and to autoscale)"));
        }
        let docker = Docker::connect_with_socket_defaults().map_err(|e| format!("Docker at {socket}: {e}"))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| format!("Docker at {socket} does not answer: {e} (is the socket readable by this user? add its group with group_add)"))?;
        let me = gethostname::gethostname().to_string_lossy().into_owned();
        let labels = docker
            .inspect_container(&me, None)
            .await
            .map_err(|e| format!("this master's container ({me}) is unknown to Docker: {e}"))?
            .config
            .and_then(|c| c.labels)
            .unwrap_or_default();
        let platform = platform(&labels, worker_service)
            .ok_or_else(|| format!("this master's container ({me}) was started by neither docker compose nor a swarm stack"))?;
        Ok(Engine { docker, platform })
    }

    pub fn describe(&self) -> String {
        self.platform.describe()
    }

    /// The worker containers or tasks, sorted by name.
    pub async fn workers(&self) -> Result<Vec<WorkerContainer>, String> {
        let mut v: Vec<WorkerContainer> = match &self.platform {
            Platform::Compose { project, service } => self
                .compose_containers(project, service)
                .await?
                .into_iter()
                .map(|c| WorkerContainer {
                    name: c.names.and_then(|n| n.first().cloned()).unwrap_or_default().trim_start_matches('/').to_owned(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    status: c.status.unwrap_or_default(),
                })
                .collect(),
            Platform::Swarm { service } => {
                let filters = HashMap::from([("service".to_string(), vec![service.clone()]), ("desired-state".to_string(), vec!["running".to_string(), "shutdown".to_string()])]);
                let tasks = self
                    .docker
                    .list_tasks(Some(ListTasksOptions { filters: Some(filters) }))
                    .await
                    .map_err(|e| format!("listing the tasks of {service}: {e}"))?;
                // The newest task of each slot: older ones are history.
                let mut by_slot: HashMap<i64, bollard::models::Task> = HashMap::new();
                for t in tasks {
                    let slot = t.slot.unwrap_or_default();
                    let newer = by_slot.get(&slot).is_none_or(|o| o.created_at < t.created_at);
                    if newer {
                        by_slot.insert(slot, t);
                    }
                }
                by_slot
                    .into_iter()
                    .map(|(slot, t)| {
                        let status = t.status.unwrap_or_default();
                        WorkerContainer {
                            name: format!("{service}.{slot}"),
                            state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                            status: status.message.unwrap_or_default(),
                        }
                    })
                    .collect()
            }
        };
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    async fn compose_containers(&self, project: &str, service: &str) -> Result<Vec<bollard::models::ContainerSummary>, String> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{COMPOSE_PROJECT}={project}"), format!("{COMPOSE_SERVICE}={service}")])]);
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| format!("listing the containers of {service}: {e}"))
    }

    /// Sets the number of running workers to `target`. `busy` holds the ids of workers
    /// that hold a lease (`<hostname>-<pid>`, the hostname being the container's short id);
    /// compose stops idle containers only.
    pub async fn scale(&self, target: usize, busy: &[String]) -> Result<(), String> {
        match &self.platform {
            Platform::Swarm { service } => {
                let s = self
                    .docker
                    .inspect_service(service, None::<InspectServiceOptions>)
                    .await
                    .map_err(|e| format!("inspecting {service}: {e}"))?;
                let version = s.version.and_then(|v| v.index).unwrap_or_default();
                let mut spec = s.spec.ok_or_else(|| format!("{service} has no spec"))?;
                let replicated = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()).ok_or_else(|| format!("{service} is not a replicated service"))?;
                if replicated.replicas == Some(target as i64) {
                    return Ok(());
                }
                replicated.replicas = Some(target as i64);
                let opts = UpdateServiceOptions {
                    version: version as i32,
                    ..Default::default()
                };
                self.docker
                    .update_service(service, spec, opts, None)
                    .await
                    .map_err(|e| format!("scaling {service} to {target}: {e}"))?;
                Ok(())
            }
            Platform::Compose { project, service } => self.scale_compose(project, service, target, busy).await,
        }
    }

    async fn scale_compose(&self, project: &str, service: &str, target: usize, busy: &[String]) -> Result<(), String> {
        let all = self.compose_containers(project, service).await?;
        let state = |c: &bollard::models::ContainerSummary| c.state.map(|s| s.to_string()).unwrap_or_default();
        let running: Vec<_> = all.iter().filter(|c| state(c) == "running").collect();
        // Containers compose or this loop just created count too: copying more while they
        // start would overshoot the target.
        let live = all.iter().filter(|c| matches!(state(c).as_str(), "running" | "created" | "restarting")).count();
        if live > target {
            let is_busy = |id: &str| busy.iter().any(|w| w.len() >= 12 && id.starts_with(&w[..12]));
            let idle = running.iter().filter(|c| !is_busy(c.id.as_deref().unwrap_or_default()));
            for c in idle.take(live - target) {
                let id = c.id.clone().unwrap_or_default();
                self.docker
                    .stop_container(&id, Some(StopContainerOptions { t: Some(30), signal: None }))
                    .await
                    .map_err(|e| format!("stopping worker container {id}: {e}"))?;
            }
            return Ok(());
        }
        let Some(template) = running.first().copied().or(all.first()) else {
            return Err(format!("no {service} container to copy: start one with docker compose up"));
        };
        let tid = template.id.clone().unwrap_or_default();
        let t = self.docker.inspect_container(&tid, None).await.map_err(|e| format!("inspecting worker container {tid}: {e}"))?;
        let config = t.config.unwrap_or_default();
        let mut number = all
            .iter()
            .filter_map(|c| c.labels.as_ref()?.get(COMPOSE_NUMBER)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        let network = t.network_settings.and_then(|n| n.networks).unwrap_or_default().into_keys().next();
        for _ in live..target {
            number += 1;
            let body = copy_of(&config, t.host_config.clone(), network.clone(), service, number);
            let name = next_name(t.name.as_deref().unwrap_or(service), number);
            let created = self
                .docker
                .create_container(Some(CreateContainerOptions { name: Some(name.clone()), ..Default::default() }), body)
                .await
                .map_err(|e| format!("creating worker container {name}: {e}"))?;
            self.docker
                .start_container(&created.id, None)
                .await
                .map_err(|e| format!("starting worker container {name}: {e}"))?;
            tracing::info!("autoscale: started {name}");
        }
        Ok(())
    }
}

/// The create body of another replica like the inspected `config`: same image, command,
/// environment and host settings, with compose's container-number label set to `number`
/// and the service's name as its alias on the project's network, as compose would.
fn copy_of(config: &ContainerConfig, host_config: Option<HostConfig>, network: Option<String>, service: &str, number: u32) -> ContainerCreateBody {
    let mut labels = config.labels.clone().unwrap_or_default();
    labels.insert(COMPOSE_NUMBER.into(), number.to_string());
    let alias = EndpointSettings {
        aliases: Some(vec![service.to_owned()]),
        ..Default::default()
    };
    ContainerCreateBody {
        image: config.image.clone(),
        cmd: config.cmd.clone(),
        entrypoint: config.entrypoint.clone(),
        env: config.env.clone(),
        user: config.user.clone(),
        working_dir: config.working_dir.clone(),
        exposed_ports: config.exposed_ports.clone(),
        healthcheck: config.healthcheck.clone(),
        stop_signal: config.stop_signal.clone(),
        labels: Some(labels),
        host_config,
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(network.into_iter().map(|n| (n, alias.clone())).collect()),
        }),
        ..Default::default()
    }
}

/// The latest view of Docker, for the master's status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DockerUpdate(pub DockerStatus);

/// What autoscaling needs of the job: asked of the master every 5 s.
#[derive(Message)]
#[rtype(result = "Option<Demand>")]
pub struct GetDemand;

/// Chunks still to do, and the workers holding one (never stopped to scale down); none
/// once the job no longer runs.
#[derive(Debug, Clone)]
pub struct Demand {
    pub backlog: usize,
    pub busy: Vec<String>,
}

/// Every 5 s: lists the workers for the status and metrics and, with `autoscale`, sets
/// their number to the backlog while the job runs. Returns at once, saying so, when
/// Docker is not there.
pub async fn watch(master: Recipient<DockerUpdate>, demand: Recipient<GetDemand>, metrics: std::sync::Arc<MasterMetrics>, autoscale: Option<Autoscale>, worker_service: String) {
    let engine = match Engine::connect(&worker_service).await {
        Ok(e) => e,
        Err(why) => {
            let off = format!("off: {why}");
            eprintln!("wattswarm master: Docker: {why}; worker containers are not listed and autoscaling is off");
            master.do_send(DockerUpdate(DockerStatus {
                source: why,
                autoscale: off,
                workers: Vec::new(),
            }));
            return;
        }
    };
    let describe = engine.describe();
    eprintln!(
        "wattswarm master: Docker: {describe}; autoscaling {}",
        autoscale.map(|a| format!("{}..{}", a.min, a.max)).unwrap_or_else(|| "off (--autoscale MIN..MAX turns it on)".into())
    );
    let mut target: Option<usize> = None;
    loop {
        let mut source = describe.clone();
        let workers = match engine.workers().await {
            Ok(w) => w,
            Err(e) => {
                source = format!("{describe}: {e}");
                Vec::new()
            }
        };
        metrics.docker_workers.reset();
        for w in &workers {
            metrics.docker_workers.with_label_values(&[w.state.as_str()]).inc();
        }
        if let (Some(a), Ok(Some(Demand { backlog, busy }))) = (autoscale, demand.send(GetDemand).await) {
            let want = a.target(backlog);
            match engine.scale(want, &busy).await {
                Ok(()) => {
                    if target != Some(want) {
                        eprintln!("wattswarm master: autoscale: {want} worker(s) for {backlog} chunk(s) to go");
                    }
                    target = Some(want);
                    metrics.autoscale_target.set(want as i64);
                }
                Err(e) => {
                    tracing::warn!("autoscale: {e}");
                    source = format!("{describe}: {e}");
                }
            }
        }
        let autoscale = match (autoscale, target) {
            (None, _) => "off (--autoscale MIN..MAX turns it on)".to_owned(),
            (Some(a), Some(t)) => format!("{}..{}, target {t}", a.min, a.max),
            (Some(a), None) => format!("{}..{}", a.min, a.max),
        };
        master.do_send(DockerUpdate(DockerStatus { source, autoscale, workers }));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autoscale_parses_and_clamps_the_backlog() {
        let a: Autoscale = "2..8".parse().unwrap();
        assert_eq!(a, Autoscale { min: 2, max: 8 });
        assert_eq!((a.target(0), a.target(5), a.target(100)), (2, 5, 8));
        for bad in ["8..2", "0..3", "3", "a..b", ""] {
            assert!(bad.parse::<Autoscale>().unwrap_err().contains("MIN..MAX"), "{bad}");
        }
    }

    #[test]
    fn the_platform_comes_from_the_labels() {
        let l = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        assert_eq!(
            platform(&l(&[(COMPOSE_PROJECT, "ws"), (COMPOSE_SERVICE, "master")]), "worker"),
            Some(Platform::Compose { project: "ws".into(), service: "worker".into() })
        );
        assert_eq!(
            platform(&l(&[(SWARM_SERVICE, "ws_master"), (STACK_NAMESPACE, "ws")]), "worker"),
            Some(Platform::Swarm { service: "ws_worker".into() })
        );
        assert_eq!(platform(&l(&[("other", "x")]), "worker"), None);
    }

    #[test]
    fn new_compose_names_follow_the_template() {
        assert_eq!(next_name("/ws-worker-1", 4), "ws-worker-4");
        assert_eq!(next_name("/ws_worker_2", 5), "ws_worker_5");
        assert_eq!(next_name("worker", 3), "worker-3");
    }
}
