//! A remote file read the way Parquet reads: many small ranges near each other.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::Source;
use crate::error::{Error, Result};

/// Bytes fetched per request by [`WindowedReader`], and how many such windows it keeps.
pub const WINDOW: usize = 256 << 10;
const WINDOWS: usize = 8;

/// Parquet's reader takes each page's header through a `Read` (a few bytes at a time) and
/// then the page's data by range, and interleaves the pages of every column; each request
/// to HDFS or an object store is a round trip, so the household-day merge of the 11 GB
/// file took 5.5 s on HDFS against 0.35 s from local disk. Reads smaller than [`WINDOW`]
/// are served from the last [`WINDOWS`] windows fetched (least recently used goes first),
/// a window being fetched at the first byte missed: a page header and its data then cost
/// one request, and memory stays at `WINDOW * WINDOWS` per open file whatever its size.
///
/// A window ends at the file's end rather than past it: Parquet opens a file by reading its
/// last 8 bytes, then the footer before them, then the pages from the start, so a file of
/// at most one window (a chunk's household-day partial, 130-137 KB at 128 MiB chunks) costs
/// one request instead of three, and a larger file's footer one instead of two.
#[derive(Clone)]
pub struct WindowedReader {
    file: Arc<dyn Source>,
    windows: Arc<Mutex<VecDeque<(u64, Bytes)>>>,
    requests: Arc<AtomicU64>,
}

impl WindowedReader {
    pub fn new(file: Arc<dyn Source>) -> WindowedReader {
        WindowedReader {
            file,
            windows: Arc::default(),
            requests: Arc::default(),
        }
    }

    /// How many reads this file (and its clones) asked of its store.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> u64 {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// Fetches the window that a Parquet reader's first reads (the footer's length, then
    /// the footer) will hit.
    pub fn fetch_footer(&self) -> Result<()> {
        let n = self.len().min(8);
        if n == 0 {
            return Ok(());
        }
        self.bytes(self.len() - n, n as usize).map(drop)
    }

    /// `len` bytes at `start`, which must lie inside the file.
    pub fn bytes(&self, start: u64, len: usize) -> Result<Bytes> {
        let end = start.checked_add(len as u64).filter(|&e| e <= self.len()).ok_or_else(|| Error::Corrupt {
            path: self.file.url().into(),
            reason: format!("a read of {len} bytes at {start} goes past the end ({} bytes): the file is damaged", self.len()),
        })?;
        let mut windows = self.windows.lock().expect("not poisoned");
        if let Some(i) = windows.iter().position(|(at, b)| *at <= start && end <= at + b.len() as u64) {
            let (at, b) = windows.remove(i).expect("found");
            let from = (start - at) as usize;
            let slice = b.slice(from..from + len);
            windows.push_back((at, b));
            return Ok(slice);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        if len >= WINDOW {
            drop(windows);
            return self.file.read_range(start, len);
        }
        let at = start.min(self.len().saturating_sub(WINDOW as u64));
        let window = self.file.read_range(at, (WINDOW as u64).min(self.len() - at) as usize)?;
        if windows.len() >= WINDOWS {
            windows.pop_front();
        }
        windows.push_back((at, window.clone()));
        let from = (start - at) as usize;
        Ok(window.slice(from..from + len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;

    /// A file in memory that counts the ranges asked of it.
    struct Counted(Vec<u8>, Mutex<Vec<(u64, usize)>>);

    impl Source for Counted {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, _: &mut [u8], _: u64) -> Result<usize> {
            unreachable!("windows read ranges")
        }
        fn read_range(&self, pos: u64, n: usize) -> Result<Bytes> {
            self.1.lock().unwrap().push((pos, n));
            Ok(Bytes::copy_from_slice(&self.0[pos as usize..pos as usize + n]))
        }
        fn status(&self) -> Result<Option<Meta>> {
            Ok(None)
        }
        fn url(&self) -> String {
            "memory".into()
        }
    }

    fn file(len: usize) -> (Arc<Counted>, WindowedReader) {
        let f = Arc::new(Counted((0..len).map(|i| (i * 31 % 251) as u8).collect(), Mutex::default()));
        (f.clone(), WindowedReader::new(f))
    }

    #[test]
    fn a_small_file_is_one_request_whatever_is_read_first() {
        let len = 100_000;
        let (f, r) = file(len);
        // Parquet's order: the last 8 bytes, the footer, then pages from the start.
        for (start, n) in [(len - 8, 8), (len - 3_000, 2_992), (4, 50_000), (60_000, 39_000)] {
            assert_eq!(r.bytes(start as u64, n).unwrap(), &f.0[start..start + n]);
        }
        assert_eq!(*f.1.lock().unwrap(), [(0, len)], "the whole file, once");
        assert_eq!(r.requests(), 1);
    }

    #[test]
    fn a_large_files_footer_is_one_request_and_windows_stay_inside_the_file() {
        let len = 3 * WINDOW + 1_000;
        let (f, r) = file(len);
        for (start, n) in [(len - 8, 8), (len - 40_000, 39_992), (10, 1_000), (WINDOW + 5, 10), (len - WINDOW / 2, 100)] {
            assert_eq!(r.bytes(start as u64, n).unwrap(), &f.0[start..start + n], "{n} bytes at {start}");
        }
        let asked = f.1.lock().unwrap().clone();
        assert_eq!(asked, [((len - WINDOW) as u64, WINDOW), (10, WINDOW), (WINDOW as u64 + 5, WINDOW)], "the footer's window ends at the end; later reads hit it");
        assert!(r.bytes(len as u64 - 4, 8).is_err(), "a read past the end is an error");
        // A read of a window or more goes to the file as it is.
        assert_eq!(r.bytes(0, WINDOW).unwrap(), &f.0[..WINDOW]);
        assert_eq!(f.1.lock().unwrap().last(), Some(&(0, WINDOW)));
    }
}
