//! Resolving `--input` and refusing what is not LCL data before any work starts.
//!
//! `--input` is a file, a folder (every `*.csv` in it except the households file, e.g. the
//! 168 parts) or a glob. Every file's first line must be one of the two headers; the
//! 4-column layout also needs `informations_households.csv`, given or found beside it.
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{Households, Layout, HEADER_FOUR, HEADER_SIX, HOUSEHOLDS_FILE};

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

/// The paths `spec` names, sorted, without the households file.
pub fn expand(spec: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(spec);
    let mut paths = if p.is_dir() {
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

/// Reads the first line of a file (at most 64 KiB).
fn first_line(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if buf[..n].contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    buf.truncate(n);
    let end = memchr::memchr(b'\n', &buf).unwrap_or(n);
    buf.truncate(end);
    Ok(buf)
}

/// Resolves and checks the input. `households` overrides the households file's location.
pub fn resolve(spec: &str, households: Option<&Path>) -> Result<Input> {
    let mut files = Vec::new();
    for path in expand(spec)? {
        let header = first_line(&path)?;
        let layout = Layout::detect(&header).ok_or_else(|| Error::NotLcl {
            path: path.clone(),
            found: String::from_utf8_lossy(&header).chars().take(200).collect(),
            six: HEADER_SIX,
            four: HEADER_FOUR,
        })?;
        let len = std::fs::metadata(&path).map_err(|e| Error::io("stat", &path, e))?.len();
        files.push(InputFile { path, len, layout });
    }
    let households = match files.iter().find(|f| f.layout == Layout::Four) {
        None => None,
        Some(first) => {
            let path = match households {
                Some(p) => p.to_owned(),
                None => {
                    let beside = first.path.with_file_name(HOUSEHOLDS_FILE);
                    if !beside.exists() {
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
