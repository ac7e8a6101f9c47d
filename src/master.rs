//! `wattswarm master`: serve a job to worker processes.
use std::net::SocketAddr;

use anyhow::{Context, Result};
use wattswarm_master::http::Token;
use wattswarm_master::server::{serve, MasterEnd, MasterOptions};

use crate::cli::MasterArgs;
use crate::run::{job_options, print_outcome, resolve_input};
use crate::settings::{Overrides, Settings};

pub fn master(args: MasterArgs) -> Result<()> {
    let mut flags = Overrides::job(&args.job);
    flags
        .set("listen", args.listen.clone())
        .set("advertise", args.advertise.clone())
        .set("fallback_input", args.fallback_input.clone())
        .set("lease_timeout_seconds", args.lease_timeout)
        .flag("exit_when_done", args.exit_when_done)
        .set("autoscale", args.autoscale.clone());
    let s = Settings::load(args.job.config.as_deref(), &flags, None)?;
    let token = Token::new(&s.token()?);
    let listen: SocketAddr = s
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an address like 0.0.0.0:7070", s.listen))?;
    let (input, spec) = resolve_input(&s)?;
    let opts = MasterOptions {
        listen,
        advertise: s.advertise.clone(),
        token,
        job: job_options(&s, 0, input.bytes())?,
        exit_when_done: s.exit_when_done,
        autoscale: s.autoscale.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?,
        worker_service: s.docker_worker_service.clone(),
    };
    let quiet = s.quiet;
    let end = actix_rt::System::new().block_on(async move {
        serve(&input, opts, |addr, url| {
            eprintln!(
                "wattswarm master: {} file(s), {:.1} MB from {spec}; serving on {addr}; workers join with: wattswarm worker --master {url}",
                input.files.len(),
                input.bytes() as f64 / 1e6
            );
        })
        .await
    })?;
    match end {
        MasterEnd::Finished(outcome) => {
            if !quiet {
                print_outcome(&outcome, &s.output);
            }
        }
        MasterEnd::Stopped(status) => {
            eprintln!(
                "wattswarm master: stopped with {} of {} chunks done; start it again with the same --output to resume",
                status.chunks.done,
                status.chunks.done + status.chunks.pending + status.chunks.running + status.chunks.failed
            );
        }
    }
    Ok(())
}
