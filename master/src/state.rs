//! The job's state kept with its output, so a master that dies costs time, not data.
//!
//! `_state/job.json` (the manifest) records what the job is: its input files with their
//! sizes and layouts, the chunk size and the settings. Each accepted chunk report is kept
//! as `_state/chunk-NNNNN.json`. A master started on an output whose manifest matches its
//! job resumes: the reported chunks are merged from disk and not processed again. Any
//! other output (a finished job, another input) is cleared and the job starts afresh.
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wattswarm_core::chunk::{plan, ChunkSpec};
use wattswarm_core::input::{Input, InputFile};
use wattswarm_core::process::{ChunkReport, Settings};
use wattswarm_core::storage::{report_name, Output, MANIFEST, PARQUET_DIR, RESULTS_DIR, STATE_DIR, SUCCESS};

use crate::JobError;

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
}

/// Removes what an earlier job left in the output (only wattswarm's own entries).
pub fn clear_output(out: &Output) -> Result<(), JobError> {
    for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
        out.remove_dir(d)?;
    }
    out.remove(SUCCESS)?;
    out.prepare()?;
    Ok(())
}

/// Resumes the job in `out` if it is this one and unfinished; else starts it afresh.
pub fn prepare(out: &Output, input: &Input, chunk_size: u64, settings: &Settings) -> Result<Prepared, JobError> {
    let chunks = plan(&input.files, chunk_size);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let fresh = Manifest {
        job_id: format!("{:x}-{:x}", nanos, std::process::id()),
        files: input.files.clone(),
        chunk_size,
        settings: settings.clone(),
    };
    let previous: Option<Manifest> = out.read(MANIFEST)?.and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(m) = previous.filter(|m| m.same_job(&fresh)) {
        if out.exists(SUCCESS)? {
            return fresh_start(out, fresh, chunks);
        }
        let mut done = Vec::new();
        for c in &chunks {
            let Some(bytes) = out.read(&report_name(c.id))? else { continue };
            match serde_json::from_slice::<ChunkReport>(&bytes) {
                Ok(r) if r.chunk == c.id => done.push(r),
                _ => tracing::warn!(chunk = c.id, "unreadable chunk report; the chunk will be processed again"),
            }
        }
        out.prepare()?;
        return Ok(Prepared { manifest: m, chunks, done });
    }
    fresh_start(out, fresh, chunks)
}

fn fresh_start(out: &Output, fresh: Manifest, chunks: Vec<ChunkSpec>) -> Result<Prepared, JobError> {
    clear_output(out)?;
    out.write_atomic(MANIFEST, &serde_json::to_vec_pretty(&fresh).expect("the manifest serialises"))?;
    Ok(Prepared {
        manifest: fresh,
        chunks,
        done: Vec::new(),
    })
}
