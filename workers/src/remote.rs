//! `wattswarm worker`: a worker process that joins a master over HTTP.
//!
//! It registers (waiting, with capped backoff and one log line per attempt, for a master
//! that is not up yet), serves its own `/metrics`, runs a [`WorkerActor`] until the job
//! ends, and on SIGTERM or Ctrl-C finishes its current chunk, hands back its lease and
//! exits cleanly. If the master starts another job, it registers again.
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::{web, App, HttpResponse, HttpServer};
use wattswarm_core::process::JobSpec;
use wattswarm_core::protocol::{Register, WorkerRef};
use wattswarm_core::retry::Policy;
use wattswarm_core::storage::Output;

use crate::actor::{Ended, WorkerActor, WorkerProgress};
use crate::http::HttpMaster;
use crate::metrics::WorkerMetrics;
use crate::source::LinkError;

pub struct RemoteOptions {
    /// The master's URL, e.g. `http://master:7070`.
    pub master: String,
    pub token: String,
    /// This worker's id; default `<hostname>-<pid>`.
    pub id: Option<String>,
    /// Where to serve `/metrics`; `None`: no listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The metrics URL to tell the master; default `http://<hostname>:<port>`.
    pub advertise: Option<String>,
    pub heartbeat: Duration,
    /// This worker's MongoDB, used when its job stores readings.
    pub mongo: Option<wattswarm_mongo::MongoSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot serve metrics on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the job's output: {0}")]
    Output(#[from] wattswarm_core::Error),
    #[error("job {job} stores readings in MongoDB ({namespace}), but this worker has no mongo_uri: set WATTSWARM_MONGO_URI (and its credentials) as on the master")]
    NoMongo { job: String, namespace: String },
    #[error(transparent)]
    Mongo(#[from] wattswarm_mongo::MongoError),
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Runs the worker process until its job ends or it is told to stop.
pub async fn run(opts: RemoteOptions) -> Result<(), WorkerError> {
    let id = opts.id.clone().unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let metrics = Arc::new(WorkerMetrics::new(&id));
    let mut metrics_url = None;
    if let Some(addr) = opts.metrics_listen {
        let m = metrics.clone();
        let server = HttpServer::new(move || {
            let m = m.clone();
            App::new()
                .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok\n") }))
                .route(
                    "/metrics",
                    web::get().to(move || {
                        let body = m.render();
                        async move { HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body) }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .bind(addr)
        .map_err(|source| WorkerError::Listen { addr, source })?;
        let port = server.addrs().first().map(|a| a.port()).unwrap_or(addr.port());
        metrics_url = Some(opts.advertise.clone().unwrap_or_else(|| format!("http://{}:{port}", hostname())));
        tracing::info!("metrics on port {port}");
        actix_rt::spawn(server.run());
    }

    let progress = Arc::new(WorkerProgress::default());
    let p = progress.clone();
    actix_rt::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        eprintln!("wattswarm worker: stopping after the current chunk (a second signal stops at once)");
        p.stopping.store(true, Ordering::Relaxed);
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        // Nothing is lost: an unfinished chunk's files are hidden temporaries, and its
        // lease expires and goes to another worker.
        eprintln!("wattswarm worker: second signal: exiting now; the current chunk goes to another worker");
        std::process::exit(143);
    });

    let master = HttpMaster::new(&opts.master, &opts.token);
    let register = Register {
        worker: id.clone(),
        metrics_url,
    };
    loop {
        let info = {
            // Waits for a master that is not up yet, as long as it takes, with one line
            // per attempt: the first thing an operator looks at when workers sit idle.
            let mut backoff = Policy::master(None).start();
            loop {
                if progress.stopping.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match master.register(&register).await {
                    Ok(info) => break info,
                    Err(e) => {
                        let hint = match e {
                            LinkError::Unreachable { .. } => " (is the master up, and is --master right?)",
                            _ => "",
                        };
                        let delay = backoff.pause().expect("no limit");
                        eprintln!("wattswarm worker {id}: attempt {}: {e}{hint}; retrying in {:.1} s", backoff.attempts, delay.as_secs_f64());
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        };
        eprintln!("wattswarm worker {id}: joined job {} at {}", info.job_id, master.base());
        let output = Output::open(&info.output, &info.settings.hdfs)?;
        let rows = match &info.readings {
            None => None,
            Some(ns) => {
                let Some(mut s) = opts.mongo.clone() else {
                    return Err(WorkerError::NoMongo {
                        job: info.job_id.clone(),
                        namespace: ns.clone(),
                    });
                };
                // The master names the collection; this worker brings the address and credentials.
                if let Some((db, coll)) = ns.split_once('.') {
                    (s.database, s.readings) = (db.to_owned(), coll.to_owned());
                }
                let mongo = Arc::new(wattswarm_mongo::Mongo::connect(&s)?);
                Some(Arc::new(wattswarm_mongo::Readings::new(mongo)) as Arc<dyn wattswarm_core::process::RowSinkFactory>)
            }
        };
        let job = Arc::new(JobSpec {
            output,
            rows,
            households: info.households.map(Arc::new),
            settings: info.settings,
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = WorkerRef {
            worker: id.clone(),
            job_id: info.job_id.clone(),
        };
        WorkerActor::new(me, master.clone(), job)
            .with_metrics(metrics.clone())
            .with_progress(progress.clone())
            .with_heartbeat(opts.heartbeat)
            .on_stop(tx)
            .start();
        let ended = rx.await.unwrap_or(Ended::Stopped);
        if progress.stopping.load(Ordering::Relaxed) || ended == Ended::Stopped {
            eprintln!("wattswarm worker {id}: stopped cleanly");
            return Ok(());
        }
        if ended == Ended::Finished {
            eprintln!("wattswarm worker {id}: the job is finished; {} chunks done here", progress.chunks_done.load(Ordering::Relaxed));
            return Ok(());
        }
        eprintln!("wattswarm worker {id}: the master started another job; joining it");
    }
}
