//! The two published layouts, and the households table that completes the 4-column one.
//!
//! | release | columns |
//! |---|---|
//! | `Power-Networks-LCL-June2015(withAcornGps)v2.csv` and its 168 parts | `LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped` |
//! | `CC_LCL-FullData.csv` | `LCLid,stdorToU,DateTime,KWH/hh (per half hour) ` + `informations_households.csv` |
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kwh::trim;
use crate::csv::split_csv;

pub const HEADER_SIX: &str = "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped";
pub const HEADER_FOUR: &str = "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ";
pub const HOUSEHOLDS_HEADER: &str = "LCLid,stdorToU,Acorn,Acorn_grouped,file";
pub const HOUSEHOLDS_FILE: &str = "informations_households.csv";
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

const SIX: [&str; 6] = ["LCLid", "stdorToU", "DateTime", "KWH/hh (per half hour)", "Acorn", "Acorn_grouped"];

/// Which release a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Six columns, Acorn in every row.
    Six,
    /// Four columns; Acorn comes from `informations_households.csv`.
    Four,
}

impl Layout {
    pub fn fields(self) -> usize {
        match self {
            Layout::Six => 6,
            Layout::Four => 4,
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Layout::Six => HEADER_SIX,
            Layout::Four => HEADER_FOUR,
        }
    }

    /// Recognises a header line (BOM, CRLF, quotes and padding tolerated, case ignored).
    pub fn detect(line: &[u8]) -> Option<Layout> {
        let line = line.strip_prefix(BOM).unwrap_or(line);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut fields = Vec::new();
        split_csv(line, &mut fields).ok()?;
        Layout::of_header(&fields)
    }

    /// The layout whose header the (unquoted) fields of a line are: every field, and no
    /// other, is the header's name (padding and case aside).
    pub fn of_header<F: AsRef<[u8]>>(fields: &[F]) -> Option<Layout> {
        let matches = |n: usize| fields.len() == n && fields.iter().zip(SIX).all(|(a, b)| trim(a.as_ref()).eq_ignore_ascii_case(b.as_bytes()));
        if matches(6) {
            Some(Layout::Six)
        } else if matches(4) {
            Some(Layout::Four)
        } else {
            None
        }
    }
}

/// Acorn classification of one household, from `informations_households.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    pub tariff: String,
    pub acorn: String,
    pub acorn_grouped: String,
}

/// `informations_households.csv`, keyed by LCLid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Households {
    pub path: PathBuf,
    pub by_id: HashMap<String, Household>,
}

impl Households {
    /// Reads the households file's bytes, read from `path`. A broken line here is fatal:
    /// it is metadata that every row depends on, so the job stops before any work with
    /// the file and line.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Households> {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let bad = |line: usize, reason: String| Error::BadHouseholds {
            path: path.to_owned(),
            line: line as u64 + 1,
            reason,
        };
        let mut by_id = HashMap::new();
        let mut fields = Vec::new();
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if trim(line).is_empty() {
                continue;
            }
            split_csv(line, &mut fields).map_err(|r| bad(n, r.to_string()))?;
            let f: Vec<&[u8]> = fields.iter().map(|f| trim(f)).collect();
            if f[0].eq_ignore_ascii_case(b"LCLid") {
                continue;
            }
            if f.len() < 4 {
                return Err(bad(n, format!("expected the columns {HOUSEHOLDS_HEADER}, found {} fields", f.len())));
            }
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad(n, "not UTF-8".into()));
            by_id.insert(
                s(f[0])?,
                Household {
                    tariff: s(f[1])?,
                    acorn: s(f[2])?,
                    acorn_grouped: s(f[3])?,
                },
            );
        }
        if by_id.is_empty() {
            return Err(bad(0, "no households in the file".into()));
        }
        Ok(Households {
            path: path.to_owned(),
            by_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_layouts_with_quirks() {
        assert_eq!(Layout::detect(HEADER_SIX.as_bytes()), Some(Layout::Six));
        assert_eq!(Layout::detect(HEADER_FOUR.as_bytes()), Some(Layout::Four));
        let bom_crlf = format!("\u{feff}{HEADER_SIX}\r\n");
        assert_eq!(Layout::detect(bom_crlf.as_bytes()), Some(Layout::Six));
        assert_eq!(
            Layout::detect(b"\"LCLid\",\"stdorToU\",\"DateTime\",\"KWH/hh (per half hour)\""),
            Some(Layout::Four)
        );
        assert_eq!(Layout::detect(b"LCLid,stdorToU,DateTime"), None);
        assert_eq!(Layout::detect(b"id,date,value,acorn,x,y"), None);
        assert_eq!(Layout::detect(b""), None);
    }

    #[test]
    fn parses_households() {
        let p = Path::new(HOUSEHOLDS_FILE);
        let text = "LCLid,stdorToU,Acorn,Acorn_grouped,file\r\nMAC000002,Std,ACORN-A,Affluent,block_0\r\nMAC000003,ToU,ACORN-U,ACORN-U,block_0";
        let h = Households::parse(p, text.as_bytes()).unwrap();
        assert_eq!(h.by_id.len(), 2);
        assert_eq!(h.by_id["MAC000003"].acorn, "ACORN-U");
        let e = Households::parse(p, b"LCLid,stdorToU,Acorn,Acorn_grouped,file\nMAC000002,Std\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
