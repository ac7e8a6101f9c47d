//! `wattswarm worker`: join a master and process its chunks.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wattswarm_worker::remote::{run, RemoteOptions};

use crate::cli::WorkerArgs;
use crate::settings::{Overrides, Settings};

pub fn worker(args: WorkerArgs) -> Result<()> {
    let mut flags = Overrides::default();
    flags
        .set("master", args.master.clone())
        .set("worker_id", args.id.clone())
        .set("metrics_listen", args.metrics_listen.clone())
        .set("advertise", args.advertise.clone());
    let s = Settings::load(args.config.as_deref(), &flags, None)?;
    let Some(master) = s.master.clone() else {
        bail!("no master: pass --master http://HOST:7070 (or set WATTSWARM_MASTER)");
    };
    if !master.starts_with("http://") {
        bail!("--master {master:?} must be a URL like http://master:7070");
    }
    let metrics: SocketAddr = s
        .metrics_listen
        .parse()
        .with_context(|| format!("--metrics-listen {:?} is not an address like 0.0.0.0:9101", s.metrics_listen))?;
    let opts = RemoteOptions {
        master,
        token: s.token()?,
        id: s.worker_id.clone(),
        metrics_listen: Some(metrics),
        advertise: s.advertise.clone(),
        heartbeat: Duration::from_secs(s.heartbeat_seconds),
        mongo: s.mongo()?,
    };
    actix_rt::System::new().block_on(run(opts))?;
    Ok(())
}
