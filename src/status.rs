//! `wattswarm status`: a master's job, once as JSON or text, or live on a terminal.
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wattswarm_master::actor::{JobStatus, Phase};

use crate::cli::StatusArgs;
use crate::settings::{Overrides, Settings};

async fn fetch(client: &awc::Client, url: &str) -> Result<JobStatus> {
    let mut r = client
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the master at {url}: {e}"))?;
    match r.status().as_u16() {
        200 => Ok(r.json::<JobStatus>().limit(16 << 20).await.context("the master's answer is not a job status")?),
        401 => bail!("the master refused the token (401): use the master's WATTSWARM_TOKEN"),
        s => bail!("the master answered {s}"),
    }
}

fn text(s: &JobStatus) -> String {
    let c = &s.chunks;
    let mut out = format!(
        "job {} {:?}: chunks pending {} running {} done {} failed {}; {} rows, {} rejected; {:.0}/{:.0} MB ({:.1}%), {:.0} MB/s, ETA {}\n",
        s.job_id,
        s.phase,
        c.pending,
        c.running,
        c.done,
        c.failed,
        s.rows,
        s.rejected,
        s.bytes_done as f64 / 1e6,
        s.input_bytes as f64 / 1e6,
        100.0 * s.bytes_done as f64 / s.input_bytes.max(1) as f64,
        s.mb_per_second,
        s.eta_seconds.map(|e| format!("{e:.0} s")).unwrap_or_else(|| "unknown".into())
    );
    for w in &s.workers {
        out.push_str(&format!(
            "  worker {:<24} chunk {:>6}  {:>6.0} MB/s  {} chunks done  seen {:.1} s ago\n",
            w.id,
            w.chunk.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            w.mb_per_second,
            w.chunks_done,
            w.seconds_since_seen
        ));
    }
    if s.workers.is_empty() {
        out.push_str("  no workers\n");
    }
    if let Some(d) = &s.docker {
        out.push_str(&format!("docker: {}; autoscaling {}\n", d.source, d.autoscale));
        for c in &d.workers {
            out.push_str(&format!("  container {:<32} {:<10} {}\n", c.name, c.state, c.status));
        }
    }
    out
}

pub fn status(args: StatusArgs) -> Result<()> {
    let mut flags = Overrides::default();
    flags.set("master", args.master.clone());
    let s = Settings::load(args.config.as_deref(), &flags, None)?;
    let Some(master) = s.master.clone() else {
        bail!("no master: pass --master http://HOST:7070 (or set WATTSWARM_MASTER)");
    };
    let token = s.token()?;
    let url = format!("{}/v1/job", master.trim_end_matches('/'));
    actix_rt::System::new().block_on(async move {
        let client = awc::Client::builder().timeout(Duration::from_secs(10)).bearer_auth(&token).finish();
        let st = fetch(&client, &url).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&st)?);
            return Ok(());
        }
        if !std::io::stdout().is_terminal() || st.phase != Phase::Running {
            print!("{}", text(&st));
            return Ok(());
        }
        let bar = indicatif::ProgressBar::new(st.input_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{wide_bar} {bytes}/{total_bytes} {msg}").expect("the template is valid"),
        );
        let mut last = st;
        loop {
            let st = match fetch(&client, &url).await {
                Ok(st) => st,
                // A master run with --exit-when-done leaves as soon as its workers are told.
                Err(_) if last.chunks.pending + last.chunks.running == 0 && last.chunks.failed == 0 => {
                    bar.finish();
                    println!("every chunk is done and the master has exited: the results are in its output");
                    return Ok(());
                }
                Err(e) => {
                    bar.abandon();
                    return Err(e.context(format!(
                        "the master stopped answering with {} of {} chunks done (a master run with --exit-when-done exits when the job ends; see its output for _SUCCESS)",
                        last.chunks.done,
                        last.chunks.done + last.chunks.pending + last.chunks.running + last.chunks.failed
                    )));
                }
            };
            bar.set_position(st.bytes_done);
            bar.set_message(format!("{:.0} MB/s, ETA {}", st.mb_per_second, st.eta_seconds.map(|e| format!("{e:.0} s")).unwrap_or_default()));
            bar.println(text(&st).trim_end());
            if st.phase != Phase::Running && st.phase != Phase::Finishing {
                bar.finish();
                return Ok(());
            }
            last = st;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}
