//! A chunk's report: taken only from the attempt that holds the lease, checked
//! ([`crate::validate`]) before it is saved or merged, kept with the output on the
//! [`ReportSaver`](crate::state::ReportSaver)'s thread, and only then counted as done.
use actix::prelude::*;
use wattswarm_core::process::ChunkReport;
use wattswarm_core::protocol::{BadReport, ChunkOutcome, Report, ReportRefused};
use wattswarm_core::storage::household_day_partial_name;

use super::{MasterActor, Phase};
use crate::coordinator::Accept;
use crate::JobError;

impl MasterActor {
    /// Whether `worker`'s report of `attempt` of `chunk` comes from the lease holder:
    /// `Ok(false)` for an attempt that lost its lease (late, ignored), an error for a
    /// report of an attempt another worker holds.
    fn held_by(&self, worker: &str, chunk: u32, attempt: u32) -> Result<bool, ReportRefused> {
        match self.coord.holder(chunk) {
            Some((w, a)) if a == attempt && w != worker => Err(ReportRefused::NotTheHolder {
                worker: worker.into(),
                chunk,
                attempt,
                holder: w.into(),
            }),
            Some((_, a)) => Ok(a == attempt),
            None => Ok(false),
        }
    }

    /// Checks a held attempt's `Done` report: consistent with its byte range, and with its
    /// files committed.
    fn check_done(&self, report: &ChunkReport) -> Result<(), BadReport> {
        let chunk = report.chunk;
        let spec = self.coord.spec(chunk).expect("a held chunk exists");
        crate::validate::check(report, spec)?;
        let missing = |what: &str| BadReport { chunk, reason: format!("its {what} is not in the output") };
        let committed = |rel: &str| self.output.exists(rel).unwrap_or(false);
        if !committed(&household_day_partial_name(chunk)) {
            return Err(missing("household-day partial"));
        }
        if report.aggregate.totals.rejected > 0 && !committed(&wattswarm_core::storage::rejects_partial_name(chunk)) {
            return Err(missing("rejects partial"));
        }
        Ok(())
    }

    /// Takes a held attempt's checked report. The chunk leaves its worker at once (the
    /// worker may lease its next chunk) and counts as done once the report is kept with
    /// the output, so a master restarted at any moment resumes every chunk it ever called
    /// done. The save runs on the [`ReportSaver`]'s thread: on HDFS a worker waited 12 to
    /// 40 ms for it before its next lease.
    fn accept_done(&mut self, worker: &str, report: Box<ChunkReport>, ctx: &mut Context<Self>) {
        let accepted = self.coord.saving(report.chunk, report.attempt);
        debug_assert_eq!(accepted, Accept::Accepted);
        let w = self.seen(worker);
        w.chunks_done += 1;
        w.bytes_done += report.aggregate.totals.input_bytes;
        self.contributors.insert(worker.to_owned());
        let saved = self.saver.save(report);
        ctx.spawn(saved.into_actor(self).map(|res, act, ctx| {
            if act.phase != Phase::Running {
                return; // the job ended meanwhile (another save failed, the lock was lost)
            }
            match res {
                Ok(Ok(report)) => act.report_saved(report, ctx),
                Ok(Err(e)) => act.fail_job(e.into()),
                Err(_) => act.fail_job(JobError::Core(wattswarm_core::Error::Corrupt {
                    path: act.output.location().shown(),
                    reason: "the thread saving chunk reports panicked".into(),
                })),
            }
        }));
    }

    /// A chunk's report is kept: the chunk is done and its results join the job's.
    fn report_saved(&mut self, report: Box<ChunkReport>, ctx: &mut Context<Self>) {
        let accepted = self.coord.complete(report.chunk, report.attempt);
        debug_assert_eq!(accepted, Accept::Accepted);
        self.metrics.record(&report);
        if let Err(e) = self.agg.merge(&report.aggregate) {
            self.fail_job(e.into());
            return;
        }
        self.lines[report.chunk as usize] = report.aggregate.totals.lines;
        self.parquet_bytes += report.parquet_bytes;
        self.days.add(household_day_partial_name(report.chunk));
        if self.coord.is_finished() && self.phase == Phase::Running {
            self.finish(ctx);
        } else {
            self.merge_ahead(ctx);
        }
    }

    /// A failed attempt of the lease holder: the chunk goes back, or fails the job.
    fn attempt_failed(&mut self, chunk: u32, attempt: u32, error: String) {
        self.metrics.chunk_failures.inc();
        match self.coord.fail(chunk, attempt, error) {
            Ok(Accept::Accepted) => self.metrics.chunks_retried.inc(),
            Ok(Accept::Stale) => {}
            Err(ex) => self.fail_job(JobError::ChunkFailed {
                chunk,
                path: ex.spec.path.to_string(),
                start: ex.spec.start,
                end: ex.spec.end,
                attempts: ex.attempts,
                error: ex.error,
            }),
        }
    }
}

impl Handler<Report> for MasterActor {
    type Result = Result<(), ReportRefused>;

    fn handle(&mut self, msg: Report, ctx: &mut Context<Self>) -> Self::Result {
        let worker = msg.from.worker;
        // A worker reports a chunk it committed while it parses the next: that one's
        // progress stays.
        let busy = self.coord.holds_other(&worker, msg.outcome.chunk());
        let w = self.seen(&worker);
        if !busy {
            w.bytes = 0;
            w.chunk_started = None;
        }
        let taken = self.take_report(&worker, msg.outcome, ctx);
        if let Err(e) = &taken {
            tracing::warn!(worker = %worker, "report refused: {e}");
            self.metrics.reports_refused.inc();
        }
        taken
    }
}

impl MasterActor {
    fn take_report(&mut self, worker: &str, outcome: ChunkOutcome, ctx: &mut Context<Self>) -> Result<(), ReportRefused> {
        match outcome {
            ChunkOutcome::Done(report) => {
                if !self.held_by(worker, report.chunk, report.attempt)? {
                    tracing::info!(chunk = report.chunk, attempt = report.attempt, "late report of an old attempt ignored");
                    self.metrics.stale_reports.inc();
                } else if let Err(b) = self.check_done(&report) {
                    self.attempt_failed(report.chunk, report.attempt, format!("its report was refused: {b}"));
                    return Err(b.into());
                } else {
                    self.accept_done(worker, report, ctx);
                }
            }
            ChunkOutcome::Failed { chunk, attempt, error } => {
                // The failure of an attempt nobody holds (late, or made up) changes
                // nothing: it is neither logged as a failure nor counted as one.
                if !self.held_by(worker, chunk, attempt)? {
                    tracing::info!(chunk, attempt, worker, "late failure of an old attempt ignored");
                    self.metrics.stale_reports.inc();
                    return Ok(());
                }
                tracing::warn!(chunk, attempt, worker, "chunk failed: {error}");
                self.attempt_failed(chunk, attempt, error);
            }
        }
        Ok(())
    }
}
