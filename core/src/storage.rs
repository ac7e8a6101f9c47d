//! The output directory and its commit rule.
//!
//! Every file is written under a hidden temporary name that includes the attempt, then
//! renamed into place. Readers (and `*.parquet` globs) never see half a file, and when two
//! attempts of the same chunk race, the first rename wins and the later one is discarded:
//! both would hold the same bytes, since a chunk's output depends only on its input.
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const PARQUET_DIR: &str = "parquet";
pub const RESULTS_DIR: &str = "results";
pub const STATE_DIR: &str = "_state";
pub const SUCCESS: &str = "_SUCCESS";

/// The job's output directory.
#[derive(Debug, Clone)]
pub struct Output {
    root: PathBuf,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// This attempt's file is now in place.
    Committed,
    /// Another attempt committed first; this one was discarded.
    AlreadyThere,
}

impl Output {
    pub fn new(root: impl Into<PathBuf>) -> Output {
        Output { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates the directories a job writes into.
    pub fn prepare(&self) -> Result<()> {
        for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
            let p = self.root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io("create the output directory", &p, e))?;
        }
        Ok(())
    }

    /// The temporary name of `rel` for one writer: hidden, in the same directory. `tag`
    /// names the writer and attempt (`worker-3.a2`), so no two writers share a name.
    pub fn temp_path(&self, rel: &str, tag: &str) -> PathBuf {
        let p = self.root.join(rel);
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        p.with_file_name(format!(".{name}.{tag}.tmp"))
    }

    /// Removes temporary files that writers which died left behind (`.*.tmp`).
    pub fn remove_temps(&self) -> Result<usize> {
        let mut n = 0;
        for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
            let dir = self.root.join(d);
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    fs::remove_file(e.path()).map_err(|err| Error::io("remove", e.path(), err))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Moves a finished temporary file into place, unless another attempt already did.
    pub fn commit(&self, temp: &Path, rel: &str) -> Result<Commit> {
        let dest = self.root.join(rel);
        if dest.exists() {
            let _ = fs::remove_file(temp);
            return Ok(Commit::AlreadyThere);
        }
        fs::rename(temp, &dest).map_err(|e| Error::io("commit", &dest, e))?;
        Ok(Commit::Committed)
    }

    /// Writes a small file atomically (temp, sync, rename), replacing any earlier one.
    pub fn write_atomic(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let temp = self.temp_path(rel, "w");
        let dest = self.root.join(rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        {
            use std::io::Write;
            let mut f = fs::File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
            f.write_all(bytes).map_err(|e| Error::io("write", &temp, e))?;
            f.sync_all().map_err(|e| Error::io("sync", &temp, e))?;
        }
        fs::rename(&temp, &dest).map_err(|e| Error::io("commit", &dest, e))
    }

    pub fn remove(&self, rel: &str) -> Result<()> {
        let p = self.root.join(rel);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        }
    }

    pub fn remove_dir(&self, rel: &str) -> Result<()> {
        let p = self.root.join(rel);
        match fs::remove_dir_all(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &p, e)),
        }
    }
}

/// Names of a chunk's files, relative to the output root.
pub fn part_name(chunk: u32) -> String {
    format!("{PARQUET_DIR}/part-{chunk:05}.parquet")
}

pub fn household_day_partial_name(chunk: u32) -> String {
    format!("{STATE_DIR}/household_day-{chunk:05}.parquet")
}

pub fn rejects_partial_name(chunk: u32) -> String {
    format!("{STATE_DIR}/rejects-{chunk:05}.csv")
}

/// The job's manifest: what a restarted master checks before it resumes.
pub const MANIFEST: &str = "_state/job.json";

pub fn report_name(chunk: u32) -> String {
    format!("{STATE_DIR}/chunk-{chunk:05}.json")
}
