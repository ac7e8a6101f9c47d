//! `wattswarm master`: the master as a process, serving workers over HTTP.
//!
//! It resumes the job if its output holds an unfinished run of the same job, serves the
//! API, says so when no worker is there, and on SIGTERM or Ctrl-C stops serving and exits
//! cleanly: completed chunks are on disk, so starting it again with the same output
//! continues where it stopped.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use tokio::sync::oneshot;
use wattswarm_core::input::Input;

use crate::actor::{GetStatus, JobOutcome, JobStatus, MasterActor, MasterSetup, WorkersReleased};
use crate::http::{server, Token};
use crate::metrics::MasterMetrics;
use crate::job::{open_job, JobOptions, OpenedJob};
use crate::JobError;

pub struct MasterOptions {
    pub listen: SocketAddr,
    /// The URL workers reach this master at; default `http://<hostname>:<port>`.
    pub advertise: Option<String>,
    pub token: Token,
    pub job: JobOptions,
    /// Exit once the job is done (after workers have had time to hear it).
    pub exit_when_done: bool,
    /// `--autoscale MIN..MAX`: set the number of worker containers to the backlog.
    pub autoscale: Option<crate::docker::Autoscale>,
    /// The workers' service name in the compose file or stack.
    pub worker_service: String,
}

/// How the master process ended.
pub enum MasterEnd {
    Finished(JobOutcome),
    /// Stopped by a signal; the job can be resumed.
    Stopped(JobStatus),
}

pub async fn serve(input: &Input, opts: MasterOptions, on_started: impl FnOnce(SocketAddr, &str)) -> Result<MasterEnd, JobError> {
    let OpenedJob { output, lock, prepared, mongo } = open_job(input, &opts.job)?;
    let metrics = Arc::new(MasterMetrics::new());
    let (tx, mut done) = oneshot::channel();
    // Bind first, so the advertised URL carries the real port (also for port 0).
    let listen_err = |e| JobError::Listen { addr: opts.listen, source: e };
    let listener = match std::net::TcpListener::bind(opts.listen) {
        Ok(l) => l,
        Err(e) => {
            lock.release();
            return Err(listen_err(e));
        }
    };
    let addr = listener.local_addr().map_err(listen_err)?;
    let url = opts
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", gethostname::gethostname().to_string_lossy(), addr.port()));
    let resumed = prepared.done.len();
    let total = prepared.chunks.len();
    let job_id = prepared.manifest.job_id.clone();
    let master = MasterActor::new(
        MasterSetup {
            prepared,
            input: input.clone(),
            output,
            settings: opts.job.settings.clone(),
            coordinator: opts.job.coordinator.clone(),
            metrics: metrics.clone(),
            master_url: Some(url.clone()),
            mongo,
            lock: lock.clone(),
        },
        tx,
    )
    .start();
    let http = server(master.clone(), &job_id, opts.token.clone(), listener).map_err(|e| JobError::Listen { addr, source: e })?;
    let handle = http.handle();
    actix_rt::spawn(http);
    actix_rt::spawn(crate::docker::watch(master.clone().recipient(), master.clone().recipient(), metrics, opts.autoscale, opts.worker_service.clone()));
    if resumed > 0 {
        eprintln!("wattswarm master: resuming job {job_id}: {resumed} of {total} chunks already done");
    } else {
        eprintln!("wattswarm master: job {job_id}, {total} chunks");
    }
    on_started(addr, &url);

    let mut shutdown = std::pin::pin!(shutdown_signal());
    let end = tokio::select! {
        r = &mut done => {
            let outcome = r.unwrap_or(Err(JobError::Interrupted));
            if opts.exit_when_done || outcome.is_err() {
                // Workers poll every 100 ms: wait until each has heard the job is over
                // (at most 5 s), so none is left retrying a master that is gone.
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_secs(5) && !master.send(WorkersReleased).await.unwrap_or(true) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if let Err(e) = outcome {
                    handle.stop(true).await;
                    return Err(e);
                }
            } else {
                eprintln!("wattswarm master: job done; still serving /v1/job and /metrics (Ctrl-C to stop)");
                shutdown.await;
            }
            MasterEnd::Finished(outcome?)
        }
        _ = &mut shutdown => {
            let status = master.send(GetStatus).await.map_err(|_| JobError::Interrupted)?;
            // Stopped cleanly: another master may take the output over at once.
            lock.release();
            MasterEnd::Stopped(status)
        }
    };
    handle.stop(true).await;
    Ok(end)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} },
        // Without signal handlers the master serves until it is killed.
        _ => std::future::pending().await,
    }
}
