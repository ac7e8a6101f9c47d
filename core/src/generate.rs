//! Data in the real LCL format, quirks included, deterministic for a seed.
//!
//! The real file cannot be downloaded on the project's machines, so tests and benchmarks
//! use this. It writes what the published release holds: CRLF line ends, the header with
//! its trailing space, kWh padded with spaces (` 0 `, `0.143 `), `Null` readings, a few
//! households with nothing but `Null`, repeated (LCLid, DateTime) pairs, `ACORN-U` and
//! blank `ACORN-` households, Std and ToU tariffs, sorted by LCLid then DateTime. The
//! 4-column layout also writes `informations_households.csv` beside the data.
//!
//! 5,566 households over the full period (829 days from 2011-11-23) give a file of about
//! 11.6 GB and 170 M rows, like the release.
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::datetime::{civil_from_days, days_from_civil};
use crate::error::{Error, Result};
use crate::layout::{Layout, HEADER_FOUR, HEADER_SIX, HOUSEHOLDS_FILE, HOUSEHOLDS_HEADER};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub households: u32,
    /// Length of the trial period in days, from 2011-11-23 (829 is the real period).
    pub days: u32,
    pub seed: u64,
    pub layout: Layout,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            households: 5566,
            days: FULL_PERIOD_DAYS,
            seed: 1,
            layout: Layout::Six,
        }
    }
}

/// 2011-11-23 to 2014-02-28 inclusive.
pub const FULL_PERIOD_DAYS: u32 = 829;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub households_file: Option<PathBuf>,
}

/// SplitMix64: small, fast, and stable across versions (the output must never change for
/// a seed, or golden figures would).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Acorn categories with their share of households, roughly as in the trial.
const ACORNS: [(&str, &str, f64); 19] = [
    ("ACORN-A", "Affluent", 2.8),
    ("ACORN-B", "Affluent", 0.5),
    ("ACORN-C", "Affluent", 2.7),
    ("ACORN-D", "Affluent", 5.1),
    ("ACORN-E", "Affluent", 25.3),
    ("ACORN-F", "Comfortable", 12.5),
    ("ACORN-G", "Comfortable", 1.9),
    ("ACORN-H", "Comfortable", 7.3),
    ("ACORN-I", "Comfortable", 1.2),
    ("ACORN-J", "Comfortable", 2.1),
    ("ACORN-K", "Adversity", 2.9),
    ("ACORN-L", "Adversity", 6.7),
    ("ACORN-M", "Adversity", 2.1),
    ("ACORN-N", "Adversity", 2.6),
    ("ACORN-O", "Adversity", 2.1),
    ("ACORN-P", "Adversity", 2.1),
    ("ACORN-Q", "Adversity", 14.0),
    ("ACORN-U", "ACORN-U", 0.9),
    ("ACORN-", "ACORN-", 0.1),
];

/// Relative consumption by half hour: a night trough, a morning bump, an evening peak.
fn slot_shape(slot: usize) -> f64 {
    let h = slot as f64 / 2.0;
    let morning = (-((h - 7.5) / 1.5).powi(2)).exp() * 0.6;
    let evening = (-((h - 18.5) / 2.2).powi(2)).exp() * 1.3;
    0.55 + morning + evening
}

/// One household's plan.
struct Household {
    id: String,
    tariff: &'static str,
    acorn: &'static str,
    grouped: &'static str,
    first_day: u32,
    last_day: u32,
    /// Mean kWh per half hour.
    scale: f64,
    all_null: bool,
}

fn plan(spec: &Spec) -> Vec<Household> {
    let mut rng = Rng::new(spec.seed ^ 0x005E_ED0F_1C1D);
    let total: f64 = ACORNS.iter().map(|a| a.2).sum();
    let mut number = 2u32;
    let mut out = Vec::with_capacity(spec.households as usize);
    for i in 0..spec.households {
        if i > 0 {
            number += 1 + (rng.below(60) == 0) as u32; // ids with gaps
        }
        let mut pick = rng.unit() * total;
        let mut acorn = &ACORNS[0];
        for a in &ACORNS {
            acorn = a;
            if pick < a.2 {
                break;
            }
            pick -= a.2;
        }
        let tariff = if rng.below(100) < 20 { "ToU" } else { "Std" };
        let days = spec.days.max(1);
        // Recruitment spread over the first 40% of the trial; 10% leave early.
        let first_day = rng.below((days * 2 / 5).max(1) as u64) as u32;
        let mut last_day = days - 1;
        if rng.below(10) == 0 {
            last_day = first_day + rng.below((last_day - first_day + 1) as u64) as u32;
        }
        let all_null = rng.below(400) == 0;
        if all_null {
            last_day = (first_day + 2).min(days - 1);
        }
        let scale = 0.21 * (0.35 + 1.3 * rng.unit() + 0.5 * rng.unit() * rng.unit());
        out.push(Household {
            id: format!("MAC{number:06}"),
            tariff,
            acorn: acorn.0,
            grouped: acorn.1,
            first_day,
            last_day,
            scale: if tariff == "ToU" { scale * 0.93 } else { scale },
            all_null,
        });
    }
    out
}

/// Appends a kWh value in milli-kWh the way the release pads it: ` 0 ` or `0.143 `.
#[inline]
fn push_kwh(buf: &mut Vec<u8>, milli: u32) {
    if milli == 0 {
        buf.extend_from_slice(b" 0 ");
        return;
    }
    let int = milli / 1000;
    let mut frac = milli % 1000;
    let mut tmp = itoa_u32(int);
    buf.extend_from_slice(&tmp.0[tmp.1..]);
    if frac != 0 {
        buf.push(b'.');
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        tmp = itoa_u32(frac);
        for _ in 0..digits - (10 - tmp.1) {
            buf.push(b'0');
        }
        buf.extend_from_slice(&tmp.0[tmp.1..]);
    }
    buf.push(b' ');
}

fn itoa_u32(mut v: u32) -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let mut i = 10;
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return (b, i);
        }
    }
}

/// Writes buffers on a thread of its own, so that making rows and copying them into the
/// page cache overlap (the copy costs the kernel more than the rows cost us).
struct Writer {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    back: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<File>>>,
}

const BUF: usize = 4 << 20;

impl Writer {
    fn new(mut file: File) -> Writer {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (back_tx, back) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        for _ in 0..3 {
            back_tx.send(Vec::with_capacity(BUF)).expect("the channel has room");
        }
        let thread = std::thread::spawn(move || {
            for mut buf in rx {
                file.write_all(&buf)?;
                buf.clear();
                let _ = back_tx.try_send(buf);
            }
            file.flush()?;
            Ok(file)
        });
        Writer {
            tx: Some(tx),
            back,
            thread: Some(thread),
        }
    }

    /// Hands a full buffer over and returns an empty one.
    fn swap(&mut self, full: Vec<u8>) -> std::io::Result<Vec<u8>> {
        let broken = || std::io::Error::other("the writer thread stopped");
        self.tx.as_ref().expect("open").send(full).map_err(|_| broken())?;
        self.back.recv().map_err(|_| broken())
    }

    fn finish(mut self, last: Vec<u8>) -> std::io::Result<File> {
        let tx = self.tx.take().expect("open");
        let sent = tx.send(last);
        drop(tx);
        let file = self.thread.take().expect("running").join().map_err(|_| std::io::Error::other("the writer thread panicked"))?;
        sent.map_err(|_| std::io::Error::other("the writer thread stopped"))?;
        file
    }
}

/// Writes the data file (and, for the 4-column layout, the households file beside it).
pub fn generate(spec: &Spec, out: &Path) -> Result<Written> {
    let start = days_from_civil(2011, 11, 23);
    // Readings of later years would be rejected (see `datetime::YEARS`).
    let max_days = (days_from_civil(*crate::datetime::YEARS.end() as i32, 12, 31) - start + 1) as u32;
    if spec.days > max_days {
        return Err(Error::TooManyDays { days: spec.days, max: max_days });
    }
    let households = plan(spec);
    let file = File::create(out).map_err(|e| Error::io("create", out, e))?;
    let mut w = Writer::new(file);
    let io = |e| Error::io("write", out, e);
    let header = match spec.layout {
        Layout::Six => HEADER_SIX,
        Layout::Four => HEADER_FOUR,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(BUF);
    buf.extend_from_slice(header.as_bytes());
    buf.extend_from_slice(b"\r\n");
    let shapes: Vec<f64> = (0..48).map(slot_shape).collect();
    let shape_mean = shapes.iter().sum::<f64>() / 48.0;
    let times: Vec<String> = (0..48).map(|s| format!(" {:02}:{:02}:00.0000000,", s / 2, (s % 2) * 30)).collect();
    let mut rows = 0u64;
    for (i, h) in households.iter().enumerate() {
        let mut rng = Rng::new(spec.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let prefix = format!("{},{},", h.id, h.tariff);
        let suffix = match spec.layout {
            Layout::Six => format!(",{},{}\r\n", h.acorn, h.grouped),
            Layout::Four => "\r\n".to_string(),
        };
        for d in h.first_day..=h.last_day {
            let (y, m, day) = civil_from_days(start + d as i32);
            let date = format!("{y:04}-{m:02}-{day:02}");
            // Winter uses more than summer.
            let season = 1.0 + 0.3 * ((m as f64 - 1.0) / 12.0 * std::f64::consts::TAU).cos();
            let day_factor = h.scale * season / shape_mean * (0.8 + 0.4 * rng.unit());
            // Readings start at 00:30 on a household's first day, as in the release.
            let first_slot = if d == h.first_day { 1 } else { 0 };
            for (slot, time) in times.iter().enumerate().skip(first_slot) {
                let repeats = if rng.below(1500) == 0 { 2 } else { 1 };
                let null = h.all_null || rng.below(12_000) == 0;
                let noise = 0.3 + 1.4 * rng.unit();
                let milli = (day_factor * shapes[slot] * noise * 1000.0).round().max(0.0) as u32;
                for _ in 0..repeats {
                    buf.extend_from_slice(prefix.as_bytes());
                    buf.extend_from_slice(date.as_bytes());
                    buf.extend_from_slice(time.as_bytes());
                    if null {
                        buf.extend_from_slice(b"Null");
                    } else {
                        push_kwh(&mut buf, milli);
                    }
                    buf.extend_from_slice(suffix.as_bytes());
                    rows += 1;
                }
            }
            if buf.len() > BUF - 16384 {
                buf = w.swap(buf).map_err(io)?;
            }
        }
    }
    let file = w.finish(buf).map_err(io)?;
    let bytes = file.metadata().map_err(|e| Error::io("stat", out, e))?.len();
    let households_file = match spec.layout {
        Layout::Six => None,
        Layout::Four => {
            let path = out.with_file_name(HOUSEHOLDS_FILE);
            let mut text = format!("{HOUSEHOLDS_HEADER}\r\n");
            for (i, h) in households.iter().enumerate() {
                text.push_str(&format!("{},{},{},{},block_{}\r\n", h.id, h.tariff, h.acorn, h.grouped, i / 50));
            }
            std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
            Some(path)
        }
    };
    Ok(Written {
        rows,
        bytes,
        households_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwh_padding() {
        let f = |m| {
            let mut b = Vec::new();
            push_kwh(&mut b, m);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(0), " 0 ");
        assert_eq!(f(143), "0.143 ");
        assert_eq!(f(5), "0.005 ");
        assert_eq!(f(50), "0.05 ");
        assert_eq!(f(1500), "1.5 ");
        assert_eq!(f(2000), "2 ");
        assert_eq!(f(12034), "12.034 ");
    }

    #[test]
    fn deterministic_and_in_the_real_format() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            households: 30,
            days: 20,
            seed: 7,
            layout: Layout::Six,
        };
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        let wa = generate(&spec, &a).unwrap();
        generate(&spec, &b).unwrap();
        let text = std::fs::read(&a).unwrap();
        assert_eq!(text, std::fs::read(&b).unwrap(), "same seed, same bytes");
        assert_eq!(wa.bytes as usize, text.len());
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with(&format!("{HEADER_SIX}\r\n")));
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len() as u64, wa.rows + 1);
        assert!(lines[1..].iter().all(|l| l.split(',').count() == 6));
        assert!(lines.windows(2).skip(1).all(|w| w[0] <= w[1]), "sorted by LCLid then DateTime");
        assert!(text.contains(", 0 ,") || text.contains(" ,"), "padded kWh");
        let other = generate(&Spec { seed: 8, ..spec.clone() }, &b).unwrap();
        assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert!(other.rows > 0);
    }

    #[test]
    fn four_column_layout_writes_households() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("CC_LCL-FullData.csv");
        let spec = Spec {
            households: 5,
            days: 3,
            seed: 1,
            layout: Layout::Four,
        };
        let w = generate(&spec, &p).unwrap();
        let hh = std::fs::read_to_string(w.households_file.unwrap()).unwrap();
        assert!(hh.starts_with(HOUSEHOLDS_HEADER));
        assert_eq!(hh.lines().count(), 6);
        let data = std::fs::read_to_string(&p).unwrap();
        assert!(data.lines().skip(1).all(|l| l.split(',').count() == 4));
    }
}
