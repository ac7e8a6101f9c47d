//! The end of a job: the household-day merges run ahead while chunks still run, then the
//! serial finish on a blocking thread: household_day.parquet, with rejects and the other
//! results written beside it on a second thread, then MongoDB and `_SUCCESS`, each step
//! checking that this master still holds the output.
use std::time::Instant;

use actix::prelude::*;
use wattswarm_core::chunk::ChunkSpec;

use super::{JobOutcome, MasterActor, Phase};
use crate::results::{finished_outcome, headline, tables, write_household_days, write_results, RunFacts};
use crate::state::seal;
use crate::JobError;

impl MasterActor {
    /// Starts the next household-day merge ahead in a blocking thread, if one is due.
    pub(super) fn merge_ahead(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(m) = self.days.due() else { return };
        let (out, settings, job, lock) = (self.output.clone(), self.settings.clone(), m.clone(), self.lock.clone());
        let fut = tokio::task::spawn_blocking(move || lock.check().and_then(|_| job.run(&out, &settings)));
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let res = res.unwrap_or_else(|e| {
                Err(wattswarm_core::Error::Corrupt {
                    path: act.output.location().shown(),
                    reason: format!("merging household-days panicked: {e}"),
                })
            });
            act.days.merged(m, res);
            if act.finish_when_merged {
                act.finish_when_merged = false;
                act.finish(ctx);
            } else {
                act.merge_ahead(ctx);
            }
        }));
    }

    pub(super) fn finish(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Finishing;
        if self.days.running() {
            self.finish_when_merged = true;
            return;
        }
        let days = std::mem::take(&mut self.days);
        let (lock, manifest) = (self.lock.clone(), self.manifest.clone());
        let out = self.output.clone();
        let chunks: Vec<ChunkSpec> = self.coord.chunks().cloned().collect();
        let lines = self.lines.clone();
        let agg = self.agg.clone();
        let settings = self.settings.clone();
        let mongo = self.mongo.clone();
        let metrics = self.metrics.clone();
        let (started, workers, files, parquet_bytes) = (self.started, self.contributors.len(), self.input.files.len(), self.parquet_bytes);
        // Each step checks that this master still holds the output, and each can be
        // killed and run again: the partials stay until `_SUCCESS` is written.
        let fut = tokio::task::spawn_blocking(move || {
            let facts = RunFacts {
                seconds: started.elapsed().as_secs_f64(),
                workers,
                files,
                parquet_bytes,
            };
            // Each step's time, for `RUST_LOG=wattswarm_master=info`: the serial finish is
            // what more workers cannot shorten.
            let took = |name: &str, from: Instant| tracing::info!("finish: {name} took {:.3} s", from.elapsed().as_secs_f64());
            let tables = tables(&agg);
            lock.check()?;
            // household_day.parquet (CPU: decode, merge, encode) and the other results
            // (small files, mostly waiting for the store) do not depend on each other, so
            // they are written side by side; `_SUCCESS` waits for both.
            let step = Instant::now();
            let summary = std::thread::scope(|s| {
                let results = s.spawn(|| {
                    let summary = write_results(&out, &chunks, &lines, &agg, &tables, facts);
                    took("rejects and results", step);
                    summary
                });
                // The merge stays on this thread: in a new one its buffers came from a
                // new malloc arena, and the 11 GB run's peak went from 163-166 MB to
                // 200-208 MB.
                let merged = write_household_days(&out, days, &settings);
                took("household_day.parquet", step);
                if merged.is_ok() {
                    wattswarm_core::failpoint("after-household-day");
                }
                let summary = results.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                merged?;
                Ok::<_, JobError>(summary?)
            })?;
            wattswarm_core::failpoint("after-results");
            if let Some(m) = &mongo {
                lock.check()?;
                let step = Instant::now();
                m.export(&out, &tables, &summary)?;
                took("MongoDB export", step);
                wattswarm_core::failpoint("after-mongo");
            }
            lock.check()?;
            let step = Instant::now();
            seal(&out, &manifest)?;
            took("_SUCCESS", step);
            metrics.publish_results(&tables);
            Ok::<_, JobError>(JobOutcome {
                summary,
                headline: headline(&agg)?,
            })
        });
        ctx.spawn(fut.into_actor(self).map(|res, act, _| {
            let res = res.unwrap_or_else(|e| {
                Err(JobError::Core(wattswarm_core::Error::Corrupt {
                    path: act.output.location().shown(),
                    reason: format!("writing the results panicked: {e}"),
                }))
            });
            if let Err(e) = &res {
                tracing::error!("job failed: {e}");
            }
            act.end(res);
        }));
    }

    /// The job was done before this master started: its outcome is what `results/` says.
    pub(super) fn report_finished_before(&mut self) {
        let res = finished_outcome(&self.output).map(|(summary, headline)| JobOutcome { summary, headline }).map_err(JobError::from);
        if res.is_ok() {
            eprintln!("wattswarm master: {} holds this job, finished: nothing to compute", self.output.location());
        }
        self.end(res);
    }
}
