//! The output (a local folder or an `hdfs://` one) and its commit rule.
//!
//! Every file is written under a hidden temporary name that includes the writer and the
//! attempt, then renamed into place. Readers (Spark, pyarrow and `*.parquet` globs skip
//! names that start with `.`) never see half a file, and when two attempts of the same
//! chunk race, the first rename wins and the later one is discarded: both would hold the
//! same bytes, since a chunk's output depends only on its input. HDFS gives the same
//! rule: its rename refuses an existing target unless told to overwrite.
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::hdfs::{self, Hdfs, HdfsOptions, HdfsWriter, WindowedReader};

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

#[derive(Debug, Clone)]
enum Root {
    Local(PathBuf),
    Hdfs { fs: Arc<Hdfs>, dir: String },
}

/// The job's output directory.
#[derive(Debug, Clone)]
pub struct Output {
    root: Root,
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
    inner: WriterKind,
    /// The temporary name relative to the output root.
    temp: String,
    shown: String,
}

enum WriterKind {
    Local(BufWriter<fs::File>),
    Hdfs(Box<HdfsWriter>),
}

/// A closed temporary file, ready to commit. On HDFS its close may still be under way
/// ([`hdfs::Closing`]): committing waits for it, so the files of one chunk close at the
/// same time and the wait for the NameNode is paid once, not once per file.
#[derive(Debug)]
pub struct Written {
    temp: String,
    pub bytes: u64,
    closing: Option<hdfs::Closing>,
}

impl Written {
    /// Waits for the close to finish: the file is then whole and durable.
    fn closed(mut self) -> Result<Written> {
        if let Some(c) = self.closing.take() {
            c.wait()?;
        }
        Ok(self)
    }
}

impl FileWriter {
    /// Where the file goes, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Makes the file durable and closes it (on HDFS: starts to; see [`Written`]).
    pub fn close(self) -> Result<Written> {
        let (bytes, closing) = match self.inner {
            WriterKind::Local(w) => {
                let f = w.into_inner().map_err(|e| Error::io("write", &self.shown, e.into_error()))?;
                f.sync_all().map_err(|e| Error::io("sync", &self.shown, e))?;
                (f.metadata().map_err(|e| Error::io("stat", &self.shown, e))?.len(), None)
            }
            WriterKind::Hdfs(w) => {
                let (bytes, closing) = w.start_close()?;
                (bytes, Some(closing))
            }
        };
        Ok(Written {
            temp: self.temp,
            bytes,
            closing,
        })
    }
}

impl Write for FileWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match &mut self.inner {
            WriterKind::Local(w) => w.write(data),
            WriterKind::Hdfs(w) => w.write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.inner {
            WriterKind::Local(w) => w.write_all(data),
            WriterKind::Hdfs(w) => w.write_all(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.inner {
            WriterKind::Local(w) => w.flush(),
            WriterKind::Hdfs(w) => w.flush(),
        }
    }
}

/// A committed Parquet file opened for reading (local, or HDFS through windows).
pub enum ParquetSource {
    Local(fs::File),
    Hdfs(WindowedReader),
}

impl parquet::file::reader::Length for ParquetSource {
    fn len(&self) -> u64 {
        match self {
            ParquetSource::Local(f) => f.len(),
            ParquetSource::Hdfs(r) => r.len(),
        }
    }
}

/// Reads an HDFS file sequentially from a position, through its windows.
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

pub enum SourceRead {
    Local(<fs::File as parquet::file::reader::ChunkReader>::T),
    Hdfs(RangeReader),
}

impl Read for SourceRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SourceRead::Local(r) => r.read(buf),
            SourceRead::Hdfs(r) => r.read(buf),
        }
    }
}

impl parquet::file::reader::ChunkReader for ParquetSource {
    type T = SourceRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SourceRead> {
        Ok(match self {
            ParquetSource::Local(f) => SourceRead::Local(f.get_read(start)?),
            ParquetSource::Hdfs(r) => SourceRead::Hdfs(RangeReader {
                file: r.clone(),
                pos: start,
            }),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            ParquetSource::Local(f) => f.get_bytes(start, length),
            ParquetSource::Hdfs(r) => r
                .bytes(start, length)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
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
    pub fn local(root: impl Into<PathBuf>) -> Output {
        Output {
            root: Root::Local(root.into()),
        }
    }

    /// A local folder, or `hdfs://NAMENODE:PORT/path` (connecting, with retries).
    pub fn open(location: &str, options: &HdfsOptions) -> Result<Output> {
        if hdfs::is_hdfs(location) {
            let (fs, dir) = hdfs::locate(location, options)?;
            Ok(Output {
                root: Root::Hdfs { fs, dir },
            })
        } else {
            Ok(Output::local(location))
        }
    }

    /// The output as the user gave it, for messages.
    pub fn location(&self) -> String {
        match &self.root {
            Root::Local(p) => p.display().to_string(),
            Root::Hdfs { fs, dir } => format!("{}{dir}", fs.url),
        }
    }

    /// Where `rel` is, for messages.
    pub fn shown(&self, rel: &str) -> String {
        format!("{}/{rel}", self.location().trim_end_matches('/'))
    }

    fn hdfs_path(dir: &str, rel: &str) -> String {
        if rel.is_empty() {
            dir.to_owned()
        } else {
            format!("{}/{rel}", dir.trim_end_matches('/'))
        }
    }

    /// Creates the directories a job writes into.
    pub fn prepare(&self) -> Result<()> {
        for d in [PARQUET_DIR, RESULTS_DIR, STATE_DIR] {
            match &self.root {
                Root::Local(root) => {
                    let p = root.join(d);
                    fs::create_dir_all(&p).map_err(|e| Error::io("create the output directory", &p, e))?;
                }
                Root::Hdfs { fs, dir } => fs.mkdirs(&Self::hdfs_path(dir, d))?,
            }
        }
        Ok(())
    }

    /// Opens `rel`'s temporary name for one writer (`tag`: writer and attempt).
    pub fn create(&self, rel: &str, tag: &str) -> Result<FileWriter> {
        let temp = temp_name(rel, tag);
        let shown = self.shown(&temp);
        let inner = match &self.root {
            Root::Local(root) => {
                let p = root.join(&temp);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
                }
                let f = fs::File::create(&p).map_err(|e| Error::io("create", &p, e))?;
                WriterKind::Local(BufWriter::with_capacity(1 << 20, f))
            }
            Root::Hdfs { fs, dir } => WriterKind::Hdfs(Box::new(fs.create(&Self::hdfs_path(dir, &temp))?)),
        };
        Ok(FileWriter { inner, temp, shown })
    }

    /// Moves a closed temporary file into place, unless another attempt already did.
    pub fn commit(&self, written: Written, rel: &str) -> Result<Commit> {
        let written = written.closed()?;
        match &self.root {
            Root::Local(root) => {
                let (temp, dest) = (root.join(&written.temp), root.join(rel));
                // A hard link is created only if the name is free, atomically: of two
                // attempts committing at the same moment exactly one wins. Where links are
                // not supported, a check then a rename (the race is then a few µs wide).
                let linked = match fs::hard_link(&temp, &dest) {
                    Ok(()) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                    Err(_) if dest.exists() => false,
                    Err(_) => {
                        fs::rename(&temp, &dest).map_err(|e| Error::io("commit", &dest, e))?;
                        return Ok(Commit::Committed);
                    }
                };
                let _ = fs::remove_file(&temp);
                Ok(if linked { Commit::Committed } else { Commit::AlreadyThere })
            }
            Root::Hdfs { fs, dir } => {
                let temp = Self::hdfs_path(dir, &written.temp);
                if fs.rename(&temp, &Self::hdfs_path(dir, rel), false)? {
                    Ok(Commit::Committed)
                } else {
                    fs.delete(&temp, false)?;
                    Ok(Commit::AlreadyThere)
                }
            }
        }
    }

    /// Moves a closed temporary file into place, replacing what is there.
    pub fn replace(&self, written: Written, rel: &str) -> Result<()> {
        let written = written.closed()?;
        match &self.root {
            Root::Local(root) => {
                let dest = root.join(rel);
                fs::rename(root.join(&written.temp), &dest).map_err(|e| Error::io("commit", &dest, e))
            }
            Root::Hdfs { fs, dir } => {
                fs.rename(&Self::hdfs_path(dir, &written.temp), &Self::hdfs_path(dir, rel), true)?;
                Ok(())
            }
        }
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
    /// on HDFS their waits for the NameNode's `complete()` then overlap.
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
        match &self.root {
            Root::Local(root) => {
                let p = root.join(rel);
                match fs::read(&p) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io("read", &p, e)),
                }
            }
            Root::Hdfs { fs, dir } => fs.read_all(&Self::hdfs_path(dir, rel)),
        }
    }

    pub fn exists(&self, rel: &str) -> Result<bool> {
        match &self.root {
            Root::Local(root) => Ok(root.join(rel).exists()),
            Root::Hdfs { fs, dir } => Ok(fs.status(&Self::hdfs_path(dir, rel))?.is_some()),
        }
    }

    /// Opens a committed Parquet file for reading.
    pub fn open_parquet(&self, rel: &str) -> Result<ParquetSource> {
        match &self.root {
            Root::Local(root) => {
                let p = root.join(rel);
                Ok(ParquetSource::Local(fs::File::open(&p).map_err(|e| Error::io("open", &p, e))?))
            }
            Root::Hdfs { fs, dir } => Ok(ParquetSource::Hdfs(WindowedReader::new(fs.open(&Self::hdfs_path(dir, rel))?))),
        }
    }

    /// The names in folder `rel`, sorted; empty if it does not exist.
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        let mut names: Vec<String> = match &self.root {
            Root::Local(root) => {
                let Ok(entries) = fs::read_dir(root.join(rel)) else { return Ok(Vec::new()) };
                entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            }
            Root::Hdfs { fs, dir } => fs
                .list(&Self::hdfs_path(dir, rel))?
                .into_iter()
                .map(|s| s.path.rsplit('/').next().unwrap_or_default().to_owned())
                .collect(),
        };
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
            Err(Error::NotAnOutput { output: self.location() })
        }
    }

    /// Removes a file; a missing one is not an error.
    pub fn remove(&self, rel: &str) -> Result<()> {
        self.delete(rel, false)
    }

    /// Removes a folder and everything in it; a missing one is not an error.
    pub fn remove_dir(&self, rel: &str) -> Result<()> {
        self.delete(rel, true)
    }

    fn delete(&self, rel: &str, dir: bool) -> Result<()> {
        match &self.root {
            Root::Local(root) => {
                let p = root.join(rel);
                let r = if dir { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
                match r {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", &p, e)),
                    _ => Ok(()),
                }
            }
            Root::Hdfs { fs, dir: root } => fs.delete(&Self::hdfs_path(root, rel), dir),
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
}
