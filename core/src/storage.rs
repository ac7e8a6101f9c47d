//! The output (a local folder, an `hdfs://` one or an object store's `s3://` prefix) and
//! its commit rule.
//!
//! Every file is written under a hidden temporary name that includes the writer and the
//! attempt, then published under its real name ([`Store::publish`]). Readers (Spark,
//! pyarrow and `*.parquet` globs skip names that start with `.`) never see half a file,
//! and when two attempts of the same chunk race, the first to publish wins and the later
//! one is discarded: both would hold the same bytes, since a chunk's output depends only
//! on its input. Each store keeps that rule its own way (a hard link, HDFS's rename, an
//! object store's conditional copy); one check in `tests/common` (`the_commit_rule_holds`)
//! holds each to it, from tests/hdfs.rs and tests/s3.rs.
use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::store::{join_path, Closing, HdfsOptions, Location, Sink, Store, WindowedReader};

pub const PARQUET_DIR: &str = "parquet";
pub const RESULTS_DIR: &str = "results";
pub const STATE_DIR: &str = "_state";
pub const SUCCESS: &str = "_SUCCESS";

/// The output's lock files (`crate::lock`) at its root: `_lock-<generation>.json`.
pub fn lock_file_name(generation: u64) -> String {
    format!("_lock-{generation:08}.json")
}

/// The generation of a lock file's name, or `None` if it is not one.
pub fn lock_file_generation(name: &str) -> Option<u64> {
    name.strip_prefix("_lock-")?.strip_suffix(".json")?.parse().ok()
}

/// The job's output directory.
#[derive(Debug, Clone)]
pub struct Output {
    location: Location,
    store: Arc<dyn Store>,
    /// The output's path inside its store.
    root: String,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// This attempt's file is now in place.
    Committed,
    /// Another attempt committed first; this one was discarded.
    AlreadyThere,
}

/// A file being written under its temporary name.
pub struct FileWriter {
    sink: Box<dyn Sink>,
    /// The temporary name relative to the output root.
    temp: String,
    shown: String,
}

/// A closed temporary file, ready to commit. Its close may still be under way
/// ([`Closing`]): committing waits for it, so the files of one chunk close at the same
/// time and the wait for the server is paid once, not once per file.
#[derive(Debug)]
pub struct Written {
    temp: String,
    pub bytes: u64,
    closing: Closing,
}

impl FileWriter {
    /// Where the file goes, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Makes the file durable and closes it (on a remote store: starts to; see [`Written`]).
    pub fn close(self) -> Result<Written> {
        let (bytes, closing) = self.sink.start_close()?;
        Ok(Written {
            temp: self.temp,
            bytes,
            closing,
        })
    }
}

impl Write for FileWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.sink.write(data)
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.sink.write_all(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

/// A committed Parquet file opened for reading, through windows (see [`WindowedReader`]).
pub type ParquetSource = WindowedReader;

/// Reads a file sequentially from a position, through its windows.
pub struct RangeReader {
    file: WindowedReader,
    pos: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.file.len().saturating_sub(self.pos)).min(1 << 20) as usize;
        if n == 0 {
            return Ok(0);
        }
        let bytes = self.file.bytes(self.pos, n).map_err(std::io::Error::other)?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
        Ok(n)
    }
}

impl parquet::file::reader::Length for WindowedReader {
    fn len(&self) -> u64 {
        WindowedReader::len(self)
    }
}

impl parquet::file::reader::ChunkReader for WindowedReader {
    type T = RangeReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RangeReader> {
        Ok(RangeReader {
            file: self.clone(),
            pos: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.bytes(start, length).map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// The hidden name of `rel` for one writer, in the same directory. `tag` names the writer
/// and attempt (`worker-3.a2`), so no two writers share a name.
fn temp_name(rel: &str, tag: &str) -> String {
    let (dir, name) = match rel.rfind('/') {
        Some(i) => (&rel[..=i], &rel[i + 1..]),
        None => ("", rel),
    };
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    format!("{dir}.{name}.{tag}.tmp")
}

/// A writer's leftover: ours (`.name.tag.tmp`) or the HDFS client's (`.name.tmp.N`).
pub fn is_temp(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".tmp."))
}

impl Output {
    /// A local folder.
    pub fn local(root: impl Into<std::path::PathBuf>) -> Output {
        Output::open(&Location::local(root), &HdfsOptions::default()).expect("a local folder needs no connection")
    }

    /// The output at `location` (connecting to its store, with retries).
    pub fn open(location: &Location, options: &HdfsOptions) -> Result<Output> {
        let (store, root) = location.store(options)?;
        Ok(Output {
            location: location.clone(),
            store,
            root,
        })
    }

    /// Where the output is, as the user gave it.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Where `rel` is, for messages.
    pub fn shown(&self, rel: &str) -> String {
        self.location.join(rel).to_string()
    }

    fn path(&self, rel: &str) -> String {
        join_path(&self.root, rel)
    }

    /// Creates the directories a job writes into.
    pub fn prepare(&self) -> Result<()> {
        for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
            self.store.mkdirs(&self.path(d))?;
        }
        Ok(())
    }

    /// Opens `rel`'s temporary name for one writer (`tag`: writer and attempt).
    pub fn create(&self, rel: &str, tag: &str) -> Result<FileWriter> {
        let temp = temp_name(rel, tag);
        let shown = self.shown(&temp);
        let sink = self.store.create(&self.path(&temp))?;
        Ok(FileWriter { sink, temp, shown })
    }

    /// Moves a closed temporary file into place, unless another attempt already did.
    pub fn commit(&self, written: Written, rel: &str) -> Result<Commit> {
        written.closing.wait()?;
        let temp = self.path(&written.temp);
        if self.store.publish(&temp, &self.path(rel), false)? {
            Ok(Commit::Committed)
        } else {
            self.store.delete(&temp, false)?;
            Ok(Commit::AlreadyThere)
        }
    }

    /// Moves a closed temporary file into place, replacing what is there.
    pub fn replace(&self, written: Written, rel: &str) -> Result<()> {
        written.closing.wait()?;
        self.store.publish(&self.path(&written.temp), &self.path(rel), true)?;
        Ok(())
    }

    /// Removes the temporary file of `rel`'s writer `tag`, which gave up (best effort).
    pub fn discard(&self, rel: &str, tag: &str) {
        let _ = self.remove(&temp_name(rel, tag));
    }

    /// Writes a small file atomically (temporary name, sync, rename), replacing any earlier one.
    pub fn write_atomic(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.write_atomic_all(&[(rel, bytes)])
    }

    /// [`Self::write_atomic`] for several files, each closed before the first is renamed:
    /// on a remote store their waits for the server then overlap.
    pub fn write_atomic_all(&self, files: &[(&str, &[u8])]) -> Result<()> {
        let mut written = Vec::with_capacity(files.len());
        for &(rel, bytes) in files {
            let mut w = self.create(rel, "w")?;
            let shown = w.shown().to_owned();
            w.write_all(bytes).map_err(|e| Error::io("write", &shown, e))?;
            written.push((w.close()?, rel));
        }
        for (w, rel) in written {
            self.replace(w, rel)?;
        }
        Ok(())
    }

    /// The bytes of `rel`, or `None` if it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        self.store.read_all(&self.path(rel))
    }

    /// Whether the file `rel` is committed (a folder does not count).
    pub fn exists(&self, rel: &str) -> Result<bool> {
        self.store.file_exists(&self.path(rel))
    }

    /// Opens a committed Parquet file for reading.
    pub fn open_parquet(&self, rel: &str) -> Result<ParquetSource> {
        Ok(WindowedReader::new(self.store.open(&self.path(rel))?))
    }

    /// Opens several committed Parquet files side by side, each with its footer's window
    /// already fetched. On a remote store an open is a round trip or two (on HDFS the
    /// NameNode's block locations, then a DataNode's bytes): the household-day merge of a
    /// 1 GB job opened its 8 partials one after another in 33-45 ms on HDFS. Only the
    /// fetching runs on the extra threads; the caller decodes.
    pub fn open_parquet_all(&self, rels: &[String]) -> Result<Vec<ParquetSource>> {
        std::thread::scope(|s| {
            let opening: Vec<_> = rels
                .iter()
                .map(|rel| {
                    s.spawn(move || {
                        let file = self.open_parquet(rel)?;
                        file.fetch_footer()?;
                        Ok(file)
                    })
                })
                .collect();
            opening.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }

    /// The names in folder `rel`, sorted; empty if it does not exist.
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.store.list(&self.path(rel))?.into_iter().map(|m| m.name).collect();
        names.sort();
        Ok(names)
    }

    /// Removes temporary files that writers which died left behind.
    pub fn remove_temps(&self) -> Result<usize> {
        self.remove_where(|_, name| is_temp(name))
    }

    /// Removes every file of `parquet/`, `results/` and `_state/` for which `own(folder,
    /// name)` holds; returns how many. Anything else (a user's own file) stays.
    pub fn remove_where(&self, own: impl Fn(&str, &str) -> bool) -> Result<usize> {
        let mut n = 0;
        for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
            for name in self.list(d)? {
                if own(d, &name) {
                    self.remove(&format!("{d}/{name}"))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Whether this folder may be a job's output: missing or empty, or holding what
    /// wattswarm leaves (`_SUCCESS`, `_state/`, a lock). Anything else is someone's
    /// folder, which a job must not write into.
    pub fn check_is_output(&self) -> Result<()> {
        let names = self.list("")?;
        let ours = names.is_empty()
            || names
                .iter()
                .any(|n| n == SUCCESS || n == STATE_DIR || lock_file_generation(n).is_some());
        if ours {
            Ok(())
        } else {
            Err(Error::NotAnOutput { output: self.location.to_string() })
        }
    }

    /// Removes a file; a missing one is not an error.
    pub fn remove(&self, rel: &str) -> Result<()> {
        self.store.delete(&self.path(rel), false)
    }

    /// Removes a folder and everything in it; a missing one is not an error.
    pub fn remove_dir(&self, rel: &str) -> Result<()> {
        self.store.delete(&self.path(rel), true)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_hidden_and_first_commit_wins() {
        assert_eq!(temp_name("parquet/part-00001.parquet", "w 1.a0"), "parquet/.part-00001.parquet.w_1.a0.tmp");
        assert!(is_temp(".part-00001.parquet.w1.a0.tmp") && is_temp(".part-00001.parquet.tmp.3"));
        assert!(!is_temp("part-00001.parquet"));

        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        out.prepare().unwrap();
        let rel = part_name(1);
        let mut a = out.create(&rel, "a.a0").unwrap();
        let mut b = out.create(&rel, "b.a1").unwrap();
        a.write_all(b"first").unwrap();
        b.write_all(b"second").unwrap();
        assert_eq!(out.list(PARQUET_DIR).unwrap().len(), 2, "two hidden temporaries");
        assert_eq!(out.commit(a.close().unwrap(), &rel).unwrap(), Commit::Committed);
        assert_eq!(out.commit(b.close().unwrap(), &rel).unwrap(), Commit::AlreadyThere);
        assert_eq!(out.read(&rel).unwrap().unwrap(), b"first");
        assert_eq!(out.list(PARQUET_DIR).unwrap(), ["part-00001.parquet"]);

        let c = out.create(&rel, "c.a2").unwrap();
        drop(c); // a writer that died
        assert_eq!(out.remove_temps().unwrap(), 1);
        out.write_atomic("results/x.json", b"1").unwrap();
        out.write_atomic("results/x.json", b"2").unwrap();
        assert_eq!(out.read("results/x.json").unwrap().unwrap(), b"2");
        assert!(out.read("results/none").unwrap().is_none());
    }

    #[test]
    fn files_opened_side_by_side_come_back_in_order_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        out.prepare().unwrap();
        let rels: Vec<String> = (0..5).map(|i| format!("{STATE_DIR}/f{i}")).collect();
        for (i, rel) in rels.iter().enumerate() {
            out.write_atomic(rel, &vec![i as u8; 10 + i * 1000]).unwrap();
        }
        let files = out.open_parquet_all(&rels).unwrap();
        for (i, f) in files.iter().enumerate() {
            assert_eq!(f.len(), 10 + i as u64 * 1000, "file {i}");
            assert_eq!(f.bytes(0, 10).unwrap(), vec![i as u8; 10], "file {i}");
        }
        assert_eq!(files.iter().map(|f| f.requests()).collect::<Vec<_>>(), [1; 5], "the footer's window, fetched, served the reads");
        let mut missing = rels.clone();
        missing.insert(2, format!("{STATE_DIR}/gone"));
        let e = out.open_parquet_all(&missing).err().expect("a missing file").to_string();
        assert!(e.contains("gone"), "{e}");
    }
}
