//! One CSV line to one row, or to a reason why not.
//!
//! Three paths give the same rows (tests prove it on every quirk):
//! * the run path, for the next line of a household: the file is sorted by LCLid, so a
//!   line usually starts with the same `LCLid,tariff,` bytes and ends with the same
//!   `,Acorn,Acorn_grouped` bytes as the row before it. Those are compared, not parsed:
//!   only `DateTime` (its date cached for the 48 readings of a day) and kWh are decoded;
//! * the plain path, for lines as published: split on the commas (memchr), decode
//!   fixed-width `DateTime` and kWh as integer micro-kWh, and map the strings to dictionary
//!   keys with a one-entry cache;
//! * the general path, for anything unusual: RFC 4180 quoting (`"a ""b"""`), then the
//!   same field decoding.
//!
//! The run path only ever accepts: anything it cannot decode goes to the plain path.
//!
//! A line is a [`Line::Row`], a line to skip (blank, or a repeated header, as in
//! concatenated parts), or a [`Line::Reject`] with its [`Reason`]. Rejects are never
//! fatal and never silent: the caller writes them to `rejects.csv` with file and line.
//!
//! What is LCL data, beyond the field count (`lcl-data.md`): a header line is one whose
//! every field is the header's (any other line is a data row, judged on its fields); an
//! LCLid is `MAC` and 6 to 10 digits; a `DateTime` is a valid date and time of a year in
//! [`crate::datetime::YEARS`]; kWh is a number within ±[`kwh::MAX_KWH`] or `Null`; no
//! field holds a control character or a byte-order mark (the reader removes the one at
//! the file's start). Each rule keeps a phantom household or group out of the results.
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use memchr::memchr_iter;

use crate::datetime::{self, DateTime, DayCache};
use crate::kwh::{self, trim, BadKwh, Kwh};
use crate::csv::split_csv;
use crate::layout::{Households, Layout, BOM};

/// An accepted row. Strings are keys into the parser's [`Dict`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub lclid: u32,
    pub tariff: u32,
    pub dt: DateTime,
    pub kwh: Kwh,
    pub acorn: u32,
    pub acorn_grouped: u32,
}

/// Why a line was rejected. The text is what `rejects.csv` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    FieldCount { expected: usize, found: usize },
    UnterminatedQuote,
    EmptyLclid,
    BadLclid,
    BadDateTime,
    YearOutOfRange,
    BadKwh,
    KwhOutOfRange,
    NotUtf8,
    ByteOrderMark,
    ControlCharacter,
    UnknownHousehold,
    OtherHeader,
    LineTooLong,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::FieldCount { expected, found } => write!(f, "expected {expected} fields, found {found}"),
            Reason::UnterminatedQuote => f.write_str("unterminated quoted field"),
            Reason::EmptyLclid => f.write_str("empty LCLid"),
            Reason::BadLclid => f.write_str("LCLid is not MAC and 6 to 10 digits"),
            Reason::BadDateTime => f.write_str("DateTime is not a valid date and time"),
            Reason::YearOutOfRange => {
                write!(f, "DateTime is outside the years {}-{}", datetime::YEARS.start(), datetime::YEARS.end())
            }
            Reason::BadKwh => f.write_str("kWh is neither a number nor Null"),
            Reason::KwhOutOfRange => write!(f, "kWh out of range (beyond ±{} kWh)", kwh::MAX_KWH),
            Reason::NotUtf8 => f.write_str("text is not UTF-8"),
            Reason::ByteOrderMark => f.write_str("a byte-order mark inside the file (allowed only at its start)"),
            Reason::ControlCharacter => f.write_str("a field holds a control character"),
            Reason::UnknownHousehold => f.write_str("LCLid is not in informations_households.csv"),
            Reason::OtherHeader => f.write_str("a header line of another layout"),
            Reason::LineTooLong => f.write_str("line longer than 1 MiB"),
        }
    }
}

/// What one line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Row(Row),
    Blank,
    Header,
    Reject(Reason),
}

/// A string dictionary with a one-entry cache for runs of equal values.
#[derive(Debug, Default)]
pub struct Dict {
    map: HashMap<Box<[u8]>, u32>,
    values: Vec<Arc<str>>,
    last: Vec<u8>,
    last_key: u32,
}

impl Dict {
    /// The key of `v`, interning it on first sight. `None` if it is not UTF-8.
    #[inline]
    pub fn key(&mut self, v: &[u8]) -> Option<u32> {
        if !self.values.is_empty() && v == self.last.as_slice() {
            return Some(self.last_key);
        }
        self.key_slow(v)
    }

    #[cold]
    fn key_slow(&mut self, v: &[u8]) -> Option<u32> {
        let k = match self.map.get(v) {
            Some(&k) => k,
            None => {
                let s: Arc<str> = std::str::from_utf8(v).ok()?.into();
                let k = self.values.len() as u32;
                self.values.push(s);
                self.map.insert(v.into(), k);
                k
            }
        };
        self.last.clear();
        self.last.extend_from_slice(v);
        self.last_key = k;
        Some(k)
    }

    pub fn value(&self, key: u32) -> &Arc<str> {
        &self.values[key as usize]
    }

    pub fn values(&self) -> &[Arc<str>] {
        &self.values
    }
}

/// The four dictionaries of a chunk's string columns.
#[derive(Debug, Default)]
pub struct Dicts {
    pub lclid: Dict,
    pub tariff: Dict,
    pub acorn: Dict,
    pub acorn_grouped: Dict,
}

/// The last row the plain path accepted, as bytes to compare the next line with.
struct Run {
    /// `LCLid,tariff,` as written, commas included.
    head: Vec<u8>,
    /// `,Acorn,Acorn_grouped` as written (empty in the 4-column layout), `\r` excluded.
    tail: Vec<u8>,
    /// The row's keys; its `dt` and `kwh` are replaced.
    keys: Row,
}

/// Equal byte strings, compared eight bytes at a time (the strings here are 10 to 30
/// bytes, where a `memcmp` call costs more than the comparison).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// The form of every LCLid of the release (`MAC000002` … `MAC005567`) and of the
/// generator's: `MAC` and 6 to 10 digits.
#[inline]
pub fn is_lclid(id: &[u8]) -> bool {
    matches!(id.len(), 9..=13) && id.starts_with(b"MAC") && id[3..].iter().all(u8::is_ascii_digit)
}

/// Why a text field cannot be LCL data: a control character (tab and padding aside) or a
/// byte-order mark. `None` for a clean field.
#[inline]
fn odd_byte(field: &[u8]) -> Option<Reason> {
    if field.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
        Some(Reason::ControlCharacter)
    } else if field.windows(BOM.len()).any(|w| w == BOM) {
        Some(Reason::ByteOrderMark)
    } else {
        None
    }
}

/// A line parser for one layout. One per chunk: its dictionaries are the chunk's.
pub struct Parser {
    layout: Layout,
    households: Option<Arc<Households>>,
    pub dicts: Dicts,
    run: Option<Run>,
    days: DayCache,
    /// Acorn keys per LCLid key, for the 4-column layout (`None`: unknown household).
    household_keys: Vec<Option<(u32, u32)>>,
    /// Unquoted fields for the general path.
    scratch: Vec<Vec<u8>>,
}

impl Parser {
    pub fn new(layout: Layout, households: Option<Arc<Households>>) -> Parser {
        Parser {
            layout,
            households,
            dicts: Dicts::default(),
            run: None,
            days: DayCache::default(),
            household_keys: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Parses one line, without its `\n` (a `\r` before it is allowed).
    #[inline]
    pub fn parse_line(&mut self, line: &[u8]) -> Line {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(row) = self.parse_run(line) {
            return Line::Row(row);
        }
        self.parse_plain(line)
    }

    /// The run path: `Some` only for a line that the plain path would accept as this row.
    ///
    /// Why that holds: the head and tail are byte-equal to an accepted plain row's, so they
    /// hold the same four fields and four unquoted commas; the middle must then be a
    /// `DateTime` and a kWh that decode, which excludes quotes and further commas, so the
    /// line has exactly the layout's fields, none quoted.
    #[inline]
    fn parse_run(&mut self, line: &[u8]) -> Option<Row> {
        let run = self.run.as_ref()?;
        let (h, t) = (run.head.len(), run.tail.len());
        if line.len() <= h + t || !same(&line[..h], &run.head) || !same(&line[line.len() - t..], &run.tail) {
            return None;
        }
        let middle = &line[h..line.len() - t];
        // `YYYY-MM-DD HH:MM:SS.fffffff` is 27 bytes; a shorter one puts its comma elsewhere.
        let comma = match middle.get(27) {
            Some(b',') => 27,
            _ => memchr::memchr(b',', middle)?,
        };
        let keys = run.keys;
        let dt = self.days.parse(trim(&middle[..comma]))?;
        let kwh = kwh::parse(&middle[comma + 1..]).ok()?;
        Some(Row { dt, kwh, ..keys })
    }

    /// The plain path, then the general one.
    fn parse_plain(&mut self, line: &[u8]) -> Line {
        let n = self.layout.fields();
        let mut cut = [0usize; 7];
        let mut commas = 0;
        for pos in memchr_iter(b',', line) {
            if commas == n - 1 {
                commas += 1;
                break;
            }
            cut[commas + 1] = pos + 1;
            commas += 1;
        }
        if commas == n - 1 {
            cut[n] = line.len() + 1;
            let field = |i: usize| &line[cut[i]..cut[i + 1] - 1];
            // A quote opening any field needs the general path.
            if (0..n).all(|i| trim(field(i)).first() != Some(&b'"')) {
                let mut f: [&[u8]; 6] = [&[]; 6];
                for (i, slot) in f.iter_mut().enumerate().take(n) {
                    *slot = field(i);
                }
                let line_kind = self.decode(&f[..n]);
                if let Line::Row(keys) = line_kind {
                    // Fields 0 and 1 with their commas; from the comma before field 4 on.
                    let tail = if n == 6 { &line[cut[4] - 1..] } else { &[][..] };
                    self.run = Some(Run {
                        head: line[..cut[2]].to_vec(),
                        tail: tail.to_vec(),
                        keys,
                    });
                }
                return line_kind;
            }
        }
        self.parse_general(line)
    }

    #[cold]
    fn parse_general(&mut self, line: &[u8]) -> Line {
        if trim(line).is_empty() {
            return Line::Blank;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let out = match split_csv(line, &mut scratch) {
            Err(_) => Line::Reject(Reason::UnterminatedQuote),
            Ok(()) if scratch.len() != self.layout.fields() => {
                if Layout::of_header(&scratch).is_some() {
                    Line::Reject(Reason::OtherHeader)
                } else {
                    Line::Reject(Reason::FieldCount {
                        expected: self.layout.fields(),
                        found: scratch.len(),
                    })
                }
            }
            Ok(()) => {
                let f: Vec<&[u8]> = scratch.iter().map(|v| v.as_slice()).collect();
                self.decode(&f)
            }
        };
        self.scratch = scratch;
        out
    }

    /// Decodes the fields of one line (already split; exactly `layout.fields()` of them).
    #[inline]
    fn decode(&mut self, f: &[&[u8]]) -> Line {
        let lclid = trim(f[0]);
        if lclid.is_empty() {
            return Line::Reject(Reason::EmptyLclid);
        }
        if !is_lclid(lclid) {
            // A repeated header, as in concatenated parts; `LCLid` alone makes no header.
            if Layout::of_header(f) == Some(self.layout) {
                return Line::Header;
            }
            return Line::Reject(if lclid.starts_with(BOM) { Reason::ByteOrderMark } else { Reason::BadLclid });
        }
        let Some(dt) = self.days.parse(trim(f[2])) else {
            let year = datetime::year_out_of_range(trim(f[2]));
            return Line::Reject(if year { Reason::YearOutOfRange } else { Reason::BadDateTime });
        };
        let kwh = match kwh::parse(f[3]) {
            Ok(kwh) => kwh,
            Err(BadKwh::NotANumber) => return Line::Reject(Reason::BadKwh),
            Err(BadKwh::OutOfRange) => return Line::Reject(Reason::KwhOutOfRange),
        };
        // The string fields become groups: a stray byte in one would make a group of its own.
        let texts: &[&[u8]] = if self.layout == Layout::Six { &[f[1], f[4], f[5]] } else { &[f[1]] };
        if let Some(bad) = texts.iter().find_map(|t| odd_byte(t)) {
            return Line::Reject(bad);
        }
        let Some(lclid) = self.dicts.lclid.key(lclid) else {
            return Line::Reject(Reason::NotUtf8);
        };
        let Some(tariff) = self.dicts.tariff.key(trim(f[1])) else {
            return Line::Reject(Reason::NotUtf8);
        };
        let (acorn, acorn_grouped) = match self.layout {
            Layout::Six => match (self.dicts.acorn.key(trim(f[4])), self.dicts.acorn_grouped.key(trim(f[5]))) {
                (Some(a), Some(g)) => (a, g),
                _ => return Line::Reject(Reason::NotUtf8),
            },
            Layout::Four => match self.household(lclid) {
                Some(keys) => keys,
                None => return Line::Reject(Reason::UnknownHousehold),
            },
        };
        Line::Row(Row {
            lclid,
            tariff,
            dt,
            kwh,
            acorn,
            acorn_grouped,
        })
    }

    /// Acorn keys of a household, from the households table (4-column layout).
    #[inline]
    fn household(&mut self, lclid: u32) -> Option<(u32, u32)> {
        if let Some(Some(k)) = self.household_keys.get(lclid as usize) {
            return Some(*k);
        }
        let id = self.dicts.lclid.value(lclid).clone();
        let h = self.households.as_ref()?.by_id.get(&*id)?;
        let keys = (
            self.dicts.acorn.key(h.acorn.as_bytes())?,
            self.dicts.acorn_grouped.key(h.acorn_grouped.as_bytes())?,
        );
        if self.household_keys.len() <= lclid as usize {
            self.household_keys.resize(lclid as usize + 1, None);
        }
        self.household_keys[lclid as usize] = Some(keys);
        Some(keys)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::layout::Household;

    fn six(line: &str) -> (Line, Parser) {
        let mut p = Parser::new(Layout::Six, None);
        let l = p.parse_line(line.as_bytes());
        (l, p)
    }

    fn row(line: &str) -> (Row, Parser) {
        match six(line) {
            (Line::Row(r), p) => (r, p),
            (other, _) => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn published_line_with_crlf_and_padding() {
        let (r, p) = row("MAC000002,Std,2012-10-12 00:30:00.0000000, 0 ,ACORN-A,Affluent\r");
        assert_eq!(&**p.dicts.lclid.value(r.lclid), "MAC000002");
        assert_eq!(&**p.dicts.tariff.value(r.tariff), "Std");
        assert_eq!(&**p.dicts.acorn.value(r.acorn), "ACORN-A");
        assert_eq!(&**p.dicts.acorn_grouped.value(r.acorn_grouped), "Affluent");
        assert_eq!(r.kwh, Kwh::Value(0));
        assert_eq!(crate::datetime::format_micros(r.dt.micros), "2012-10-12 00:30:00");
        let (r, _) = row("MAC000002,Std,2012-10-12 01:00:00.0000000,0.143 ,ACORN-A,Affluent");
        assert_eq!(r.kwh, Kwh::Value(143_000));
    }

    #[test]
    fn null_and_empty_kwh_are_missing_readings() {
        assert_eq!(row("MAC000002,Std,2012-10-12 00:30:00.0000000,Null,ACORN-A,Affluent").0.kwh, Kwh::Missing);
        assert_eq!(row("MAC000002,Std,2012-10-12 00:30:00.0000000,,ACORN-A,Affluent").0.kwh, Kwh::Missing);
    }

    #[test]
    fn unclassified_and_blank_acorn() {
        let (r, p) = row("MAC000003,ToU,2013-01-01 00:00:00.0000000,1.2,ACORN-U,ACORN-U");
        assert_eq!(&**p.dicts.acorn.value(r.acorn), "ACORN-U");
        let (r, p) = row("MAC000004,Std,2013-01-01 00:00:00.0000000,1.2,ACORN-,ACORN-");
        assert_eq!(&**p.dicts.acorn_grouped.value(r.acorn_grouped), "ACORN-");
    }

    #[test]
    fn quoted_fields_give_the_same_row() {
        let plain = row("MAC000002,Std,2012-10-12 00:30:00.0000000,0.143 ,ACORN-A,Affluent").0;
        let quoted = row("\"MAC000002\",\"Std\",\"2012-10-12 00:30:00.0000000\",\"0.143 \",\"ACORN-A\",\"Affluent\"").0;
        assert_eq!(plain, quoted);
        let later = row("MAC000002,Std,2012-10-12 00:30:00.0000000,\"0.143\",ACORN-A,Affluent").0;
        assert_eq!(plain, later);
        // A quoted comma is text, not a separator.
        let (r, p) = row("MAC000002,Std,2012-10-12 00:30:00.0000000,0.143,\"ACORN-A, x\",\"Aff \"\"q\"\"\"");
        assert_eq!(&**p.dicts.acorn.value(r.acorn), "ACORN-A, x");
        assert_eq!(&**p.dicts.acorn_grouped.value(r.acorn_grouped), "Aff \"q\"");
    }

    #[test]
    fn sample_date_format() {
        let a = row("MAC000002,Std,12/10/2012 00:30,0.143,ACORN-A,Affluent").0;
        let b = row("MAC000002,Std,2012-10-12 00:30:00.0000000,0.143,ACORN-A,Affluent").0;
        assert_eq!(a, b);
    }

    #[test]
    fn blank_and_header_lines_are_skipped() {
        assert_eq!(six("").0, Line::Blank);
        assert_eq!(six("\r").0, Line::Blank);
        assert_eq!(six("   ").0, Line::Blank);
        assert_eq!(six(crate::layout::HEADER_SIX).0, Line::Header);
        assert_eq!(six(&format!("{}\r", crate::layout::HEADER_SIX)).0, Line::Header);
        assert_eq!(six(crate::layout::HEADER_FOUR).0, Line::Reject(Reason::OtherHeader));
    }

    #[test]
    fn every_reject_reason() {
        let cases = [
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A", Reason::FieldCount { expected: 6, found: 5 }),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent,x", Reason::FieldCount { expected: 6, found: 7 }),
            ("MAC000002", Reason::FieldCount { expected: 6, found: 1 }),
            ("\"MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::UnterminatedQuote),
            (",Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::EmptyLclid),
            ("  ,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::EmptyLclid),
            (",,,,,", Reason::EmptyLclid),
            ("MAC000002,Std,2013-02-30 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadDateTime),
            ("MAC000002,Std,,0.1,ACORN-A,Affluent", Reason::BadDateTime),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,abc,ACORN-A,Affluent", Reason::BadKwh),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1.2,ACORN-A,Affluent", Reason::BadKwh),
            // Issue 15: what is not LCL data, however it is written.
            // Only a whole header is a header: `LCLid` alone is a bad LCLid.
            ("LCLid,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Affluent", Reason::BadLclid),
            ("lclid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped,x", Reason::FieldCount { expected: 6, found: 7 }),
            ("LCLid,x", Reason::FieldCount { expected: 6, found: 2 }),
            // A BOM anywhere but at the file's start (the reader removes that one).
            ("\u{feff}MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::ByteOrderMark),
            ("\u{feff}LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped", Reason::ByteOrderMark),
            ("MAC000002,Std\u{feff},2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::ByteOrderMark),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,\u{feff}Affluent", Reason::ByteOrderMark),
            // LCLids not of the release's form.
            ("MAC000002\0,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("MAC\u{1}000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("mac000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("MAC00002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("MAC0000002x,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("MAC00000000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            ("MAC 000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadLclid),
            // Control characters in the other text fields.
            ("MAC000002,Std\u{7},2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::ControlCharacter),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A\0,Affluent", Reason::ControlCharacter),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affl\u{7f}uent", Reason::ControlCharacter),
            // Years no reading of the trial can have.
            ("MAC000002,Std,0000-01-01 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::YearOutOfRange),
            ("MAC000002,Std,9999-12-31 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::YearOutOfRange),
            ("MAC000002,Std,12/10/9999 00:30,0.1,ACORN-A,Affluent", Reason::YearOutOfRange),
            ("MAC000002,Std,9999-02-30 00:30:00.0000000,0.1,ACORN-A,Affluent", Reason::BadDateTime),
            // kWh beyond the bound, in every form.
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,999999999999,ACORN-A,Affluent", Reason::KwhOutOfRange),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,9e9,ACORN-A,Affluent", Reason::KwhOutOfRange),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,1e10,ACORN-A,Affluent", Reason::KwhOutOfRange),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,-1000.5,ACORN-A,Affluent", Reason::KwhOutOfRange),
            ("MAC000002,Std,2012-10-12 00:30:00.0000000,\"1001\",ACORN-A,Affluent", Reason::KwhOutOfRange),
        ];
        let ok = "MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent";
        for (line, reason) in cases {
            assert_eq!(six(line).0, Line::Reject(reason), "{line:?}");
            // The same after an accepted row of the household: the run path rejects too.
            let mut p = Parser::new(Layout::Six, None);
            assert!(matches!(p.parse_line(ok.as_bytes()), Line::Row(_)));
            assert_eq!(p.parse_line(line.as_bytes()), Line::Reject(reason), "after a row: {line:?}");
        }
        // Each reason has its own text, so rejects.csv tells them apart.
        let reasons: std::collections::BTreeSet<String> = cases.iter().map(|c| format!("{:?}", c.1)).collect();
        let texts: std::collections::BTreeSet<String> = cases.iter().map(|c| c.1.to_string()).collect();
        assert_eq!(texts.len(), reasons.len(), "{texts:?}");
        let mut p = Parser::new(Layout::Six, None);
        assert_eq!(
            p.parse_line(b"MAC000002,St\xff,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent"),
            Line::Reject(Reason::NotUtf8)
        );
    }

    /// Issue 15: rows at the bounds of the data's forms are accepted.
    #[test]
    fn rows_at_the_bounds_are_accepted() {
        for (at, line) in [
            ("LCLid", "MAC0000000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,Affluent"),
            ("years", "MAC000002,Std,2000-01-01 00:00:00.0000000,0.1,ACORN-A,Affluent"),
            ("years", "MAC000002,Std,2030-12-31 23:30:00.0000000,0.1,ACORN-A,Affluent"),
            ("kWh", "MAC000002,Std,2012-10-12 00:30:00.0000000,1000,ACORN-A,Affluent"),
            ("kWh", "MAC000002,Std,2012-10-12 00:30:00.0000000,-1e3,ACORN-A,Affluent"),
        ] {
            assert!(matches!(six(line).0, Line::Row(_)), "at the bound of {at}: {line}");
        }
    }

    #[test]
    fn four_column_layout_joins_households() {
        let mut h = Households::default();
        h.by_id.insert(
            "MAC000002".into(),
            Household {
                tariff: "Std".into(),
                acorn: "ACORN-A".into(),
                acorn_grouped: "Affluent".into(),
            },
        );
        let mut p = Parser::new(Layout::Four, Some(Arc::new(h)));
        let Line::Row(r) = p.parse_line(b"MAC000002,Std,2012-10-12 00:30:00.0000000, 0.2 \r") else { panic!() };
        assert_eq!(&**p.dicts.acorn_grouped.value(r.acorn_grouped), "Affluent");
        assert_eq!(r.kwh, Kwh::Value(200_000));
        assert_eq!(p.parse_line(b"MAC000009,Std,2012-10-12 00:30:00.0000000,0.2"), Line::Reject(Reason::UnknownHousehold));
        assert_eq!(
            p.parse_line(b"MAC000002,Std,2012-10-12 00:30:00.0000000,0.2,ACORN-A,Affluent"),
            Line::Reject(Reason::FieldCount { expected: 4, found: 6 })
        );
    }

    /// A line as strings and values, whatever the parser's dictionary keys.
    fn resolved(p: &Parser, l: Line) -> String {
        match l {
            Line::Row(r) => format!(
                "{} {} {} {:?} {} {}",
                p.dicts.lclid.value(r.lclid),
                p.dicts.tariff.value(r.tariff),
                r.dt.micros,
                r.kwh,
                p.dicts.acorn.value(r.acorn),
                p.dicts.acorn_grouped.value(r.acorn_grouped)
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn run_path_gives_what_a_fresh_parser_gives() {
        let lines = [
            "MAC000002,Std,2012-10-12 00:30:00.0000000, 0 ,ACORN-A,Affluent\r",
            "MAC000002,Std,2012-10-12 01:00:00.0000000,0.143 ,ACORN-A,Affluent\r",
            "MAC000002,Std,2012-10-12 01:30:00.0000000,Null,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-12 02:00:00.0000000,,ACORN-A,Affluent\r",
            "MAC000002,Std,2012-10-13 00:00:00.0000000,1.5,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 00:00,1.5,ACORN-A,Affluent",
            "MAC000002,Std,13/10/2012 00:30,1.5,ACORN-A,Affluent",
            "MAC000002,Std, 2012-10-13 01:00:00.0000000 ,2,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 01:30:00.0000000,\"0.5\",ACORN-A,Affluent",
            "MAC000002,Std,\"2012-10-13 01:30:00.0000000\",0.5,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,0.5,0.6,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,0.5 ,ACORN-A,Affluent,x",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,abc,ACORN-A,Affluent",
            "MAC000002,Std,2013-02-30 02:00:00.0000000,1,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 25:00:00.0000000,1,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,1e-3,ACORN-A,Affluent",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,1,ACORN-A,\"Affluent\"",
            "MAC000002,Std,2012-10-13 02:00:00.0000000,1,ACORN-B,Affluent",
            "MAC000002,Std,2012-10-13 02:30:00.0000000,1,ACORN-B,Affluent",
            "MAC000002,ToU,2012-10-13 02:30:00.0000000,1,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 02:30:00.0000000,1,ACORN-B,Affluent",
            "MAC000003,ToU,,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 03:00:00.0000000,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 03:00:00.0000000,1,2,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 03:00:00.0000000,1,ACORN-B,Affluent",
            "",
            "LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped",
            "MAC000003,ToU,2012-10-13 03:30:00.0000000,1,ACORN-B,Affluent",
            "MAC000003,ToU,9999-10-13 03:30:00.0000000,1,ACORN-B,Affluent",
            "MAC000003,ToU,9999-10-13 04:00:00.0000000,1,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 04:00:00.0000000,1e4,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 04:00:00.0000000,1000.001,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 04:00:00.0000000,1000,ACORN-B,Affluent",
            "MAC000003,ToU,2012-10-13 04:00:00.0000000,1,ACORN-B,Affluent\u{0}",
        ];
        let mut continuing = Parser::new(Layout::Six, None);
        for line in lines {
            let mut fresh = Parser::new(Layout::Six, None);
            let want = fresh.parse_line(line.as_bytes());
            let got = continuing.parse_line(line.as_bytes());
            assert_eq!(resolved(&continuing, got), resolved(&fresh, want), "{line}");
        }
    }

    #[test]
    fn run_path_in_the_four_column_layout() {
        let mut h = Households::default();
        for id in ["MAC000002", "MAC000003"] {
            h.by_id.insert(
                id.into(),
                Household {
                    tariff: "Std".into(),
                    acorn: format!("ACORN-{}", &id[8..]),
                    acorn_grouped: "Affluent".into(),
                },
            );
        }
        let h = Arc::new(h);
        let lines = [
            "MAC000002,Std,2012-10-12 00:30:00.0000000, 0.2 \r",
            "MAC000002,Std,2012-10-12 01:00:00.0000000,Null\r",
            "MAC000002,Std,2012-10-12 01:30:00.0000000,0.3,x",
            "MAC000002,Std,2012-10-12 01:30:00.0000000,\"0.3\"",
            "MAC000003,Std,2012-10-12 01:30:00.0000000,0.3",
            "MAC000003,Std,2012-10-12 02:00:00.0000000,0.4",
            "MAC000009,Std,2012-10-12 02:00:00.0000000,0.4",
        ];
        let mut continuing = Parser::new(Layout::Four, Some(h.clone()));
        for line in lines {
            let mut fresh = Parser::new(Layout::Four, Some(h.clone()));
            let want = fresh.parse_line(line.as_bytes());
            let got = continuing.parse_line(line.as_bytes());
            assert_eq!(resolved(&continuing, got), resolved(&fresh, want), "{line}");
        }
    }

    #[test]
    fn same_compares_bytes() {
        for (a, b) in [("", ""), ("abc", "abc"), ("MAC000002,Std,", "MAC000002,Std,"), (",ACORN-A,Affluent", ",ACORN-A,Affluent")] {
            assert!(same(a.as_bytes(), b.as_bytes()));
        }
        for (a, b) in [("abc", "abd"), ("MAC000002,Std,", "MAC000003,Std,"), (",ACORN-A,Affluent", ",ACORN-A,Affluenx"), ("abcdefghi", "abcdefgh")] {
            assert!(!same(a.as_bytes(), b.as_bytes()));
        }
    }

    #[test]
    fn dictionary_keys_are_stable_across_runs() {
        let mut p = Parser::new(Layout::Six, None);
        let mut keys = Vec::new();
        for id in ["MAC000001", "MAC000001", "MAC000002", "MAC000001", "MAC000003", "MAC000002"] {
            let Line::Row(r) = p.parse_line(format!("{id},Std,2012-10-12 00:30:00.0000000,1,A,B").as_bytes()) else { panic!() };
            keys.push(r.lclid);
        }
        assert_eq!(keys, [0, 0, 1, 0, 2, 1]);
    }

    pub(crate) mod properties {
        use super::*;
        use proptest::prelude::*;

        pub(crate) const VALID: [&str; 4] = [
            "MAC000002,Std,2012-10-12 00:30:00.0000000, 0 ,ACORN-A,Affluent\r",
            "MAC000002,Std,2012-10-12 01:00:00.0000000,0.143 ,ACORN-A,Affluent\r",
            "MAC000003,ToU,13/10/2012 00:30,Null,ACORN-U,ACORN-U",
            "\"MAC000004\",Std,2013-01-01 23:30:00.0000000,\"1.5\",ACORN-,ACORN-",
        ];

        /// A valid line with a few bytes replaced, inserted or removed, from bytes that
        /// matter to the parser.
        pub(crate) fn mutated() -> impl Strategy<Value = Vec<u8>> {
            let byte = prop_oneof![
                Just(b','), Just(b'"'), Just(b'\r'), Just(b' '), Just(b'.'), Just(b'-'), Just(b'e'), Just(b':'),
                Just(b'/'), Just(b'9'), Just(b'0'), Just(0u8), Just(0xEF), Just(b'L'), any::<u8>(),
            ];
            let edit = (0u8..3, any::<prop::sample::Index>(), byte);
            (0..VALID.len(), proptest::collection::vec(edit, 0..4)).prop_map(|(v, edits)| {
                let mut line = VALID[v].as_bytes().to_vec();
                for (kind, at, b) in edits {
                    let i = at.index(line.len() + 1);
                    match kind {
                        0 if i < line.len() => line[i] = b,
                        1 => line.insert(i, b),
                        _ if i < line.len() => {
                            line.remove(i);
                        }
                        _ => {}
                    }
                }
                line
            })
        }

        /// What an accepted row promises: the data's forms and bounds.
        fn check_row(p: &Parser, l: Line) -> Result<(), TestCaseError> {
            if let Line::Row(r) = l {
                prop_assert!(is_lclid(p.dicts.lclid.value(r.lclid).as_bytes()));
                let year = r.dt.month.div_euclid(12) as u32;
                prop_assert!(datetime::YEARS.contains(&year));
                if let Kwh::Value(v) = r.kwh {
                    prop_assert!(v.abs() <= kwh::MAX_KWH * kwh::MICRO);
                }
            }
            Ok(())
        }

        fn same_as_fresh(lines: &[Vec<u8>]) -> Result<(), TestCaseError> {
            let mut continuing = Parser::new(Layout::Six, None);
            for line in lines {
                let mut fresh = Parser::new(Layout::Six, None);
                let want = fresh.parse_line(line);
                let got = continuing.parse_line(line);
                check_row(&continuing, got)?;
                prop_assert_eq!(resolved(&continuing, got), resolved(&fresh, want), "{:?}", String::from_utf8_lossy(line));
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]
            /// Any bytes: no panic, and a parser that has seen other lines (the run path)
            /// decides every line as a fresh one does.
            #[test]
            fn arbitrary_bytes(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..90), 1..8)) {
                same_as_fresh(&lines)?;
            }

            /// Valid lines with small mutations, after valid lines of the same household, so
            /// the run path sees them: the same decisions as a fresh parser, and accepted rows
            /// keep the data's forms and bounds.
            #[test]
            fn mutated_valid_lines(lines in proptest::collection::vec(mutated(), 1..12)) {
                let mut with_runs = Vec::new();
                for l in lines {
                    with_runs.push(VALID[0].as_bytes().to_vec());
                    with_runs.push(l);
                }
                same_as_fresh(&with_runs)?;
            }
        }
    }
}
