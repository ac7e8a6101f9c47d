//! Resolving `--input` and refusing what is not LCL data before any work starts.
//!
//! `--input` is a file, a folder (every `*.csv` in it except the households file, e.g. the
//! 168 parts) or a glob, on local disk, or an `hdfs://` file or folder. Every file's first
//! line must be one of the two headers; the 4-column layout also needs
//! `informations_households.csv`, given or found beside it.
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    pub fn size(&self) -> Result<u64> {
        match self {
            InputReader::Local(f, path) => Ok(f.metadata().map_err(|e| Error::io("stat", path, e))?.len()),
            InputReader::Hdfs(r) => Ok(r.len()),
        }
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
}

/// The checked input of a job.
#[derive(Debug, Clone)]
pub struct Input {
    pub files: Vec<InputFile>,
    pub households: Option<Arc<Households>>,
}

impl Input {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }
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
            if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) && path.is_file() {
                v.push(path);
            }
        }
        v
    } else if p.exists() {
        vec![p.to_owned()]
    } else if spec.contains(['*', '?', '[']) {
        let found = glob::glob(spec).map_err(|e| Error::NoInput(format!("{spec} ({e})")))?;
        found.filter_map(|r| r.ok()).filter(|p| p.is_file()).collect()
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

/// Reads the first line of a file (at most 64 KiB), and the file's length.
fn first_line(path: &Path) -> Result<(Vec<u8>, u64)> {
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
    Ok((buf, f.size()?))
}

/// Resolves and checks the input. `households` overrides the households file's location.
pub fn resolve(spec: &str, households: Option<&Path>) -> Result<Input> {
    let mut files = Vec::new();
    for path in expand(spec)? {
        let (header, len) = first_line(&path)?;
        let layout = Layout::detect(&header).ok_or_else(|| Error::NotLcl {
            path: path.clone(),
            found: String::from_utf8_lossy(&header).chars().take(200).collect(),
            six: HEADER_SIX,
            four: HEADER_FOUR,
        })?;
        files.push(InputFile { path, len, layout });
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
            Some(Arc::new(Households::load(&path)?))
        }
    };
    Ok(Input { files, households })
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
}
