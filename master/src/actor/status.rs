//! What the master tells people: the job's status (`GET /v1/job`, `wattswarm status`,
//! the progress line), the gauges refreshed before each scrape, and what Docker says of
//! the worker containers.
use actix::prelude::*;
use serde::Serialize;

use super::MasterActor;
use crate::coordinator::ChunkCounts;
use crate::docker::{Demand, DockerStatus, DockerUpdate, GetDemand};

/// Where the job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Running,
    Finishing,
    Done,
    Failed,
}

impl MasterActor {
    pub(super) fn status(&self) -> JobStatus {
        let done: u64 = self.coord.chunks().filter(|c| self.coord.is_done(c.id)).map(|c| c.len()).sum();
        let running = self.coord.running();
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .iter()
            .map(|(id, w)| {
                let chunk = running.get(id).copied();
                let bytes = if chunk.is_some() { w.bytes } else { 0 };
                let secs = w.chunk_started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                WorkerStatus {
                    id: id.clone(),
                    chunk,
                    chunk_bytes_done: bytes,
                    mb_per_second: if chunk.is_some() && secs > 0.0 { bytes as f64 / 1e6 / secs } else { 0.0 },
                    chunks_done: w.chunks_done,
                    bytes_done: w.bytes_done,
                    seconds_since_seen: w.last_seen.elapsed().as_secs_f64(),
                    metrics_url: w.metrics_url.clone(),
                }
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        let in_flight: u64 = workers.iter().map(|w| w.chunk_bytes_done).sum();
        let bytes_done = (done + in_flight).min(self.input_bytes);
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = (bytes_done.saturating_sub(self.bytes_at_start)) as f64 / elapsed.max(1e-3);
        let left = self.input_bytes - bytes_done;
        JobStatus {
            job_id: self.job_id.clone(),
            master_url: self.master_url.clone(),
            phase: self.phase,
            chunks: self.coord.counts(),
            input_bytes: self.input_bytes,
            bytes_done,
            rows: self.agg.totals.rows,
            rejected: self.agg.totals.rejected,
            elapsed_seconds: elapsed,
            mb_per_second: rate / 1e6,
            eta_seconds: if left == 0 { Some(0.0) } else if rate > 0.0 { Some(left as f64 / rate) } else { None },
            leases_expired: self.coord.expired,
            workers_alive: self.alive(),
            workers,
            docker: self.docker.clone(),
        }
    }

    /// Brings the gauges up to date (before a scrape).
    pub(super) fn refresh_gauges(&self) {
        let s = self.status();
        let m = &self.metrics;
        for (state, n) in [("pending", s.chunks.pending), ("running", s.chunks.running), ("done", s.chunks.done), ("failed", s.chunks.failed)] {
            m.chunks.with_label_values(&[state]).set(n as i64);
        }
        m.workers_alive.set(s.workers_alive as i64);
        m.progress.set(s.bytes_done as f64 / s.input_bytes.max(1) as f64);
        m.eta.set(s.eta_seconds.unwrap_or(-1.0));
    }
}

/// One worker, as the master sees it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WorkerStatus {
    pub id: String,
    pub chunk: Option<u32>,
    pub chunk_bytes_done: u64,
    pub mb_per_second: f64,
    pub chunks_done: u64,
    pub bytes_done: u64,
    pub seconds_since_seen: f64,
    pub metrics_url: Option<String>,
}

/// The job as the master sees it (`GET /v1/job`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobStatus {
    pub job_id: String,
    pub master_url: Option<String>,
    pub phase: Phase,
    pub chunks: ChunkCounts,
    pub input_bytes: u64,
    /// Bytes of done chunks plus the progress of running ones.
    pub bytes_done: u64,
    pub rows: u64,
    pub rejected: u64,
    pub elapsed_seconds: f64,
    pub mb_per_second: f64,
    pub eta_seconds: Option<f64>,
    pub leases_expired: u64,
    pub workers_alive: usize,
    pub workers: Vec<WorkerStatus>,
    /// What Docker says of the worker containers; none when not asked (`wattswarm run`).
    #[serde(default)]
    pub docker: Option<DockerStatus>,
}

impl Handler<DockerUpdate> for MasterActor {
    type Result = ();

    fn handle(&mut self, m: DockerUpdate, _: &mut Context<Self>) {
        self.docker = Some(m.0);
    }
}

impl Handler<GetDemand> for MasterActor {
    type Result = MessageResult<GetDemand>;

    fn handle(&mut self, _: GetDemand, _: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Running {
            return MessageResult(None);
        }
        let c = self.coord.counts();
        let busy = self.coord.running().into_keys().collect();
        MessageResult(Some(Demand {
            backlog: (c.pending + c.running) as usize,
            busy,
        }))
    }
}

#[derive(Message)]
#[rtype(result = "JobStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for MasterActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status())
    }
}

/// Updates the gauges, then answers with the metrics text.
#[derive(Message)]
#[rtype(result = "String")]
pub struct RenderMetrics;

impl Handler<RenderMetrics> for MasterActor {
    type Result = String;

    fn handle(&mut self, _: RenderMetrics, _: &mut Context<Self>) -> String {
        self.refresh_gauges();
        self.metrics.render()
    }
}

/// Whether every worker has heard that the job is over (or is gone).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct WorkersReleased;

impl Handler<WorkersReleased> for MasterActor {
    type Result = bool;

    fn handle(&mut self, _: WorkersReleased, _: &mut Context<Self>) -> bool {
        self.workers.values().all(|w| w.told_finished || w.last_seen.elapsed() > self.lease_timeout)
    }
}
