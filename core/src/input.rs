//! Resolving `--input` and refusing what is not LCL data before any work starts.
//!
//! `--input` is a file, a folder (every `*.csv` in it except the households file, e.g. the
//! 168 parts) or a glob, on local disk, or an `hdfs://` file or folder. Every file's first
//! line must be one of the two headers; the 4-column layout also needs
//! `informations_households.csv`, given or found beside it.
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
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::error::{Error, Result};
use crate::hdfs::{self, HdfsOptions, HdfsReader};
use crate::layout::{Households, Layout, HEADER_FOUR, HEADER_SIX, HOUSEHOLDS_FILE};

/// An input file open for reads at any position: local (`pread`) or on HDFS (ranges).
pub enum InputReader {
    Local(File, PathBuf),
    Hdfs(HdfsReader),
}

impl InputReader {
    pub fn open(path: &Path) -> Result<InputReader> {
        let s = path.to_string_lossy();
        if hdfs::is_hdfs(&s) {
            let (fs, p) = hdfs::locate(&s, &HdfsOptions::default())?;
            Ok(InputReader::Hdfs(fs.open(&p)?))
        } else {
            let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
            Ok(InputReader::Local(f, path.to_owned()))
        }
    }

    /// Reads up to `buf.len()` bytes at `pos`; 0 at the end of the file.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        match self {
            InputReader::Local(f, path) => loop {
                match f.read_at(buf, pos) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io("read", path, e)),
                }
            },
            InputReader::Hdfs(r) => r.read_at(buf, pos),
        }
    }

    /// Hints that the next read is `len` bytes at `pos` (HDFS starts it now).
    pub fn read_ahead(&self, pos: u64, len: usize) {
        if let InputReader::Hdfs(r) = self {
            r.read_ahead(pos, len);
        }
    }

    pub fn size(&self) -> Result<u64> {
        match self {
            InputReader::Local(f, path) => Ok(f.metadata().map_err(|e| Error::io("stat", path, e))?.len()),
            InputReader::Hdfs(r) => Ok(r.len()),
        }
    }

    /// The file's identity now: what the open file's metadata (local) or the NameNode's
    /// file status (HDFS) say. `path` names the file in the error of a file that is gone.
    pub fn identity(&self, path: &Path) -> Result<FileIdentity> {
        match self {
            InputReader::Local(f, path) => {
                let m = f.metadata().map_err(|e| Error::io("stat", path, e))?;
                Ok(FileIdentity::of(&m))
            }
            InputReader::Hdfs(r) => match r.status()? {
                Some(s) => Ok(FileIdentity {
                    len: s.len,
                    modified_ns: Some(s.modified_ms.saturating_mul(1_000_000)),
                }),
                None => Err(Error::InputChanged {
                    path: path.to_owned(),
                    reason: "it is gone".into(),
                }),
            },
        }
    }

    /// Fails with [`Error::InputChanged`] naming `path` unless the file is still `planned`.
    pub fn check(&self, path: &Path, planned: &FileIdentity) -> Result<()> {
        let now = self.identity(path)?;
        let reason = if now.len != planned.len {
            format!("it was {} bytes when the job was planned, it is {} bytes now", planned.len, now.len)
        } else if planned.modified_ns.is_some() && now.modified_ns != planned.modified_ns {
            "its modification time changed since the job was planned".to_string()
        } else {
            return Ok(());
        };
        Err(Error::InputChanged {
            path: path.to_owned(),
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
    pub(crate) fn of(m: &std::fs::Metadata) -> FileIdentity {
        let modified_ns = m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as u64);
        FileIdentity { len: m.len(), modified_ns }
    }
}

/// A whole (small) file, local or on HDFS.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
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

fn exists(path: &Path) -> Result<bool> {
    let s = path.to_string_lossy();
    if hdfs::is_hdfs(&s) {
        let (fs, p) = hdfs::locate(&s, &HdfsOptions::default())?;
        Ok(fs.status(&p)?.is_some())
    } else {
        Ok(path.exists())
    }
}

/// One input file, checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: PathBuf,
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
    pub skipped: Vec<PathBuf>,
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

fn is_households_file(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n.eq_ignore_ascii_case(HOUSEHOLDS_FILE))
}

/// The files an `hdfs://` spec names: a file, or the `*.csv` files of a folder.
fn expand_hdfs(spec: &str) -> Result<Vec<PathBuf>> {
    let (fs, path) = hdfs::locate(spec, &HdfsOptions::default())?;
    let full = |p: &str| PathBuf::from(format!("{}{p}", fs.url));
    match fs.status(&path)? {
        None if spec.contains(['*', '?', '[']) => Err(Error::NoInput(format!("{spec} (globs are for local files; give an HDFS folder)"))),
        None => Err(Error::NoInput(spec.to_owned())),
        Some(s) if !s.is_dir => Ok(vec![full(&path)]),
        Some(_) => Ok(fs
            .list(&path)?
            .into_iter()
            .filter(|s| !s.is_dir && s.path.to_ascii_lowercase().ends_with(".csv"))
            .map(|s| full(&s.path))
            .collect()),
    }
}

/// The paths `spec` names, sorted, without the households file.
pub fn expand(spec: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(spec);
    let mut paths = if hdfs::is_hdfs(spec) {
        expand_hdfs(spec)?
    } else if p.is_dir() {
        let entries = std::fs::read_dir(p).map_err(|e| Error::io("list", p, e))?;
        let mut v = Vec::new();
        for e in entries {
            let path = e.map_err(|e| Error::io("list", p, e))?.path();
            if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
                v.push(path);
            }
        }
        found_files(v)?
    } else if p.exists() {
        regular(p, &metadata(p)?)?;
        vec![p.to_owned()]
    } else if spec.contains(['*', '?', '[']) {
        let found = glob::glob(spec).map_err(|e| Error::NoInput(format!("{spec} ({e})")))?;
        found_files(found.filter_map(|r| r.ok()).collect())?
    } else {
        return Err(Error::NoInput(spec.to_owned()));
    };
    paths.retain(|p| !is_households_file(p) || p == Path::new(spec));
    paths.sort();
    if paths.is_empty() {
        return Err(Error::NoInput(spec.to_owned()));
    }
    Ok(paths)
}

/// The files among the entries of a folder or the matches of a glob: folders are not
/// read; anything else that is not a regular file stops the job.
fn found_files(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
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
fn first_line(path: &Path) -> Result<(Vec<u8>, FileIdentity)> {
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
pub fn resolve(spec: &str, households: Option<&Path>) -> Result<Input> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for path in expand(spec)? {
        let (header, id) = first_line(&path)?;
        if id.len == 0 {
            skipped.push(path);
            continue;
        }
        let layout = Layout::detect(&header).ok_or_else(|| Error::NotLcl {
            path: path.clone(),
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
        tracing::warn!("{}: empty file (0 bytes), no rows: skipped", path.display());
    }
    let households = match files.iter().find(|f| f.layout == Layout::Four) {
        None => None,
        Some(first) => {
            let path = match households {
                Some(p) => p.to_owned(),
                None => {
                    let beside = first.path.with_file_name(HOUSEHOLDS_FILE);
                    if !exists(&beside)? {
                        return Err(Error::HouseholdsMissing {
                            path: first.path.clone(),
                        });
                    }
                    beside
                }
            };
            Some(Arc::new(Households::parse(&path, &read_all(&path)?)?))
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
            assert_eq!(input.skipped, [d.join("empty.csv")], "{spec}");
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
