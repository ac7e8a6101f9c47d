//! Resolving `--input` and refusing what is not LCL data before any work starts.
//!
//! `--input` is a file, a folder (every `*.csv` in it except the households file, e.g. the
//! 168 parts) or a glob, on local disk, or a file or folder on HDFS (`hdfs://`) or in an
//! object store (`s3://`, `gs://`). Every file's first line must be one of the two
//! headers; the 4-column layout also needs `informations_households.csv`, given or found
//! beside it.
//!
//! Only regular files are read: a FIFO would block the reader for ever and a device or
//! socket holds no LCL data, so either stops the job with its name, whether given directly
//! or found in a folder or glob. An empty file holds no rows: in a folder or glob it is
//! skipped with a warning; given alone it is an error (there is no input).
//!
//! Each file's identity (length, modification time) is taken here, when the job is
//! planned, and travels with every chunk: a chunk's reader checks the file is still the
//! same, so a file truncated, grown or rewritten under a running job fails its chunks
//! instead of giving a partial success.
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{Households, Layout, HEADER_FOUR, HEADER_SIX, HOUSEHOLDS_FILE};
use crate::store::{HdfsOptions, Location, Meta, Source};

/// An input file open for reads at any position, on any store (see [`crate::store`]).
pub struct InputReader {
    source: Arc<dyn Source>,
}

impl InputReader {
    pub fn open(location: &Location) -> Result<InputReader> {
        InputReader::open_with(location, &HdfsOptions::default())
    }

    /// With the job's HDFS settings (its short-circuit reads, how long to wait for the
    /// NameNode).
    pub fn open_with(location: &Location, hdfs: &HdfsOptions) -> Result<InputReader> {
        let (store, path) = location.store(hdfs)?;
        Ok(InputReader { source: store.open(&path)? })
    }

    /// Reads up to `buf.len()` bytes at `pos`; 0 at the end of the file.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        self.source.read_at(buf, pos)
    }

    /// Hints that the next read is `len` bytes at `pos` (a remote store starts it now).
    pub fn read_ahead(&self, pos: u64, len: usize) {
        self.source.read_ahead(pos, len)
    }

    pub fn size(&self) -> Result<u64> {
        Ok(self.source.len())
    }

    /// The file's identity now: what the open file's metadata (local) or its store's
    /// status (HDFS, an object store) say. `location` names the file in the error of a
    /// file that is gone.
    pub fn identity(&self, location: &Location) -> Result<FileIdentity> {
        match self.source.status()? {
            Some(m) => Ok(FileIdentity::from_meta(&m)),
            None => Err(Error::InputChanged {
                path: location.shown(),
                reason: "it is gone".into(),
            }),
        }
    }

    /// Fails with [`Error::InputChanged`] naming `location` unless the file is still `planned`.
    pub fn check(&self, location: &Location, planned: &FileIdentity) -> Result<()> {
        let now = self.identity(location)?;
        let reason = if now.len != planned.len {
            format!("it was {} bytes when the job was planned, it is {} bytes now", planned.len, now.len)
        } else if planned.modified_ns.is_some() && now.modified_ns != planned.modified_ns {
            "its modification time changed since the job was planned".to_string()
        } else {
            return Ok(());
        };
        Err(Error::InputChanged {
            path: location.shown(),
            reason,
        })
    }
}

/// What a file was when the job was planned. A chunk's reader reads no further than
/// `len` and fails when the file is no longer so (see [`InputReader::check`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    /// Length in bytes.
    pub len: u64,
    /// Modification time in nanoseconds since 1970 (HDFS keeps milliseconds); `None`
    /// where the filesystem gives none, and then only the length is compared.
    #[serde(default)]
    pub modified_ns: Option<u64>,
}

impl FileIdentity {
    #[cfg(test)]
    pub(crate) fn of(m: &std::fs::Metadata) -> FileIdentity {
        let modified_ns = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos() as u64);
        FileIdentity { len: m.len(), modified_ns }
    }

    fn from_meta(m: &Meta) -> FileIdentity {
        FileIdentity {
            len: m.len,
            modified_ns: m.modified_ns,
        }
    }
}

/// A whole (small) file, on any store.
pub fn read_all(path: &Location) -> Result<Vec<u8>> {
    let r = InputReader::open(path)?;
    let len = r.size()? as usize;
    let mut buf = vec![0u8; len];
    let mut n = 0;
    while n < len {
        match r.read_at(&mut buf[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(buf)
}

fn exists(location: &Location) -> Result<bool> {
    let (store, path) = location.store(&HdfsOptions::default())?;
    Ok(store.status(&path)?.is_some())
}

/// One input file, checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: Location,
    pub len: u64,
    pub layout: Layout,
    /// Modification time when the job was planned (see [`FileIdentity`]). A resumed job
    /// compares it with the file's, so a file changed between two runs is not resumed; a
    /// manifest written before this field existed parses (as `None`, another job).
    #[serde(default)]
    pub modified_ns: Option<u64>,
}

impl InputFile {
    /// The file as planned, as every chunk of it carries it.
    pub fn identity(&self) -> FileIdentity {
        FileIdentity {
            len: self.len,
            modified_ns: self.modified_ns,
        }
    }
}

/// The checked input of a job.
#[derive(Debug, Clone)]
pub struct Input {
    pub files: Vec<InputFile>,
    pub households: Option<Arc<Households>>,
    /// Empty files of a folder or glob, skipped (each with a warning).
    pub skipped: Vec<Location>,
}

impl Input {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }
}

/// Refuses anything but a regular file (after symbolic links): a FIFO would block its
/// reader for ever, and a device or a socket is not a CSV file.
fn regular(path: &Path, m: &std::fs::Metadata) -> Result<()> {
    let t = m.file_type();
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    };
    Err(Error::NotAFile {
        path: path.to_owned(),
        kind,
    })
}

fn metadata(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))
}

fn is_households_file(p: &Location) -> bool {
    p.file_name().is_some_and(|n| n.eq_ignore_ascii_case(HOUSEHOLDS_FILE))
}

/// The files a remote spec names (HDFS, an object store): a file, or the `*.csv` files of
/// a folder (a prefix, in an object store).
fn expand_remote(spec: &str, location: &Location) -> Result<Vec<Location>> {
    let (store, path) = location.store(&HdfsOptions::default())?;
    match store.status(&path)? {
        None if spec.contains(['*', '?', '[']) => Err(Error::NoInput(format!("{spec} (globs are for local files; give a folder)"))),
        None => Err(Error::NoInput(spec.to_owned())),
        Some(m) if !m.is_dir => Ok(vec![location.clone()]),
        Some(_) => Ok(store
            .list(&path)?
            .into_iter()
            .filter(|m| !m.is_dir && m.name.to_ascii_lowercase().ends_with(".csv"))
            .map(|m| location.join(&m.name))
            .collect()),
    }
}

/// The files `spec` names, sorted, without the households file.
pub fn expand(spec: &str) -> Result<Vec<Location>> {
    let location = Location::parse(spec)?;
    let mut paths = match location.as_local() {
        None => expand_remote(spec, &location)?,
        Some(p) => expand_local(spec, p)?.into_iter().map(Location::from).collect(),
    };
    paths.retain(|p| !is_households_file(p) || *p == location);
    paths.sort();
    if paths.is_empty() {
        return Err(Error::NoInput(spec.to_owned()));
    }
    Ok(paths)
}

fn expand_local(spec: &str, p: &Path) -> Result<Vec<std::path::PathBuf>> {
    if p.is_dir() {
        let entries = std::fs::read_dir(p).map_err(|e| Error::io("list", p, e))?;
        let mut v = Vec::new();
        for e in entries {
            let path = e.map_err(|e| Error::io("list", p, e))?.path();
            if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
                v.push(path);
            }
        }
        found_files(v)
    } else if p.exists() {
        regular(p, &metadata(p)?)?;
        Ok(vec![p.to_owned()])
    } else if spec.contains(['*', '?', '[']) {
        let found = glob::glob(spec).map_err(|e| Error::NoInput(format!("{spec} ({e})")))?;
        found_files(found.filter_map(|r| r.ok()).collect())
    } else {
        Err(Error::NoInput(spec.to_owned()))
    }
}

/// The files among the entries of a folder or the matches of a glob: folders are not
/// read; anything else that is not a regular file stops the job.
fn found_files(paths: Vec<std::path::PathBuf>) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let m = metadata(&path)?;
        if !m.is_dir() {
            regular(&path, &m)?;
            files.push(path);
        }
    }
    Ok(files)
}

/// Reads the first line of a file (at most 64 KiB), and the file's identity.
fn first_line(path: &Location) -> Result<(Vec<u8>, FileIdentity)> {
    let f = InputReader::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64)? {
            0 => break,
            k => {
                n += k;
                if buf[..n].contains(&b'\n') {
                    break;
                }
            }
        }
    }
    buf.truncate(n);
    let end = memchr::memchr(b'\n', &buf).unwrap_or(n);
    buf.truncate(end);
    Ok((buf, f.identity(path)?))
}

/// Resolves and checks the input. `households` overrides the households file's location.
pub fn resolve(spec: &str, households: Option<&Location>) -> Result<Input> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in expand(spec)? {
        let (header, id) = first_line(&path)?;
        if id.len == 0 {
            skipped.push(path);
            continue;
        }
        let layout = Layout::detect(&header).ok_or_else(|| Error::NotLcl {
            path: path.shown(),
            found: String::from_utf8_lossy(&header).chars().take(200).collect(),
            six: HEADER_SIX,
            four: HEADER_FOUR,
        })?;
        files.push(InputFile {
            path,
            len: id.len,
            layout,
            modified_ns: id.modified_ns,
        });
    }
    if files.is_empty() {
        let what = if skipped.len() == 1 { "it is empty" } else { "every file is empty" };
        return Err(Error::NoInput(format!("{spec} ({what}: 0 bytes)")));
    }
    for path in &skipped {
        tracing::warn!("{path}: empty file (0 bytes), no rows: skipped");
    }
    let households = match files.iter().find(|f| f.layout == Layout::Four) {
        None => None,
        Some(first) => {
            let path = match households {
                Some(p) => p.to_owned(),
                None => {
                    let beside = first.path.with_file_name(HOUSEHOLDS_FILE);
                    if !exists(&beside)? {
                        return Err(Error::HouseholdsMissing { path: first.path.shown() });
                    }
                    beside
                }
            };
            Some(Arc::new(Households::parse(&path.shown(), &read_all(&path)?)?))
        }
    };
    Ok(Input {
        files,
        households,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_folder_glob_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b.csv"), format!("{HEADER_SIX}\r\n")).unwrap();
        std::fs::write(d.join("a.csv"), format!("\u{feff}{HEADER_SIX}\n")).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let all = resolve(d.to_str().unwrap(), None).unwrap();
        let names: Vec<_> = all.files.iter().map(|f| f.path.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.csv", "b.csv"]);
        let one = resolve(d.join("b.csv").to_str().unwrap(), None).unwrap();
        assert_eq!(one.files.len(), 1);
        let glob = resolve(&format!("{}/b*.csv", d.display()), None).unwrap();
        assert_eq!(glob.files.len(), 1);

        let missing = resolve(d.join("nope.csv").to_str().unwrap(), None).unwrap_err().to_string();
        assert!(missing.contains("no input found at") && missing.contains("nope.csv"), "{missing}");

        std::fs::write(d.join("c.csv"), "id,when,value\n1,2,3\n").unwrap();
        let e = resolve(d.to_str().unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("c.csv is not LCL smart-meter data") && e.contains(HEADER_SIX), "{e}");
    }

    #[test]
    fn four_column_layout_needs_households() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("CC_LCL-FullData.csv"), format!("{HEADER_FOUR}\r\n")).unwrap();
        let e = resolve(d.to_str().unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("--households"), "{e}");
        std::fs::write(d.join(HOUSEHOLDS_FILE), "LCLid,stdorToU,Acorn,Acorn_grouped,file\nMAC000002,Std,ACORN-A,Affluent,block_0\n").unwrap();
        let ok = resolve(d.to_str().unwrap(), None).unwrap();
        assert_eq!(ok.files.len(), 1, "the households file is not data");
        assert_eq!(ok.households.unwrap().by_id.len(), 1);
    }

    /// Issue 15: a FIFO blocked the job for ever given directly, and was skipped silently
    /// in a folder; anything that is not a regular file now stops the job, named.
    #[test]
    fn what_is_not_a_regular_file_is_refused_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.csv"), format!("{HEADER_SIX}\r\n")).unwrap();
        std::fs::create_dir(d.join("sub.csv")).unwrap();
        assert_eq!(resolve(d.to_str().unwrap(), None).unwrap().files.len(), 1, "a folder inside is not read");
        let fifo = d.join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        for spec in [fifo.display().to_string(), d.display().to_string(), format!("{}/*.csv", d.display())] {
            let e = resolve(&spec, None).unwrap_err().to_string();
            assert!(e.contains("pipe.csv is not a regular file (a FIFO)"), "{spec}: {e}");
        }
        let e = resolve("/dev/null", None).unwrap_err().to_string();
        assert!(e.contains("/dev/null is not a regular file (a device)"), "{e}");
    }

    /// Issue 15: an empty file in a folder failed the whole job ("its header is (blank)").
    #[test]
    fn an_empty_file_is_skipped_in_a_folder_and_an_error_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.csv"), format!("{HEADER_SIX}\r\n")).unwrap();
        std::fs::write(d.join("empty.csv"), "").unwrap();
        for spec in [d.display().to_string(), format!("{}/*.csv", d.display())] {
            let input = resolve(&spec, None).unwrap();
            assert_eq!(input.files.len(), 1, "{spec}");
            assert_eq!(input.skipped, [Location::from(d.join("empty.csv"))], "{spec}");
        }
        let e = resolve(d.join("empty.csv").to_str().unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("no input found at") && e.contains("empty.csv (it is empty: 0 bytes)"), "{e}");
        std::fs::remove_file(d.join("a.csv")).unwrap();
        std::fs::write(d.join("b.csv"), "").unwrap();
        let e = resolve(d.to_str().unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("no input found at") && e.contains("every file is empty"), "{e}");
    }

    /// The planned identity holds the length and the modification time, and a resumed
    /// job's manifest written before `modified_ns` existed still parses.
    #[test]
    fn files_carry_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, format!("{HEADER_SIX}\r\n")).unwrap();
        let f = &resolve(p.to_str().unwrap(), None).unwrap().files[0];
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(f.identity(), FileIdentity::of(&m));
        assert!(f.modified_ns.is_some() && f.len == m.len());
        let old: InputFile = serde_json::from_str(r#"{"path": "a.csv", "len": 3, "layout": "six"}"#).unwrap();
        assert_eq!(old.modified_ns, None);
    }
}
