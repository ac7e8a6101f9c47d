//! The job's state kept with its output, so a master that dies costs time, not data.
//!
//! `_state/job.json` (the manifest) records what the job is: its input files with their
//! sizes and layouts, the chunk size and the settings. Each accepted chunk report is kept
//! as `_state/chunk-NNNNN.json`. A master started on an output whose manifest matches its
//! job resumes: the reported chunks are merged from disk and not processed again. A
//! finished job leaves its manifest in `_SUCCESS`: the same job started again finds it
//! done and recomputes nothing. Any other job clears the output first, removing only
//! wattswarm's own files; a folder that is not a wattswarm output is refused before
//! anything is written (see [`Output::check_is_output`]).
//!
//! Every step of the end of a job can be killed and started again: the results are
//! written from the partials, which stay until `_SUCCESS` (with the manifest) is in place;
//! only then is `_state/` emptied, and a master that finds `_SUCCESS` only finishes that.
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wattswarm_core::chunk::{plan, ChunkSpec};
use wattswarm_core::input::{Input, InputFile};
use wattswarm_core::process::{ChunkReport, Settings};
use wattswarm_core::storage::{household_day_partial_name, is_temp, report_name, Output, MANIFEST, PARQUET_DIR, RESULTS_DIR, STATE_DIR, SUCCESS};

use crate::results::is_result_file;
use crate::JobError;

/// A report saved, or why it could not be.
pub type Saved = Result<Box<ChunkReport>, wattswarm_core::Error>;

/// Keeps accepted chunk reports with the output (`_state/chunk-NNNNN.json`), one at a
/// time, on a thread of its own: off the master actor's thread, since on HDFS a worker
/// waited 12 to 40 ms between chunks for the save; and not on tokio's blocking pool,
/// where the 1 GB file's peak went from 90 MB to 155-185 MB (more threads holding malloc
/// arenas: `MALLOC_ARENA_MAX=1` gave it back; with this thread it is 122-126 MB). Each
/// save checks the lock first. The thread ends with the saver.
pub struct ReportSaver {
    jobs: std::sync::mpsc::Sender<(Box<ChunkReport>, tokio::sync::oneshot::Sender<Saved>)>,
}

impl ReportSaver {
    pub fn start(out: Output, lock: std::sync::Arc<wattswarm_core::lock::OutputLock>) -> ReportSaver {
        let (jobs, rx) = std::sync::mpsc::channel::<(Box<ChunkReport>, tokio::sync::oneshot::Sender<Saved>)>();
        std::thread::Builder::new()
            .name("wattswarm-saver".into())
            .spawn(move || {
                for (report, done) in rx {
                    // The worker has its answer; a kill here costs the chunk a rerun.
                    wattswarm_core::failpoint("before-report-saved");
                    let json = serde_json::to_vec(&report).expect("reports serialise");
                    let saved = lock.check().and_then(|_| out.write_atomic(&report_name(report.chunk), &json));
                    if saved.is_ok() {
                        wattswarm_core::failpoint("after-report-saved");
                    }
                    let _ = done.send(saved.map(|()| report));
                }
            })
            .expect("a thread starts");
        ReportSaver { jobs }
    }

    /// Queues `report`; the answer comes once it is saved (or not).
    pub fn save(&self, report: Box<ChunkReport>) -> tokio::sync::oneshot::Receiver<Saved> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The thread lives as long as `self`: a send fails only if it panicked, and the
        // receiver then reports a dropped answer.
        let _ = self.jobs.send((report, tx));
        rx
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub job_id: String,
    pub files: Vec<InputFile>,
    pub chunk_size: u64,
    pub settings: Settings,
}

impl Manifest {
    fn same_job(&self, other: &Manifest) -> bool {
        self.files == other.files && self.chunk_size == other.chunk_size && self.settings == other.settings
    }
}

/// A job ready to start: its chunks, and the reports of chunks already done.
pub struct Prepared {
    pub manifest: Manifest,
    pub chunks: Vec<ChunkSpec>,
    pub done: Vec<ChunkReport>,
    /// The output already holds this job, finished: nothing is to be computed.
    pub finished: bool,
}

/// Whether `name` in `dir` is a file wattswarm writes (and may remove).
pub fn own_file(dir: &str, name: &str) -> bool {
    let numbered = |prefix: &str, ext: &str| name.strip_prefix(prefix).and_then(|r| r.strip_suffix(ext)).is_some();
    is_temp(name)
        || match dir {
            PARQUET_DIR => numbered("part-", ".parquet"),
            RESULTS_DIR => is_result_file(name),
            STATE_DIR => name == "job.json" || numbered("chunk-", ".json") || numbered("household_day-", ".parquet") || numbered("rejects-", ".csv"),
            _ => false,
        }
}

/// Removes what an earlier job left in the output: only wattswarm's own files.
pub fn clear_output(out: &Output) -> Result<(), JobError> {
    out.remove(SUCCESS)?;
    out.remove_where(own_file)?;
    out.prepare()?;
    Ok(())
}

/// Marks the job done (`_SUCCESS`, holding its manifest), then drops its intermediate
/// state. Killed in between, the next master finds `_SUCCESS` and only cleans up.
pub fn seal(out: &Output, manifest: &Manifest) -> Result<(), JobError> {
    out.write_atomic(SUCCESS, &serde_json::to_vec_pretty(manifest).expect("the manifest serialises"))?;
    wattswarm_core::failpoint("after-success");
    clean_up(out)
}

/// Removes a finished job's state and every writer's leftover.
fn clean_up(out: &Output) -> Result<(), JobError> {
    let ours = |d: &str, n: &str| is_temp(n) || (d == STATE_DIR && own_file(d, n));
    // `_state/` holding only wattswarm's files (the usual case) goes in one call rather
    // than one per file: on a remote store each is a round trip.
    if out.list(STATE_DIR)?.iter().all(|n| ours(STATE_DIR, n)) {
        out.remove_dir(STATE_DIR)?;
    }
    out.remove_where(ours)?;
    Ok(())
}

/// Resumes the job in `out` if it is this one and unfinished; else starts it afresh.
/// The caller holds the output's lock.
pub fn prepare(out: &Output, input: &Input, chunk_size: u64, settings: &Settings) -> Result<Prepared, JobError> {
    let chunks = plan(&input.files, chunk_size);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let fresh = Manifest {
        job_id: format!("{:x}-{:x}", nanos, std::process::id()),
        files: input.files.clone(),
        chunk_size,
        settings: settings.clone(),
    };
    let read = |rel: &str| -> Result<Option<Manifest>, JobError> { Ok(out.read(rel)?.and_then(|b| serde_json::from_slice(&b).ok())) };
    if let Some(m) = read(SUCCESS)?.filter(|m| m.same_job(&fresh)) {
        clean_up(out)?;
        return Ok(Prepared {
            manifest: m,
            chunks,
            done: Vec::new(),
            finished: true,
        });
    }
    if let Some(m) = read(MANIFEST)?.filter(|m| m.same_job(&fresh)) {
        out.remove(SUCCESS)?; // another job's, if any
        let mut done = Vec::new();
        for c in &chunks {
            let Some(bytes) = out.read(&report_name(c.id))? else { continue };
            let report = serde_json::from_slice::<ChunkReport>(&bytes).map_err(|e| e.to_string());
            let checked = report.and_then(|r| crate::validate::check(&r, c).map(|_| r).map_err(|e| e.to_string()));
            match checked {
                Ok(r) if out.exists(&household_day_partial_name(c.id))? => done.push(r),
                Ok(_) => tracing::warn!(chunk = c.id, "a chunk report without its household-day partial; the chunk will be processed again"),
                Err(e) => tracing::warn!(chunk = c.id, "unusable chunk report ({e}); the chunk will be processed again"),
            }
        }
        out.prepare()?;
        return Ok(Prepared {
            manifest: m,
            chunks,
            done,
            finished: false,
        });
    }
    clear_output(out)?;
    out.write_atomic(MANIFEST, &serde_json::to_vec_pretty(&fresh).expect("the manifest serialises"))?;
    Ok(Prepared {
        manifest: fresh,
        chunks,
        done: Vec::new(),
        finished: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wattswarms_own_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        out.prepare().unwrap();
        let ours = ["parquet/part-00007.parquet", "parquet/.part-00001.parquet.w.a1.tmp", "results/summary.json", "results/household_day.parquet", "results/by_tariff_month.json", "_state/chunk-00003.json", "_state/household_day-ahead-g00000001-00000.parquet", "_state/job.json"];
        let theirs = ["results/thesis.txt", "parquet/my-own-data.parquet", "_state/notes.md", "mine.csv"];
        for f in ours.iter().chain(&theirs) {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::write(dir.path().join(SUCCESS), b"").unwrap();
        clear_output(&out).unwrap();
        for f in ours {
            assert!(!dir.path().join(f).exists(), "{f} removed");
        }
        for f in theirs {
            assert!(dir.path().join(f).exists(), "{f} kept");
        }
    }
}
