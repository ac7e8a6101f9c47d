//! Cutting input files into byte ranges, and reading the lines a range owns.
//!
//! The rule is Hadoop's line reader: a line belongs to the chunk in which it starts. A
//! chunk `[start, end)` that does not begin the file skips through the first newline at or
//! after `start - 1`, then reads every line that starts before `end`, reading past `end`
//! to finish the last one. So every line is read by exactly one chunk, whatever the chunk
//! size, and a chunk never needs its neighbours.
//!
//! One length rule holds whatever the chunk size and read block: a line whose text (without
//! its `\n` or `\r\n`, and the file's byte-order mark) is longer than [`MAX_LINE`] is
//! reported as too long; any other line is handed over whole. The reader keeps an
//! unfinished line until it ends or is certainly too long, so it holds at most
//! `MAX_LINE` bytes and one read block.
//!
//! The file is read as the master planned it ([`FileIdentity`]): never past the planned
//! length, and a file that is shorter, or whose length or modification time changed (checked
//! at open and after the last read), fails the chunk naming the file.
//!
//! Reads are large sequential `pread`s (or HDFS range reads) into one reused buffer, so a worker's memory is a
//! few MiB whatever the chunk or file size.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::input::{FileIdentity, InputFile, InputReader};
use crate::layout::{Layout, BOM};
use crate::store::{HdfsOptions, Location};

/// One unit of work: a byte range of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpec {
    /// Position in the job's chunk table; names the Parquet part.
    pub id: u32,
    /// Index of the file in the job's file list.
    pub file_index: u32,
    pub path: Location,
    pub layout: Layout,
    pub start: u64,
    pub end: u64,
    /// The file as the job planned it: the reader checks it is still so.
    pub file: FileIdentity,
}

impl ChunkSpec {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Cuts every file into chunks of at most `chunk_size` bytes, in file order.
pub fn plan(files: &[InputFile], chunk_size: u64) -> Vec<ChunkSpec> {
    let chunk_size = chunk_size.max(1);
    let mut chunks = Vec::new();
    for (file_index, f) in files.iter().enumerate() {
        let mut start = 0;
        while start < f.len {
            let end = (start + chunk_size).min(f.len);
            chunks.push(ChunkSpec {
                id: chunks.len() as u32,
                file_index: file_index as u32,
                path: f.path.clone(),
                layout: f.layout,
                start,
                end,
                file: f.identity(),
            });
            start = end;
        }
    }
    chunks
}

/// A line longer than this is reported as too long and skipped (memory stays bounded).
pub const MAX_LINE: usize = 1 << 20;

/// What the reader hands over for each line the chunk owns.
pub enum LineEvent<'a> {
    /// The line without its `\n` (a `\r` may remain). A BOM at the file's start is removed.
    Text(&'a [u8]),
    /// A line over [`MAX_LINE`]: its first bytes (at least `MAX_LINE`, or the whole
    /// line), for the reject report.
    TooLong(&'a [u8]),
}

/// Counts from reading one chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines owned by the chunk (every line, blank and header ones too).
    pub lines: u64,
    /// Bytes of the file owned by the chunk (`end - start`).
    pub bytes: u64,
    /// Time spent waiting for reads.
    pub read_nanos: u64,
}

/// The file's first line loses its UTF-8 byte-order mark; no other line has one.
fn without_bom(line: &[u8], file_start: bool) -> &[u8] {
    if file_start {
        line.strip_prefix(BOM).unwrap_or(line)
    } else {
        line
    }
}

/// The length of a line's text: without the `\r` of a `\r\n` line end. Of the start of an
/// unfinished line, it is at most its final length, whatever follows.
#[inline]
fn text_len(line: &[u8]) -> usize {
    line.len() - line.ends_with(b"\r") as usize
}

/// A line of the chunk: too long, or its text.
#[inline]
fn event(line: &[u8], max_line: usize) -> LineEvent<'_> {
    if line.len() > max_line && text_len(line) > max_line {
        LineEvent::TooLong(line)
    } else {
        LineEvent::Text(line)
    }
}

/// Reads the lines owned by `chunk`, calling `on_line(index_in_chunk, offset_in_file, line)`
/// for each and
/// `on_progress(bytes)` as the range is consumed. `block` is the read size; `hdfs`, how an
/// input in HDFS is read.
pub fn read_lines(
    chunk: &ChunkSpec,
    block: usize,
    hdfs: &HdfsOptions,
    on_line: impl FnMut(u64, u64, LineEvent<'_>),
    on_progress: impl FnMut(u64),
) -> Result<ReadStats> {
    read_lines_with(chunk, block.max(4096), MAX_LINE, hdfs, on_line, on_progress)
}

/// [`read_lines`] with any read block and line limit, so tests can try small ones.
fn read_lines_with(
    chunk: &ChunkSpec,
    block: usize,
    max_line: usize,
    hdfs: &HdfsOptions,
    mut on_line: impl FnMut(u64, u64, LineEvent<'_>),
    mut on_progress: impl FnMut(u64),
) -> Result<ReadStats> {
    let file = InputReader::open_with(&chunk.path, hdfs)?;
    file.check(&chunk.path, &chunk.file)?;
    // Never past the planned length: a file that grew ends there.
    let limit = chunk.file.len;
    let block = block.max(1);
    // Zeroed once as it grows, not on every read: `len` bytes of it hold data.
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    // File offset of buf[0].
    let mut base = chunk.start.saturating_sub(1);
    let mut read_pos = base;
    let mut skipping = chunk.start > 0;
    // Inside a line already reported as too long: its bytes up to the newline are dropped.
    let mut too_long = false;
    let mut index = 0u64;
    let mut reported = 0u64;
    let mut read_nanos = 0u64;
    loop {
        let filled = len;
        if buf.len() < filled + block {
            buf.resize(filled + block, 0);
        }
        let want = (block as u64).min(limit.saturating_sub(read_pos)) as usize;
        let n = if want == 0 {
            0
        } else {
            let t = std::time::Instant::now();
            let n = file.read_at(&mut buf[filled..filled + want], read_pos)?;
            read_nanos += t.elapsed().as_nanos() as u64;
            if n == 0 {
                return Err(Error::InputChanged {
                    path: chunk.path.shown(),
                    reason: format!("it ends at byte {read_pos}, the job planned {limit} bytes"),
                });
            }
            n
        };
        len = filled + n;
        read_pos += n as u64;
        let eof = read_pos >= limit;
        if read_pos < chunk.end {
            // Short of the chunk's end, the next read is certain: this block's size at read_pos.
            file.read_ahead(read_pos, (block as u64).min(limit - read_pos) as usize);
        }
        let mut i = 0usize;
        if skipping {
            match memchr::memchr(b'\n', &buf[..len]) {
                Some(nl) => {
                    i = nl + 1;
                    skipping = false;
                }
                None if eof => break,
                None => {
                    base += len as u64;
                    len = 0;
                    continue;
                }
            }
        }
        let mut done = false;
        loop {
            let line_start = base + i as u64;
            if line_start >= chunk.end {
                done = true;
                break;
            }
            let Some(nl) = memchr::memchr(b'\n', &buf[i..len]) else { break };
            if too_long {
                too_long = false; // the tail of a line already reported
            } else {
                let line = without_bom(&buf[i..i + nl], index == 0 && chunk.start == 0);
                on_line(index, line_start, event(line, max_line));
                index += 1;
            }
            i += nl + 1;
        }
        let line_start = base + i as u64;
        if !done && eof && i < len && line_start < chunk.end {
            // The last line of the file, without a newline.
            if !too_long {
                let line = without_bom(&buf[i..len], index == 0 && chunk.start == 0);
                on_line(index, line_start, event(line, max_line));
                index += 1;
            }
            done = true;
        }
        let consumed = (base + i as u64).clamp(chunk.start, chunk.end) - chunk.start;
        if consumed > reported {
            on_progress(consumed - reported);
            reported = consumed;
        }
        if done || eof {
            break;
        }
        // Keep the unfinished line; drop what was read.
        buf.copy_within(i..len, 0);
        len -= i;
        base += i as u64;
        if !too_long {
            let line = without_bom(&buf[..len], index == 0 && chunk.start == 0);
            if text_len(line) > max_line {
                // Certainly too long, whatever follows: reported now, its rest dropped.
                on_line(index, base, LineEvent::TooLong(line));
                index += 1;
                too_long = true;
            }
        }
        if too_long {
            base += len as u64;
            len = 0;
        }
    }
    // After the last read: a file that changed while it was read fails the chunk too.
    file.check(&chunk.path, &chunk.file)?;
    if chunk.len() > reported {
        on_progress(chunk.len() - reported);
    }
    Ok(ReadStats {
        lines: index,
        bytes: chunk.len(),
        read_nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    /// The file as a job would plan it now (its length and modification time).
    fn planned(path: &Path) -> InputFile {
        let id = FileIdentity::of(&std::fs::metadata(path).unwrap());
        InputFile {
            path: path.into(),
            len: id.len,
            layout: Layout::Six,
            modified_ns: id.modified_ns,
        }
    }

    /// Every event of every chunk: (chunk, index, offset, too long, bytes).
    type Events = Vec<(u32, u64, u64, bool, Vec<u8>)>;

    fn events_of(file: &InputFile, chunk_size: u64, block: usize, max_line: usize) -> Result<Events> {
        let mut out = Vec::new();
        for c in plan(std::slice::from_ref(file), chunk_size) {
            let id = c.id;
            let before = out.len();
            let stats = read_lines_with(
                &c,
                block,
                max_line,
                &HdfsOptions::default(),
                |i, offset, l| match l {
                    LineEvent::Text(t) => out.push((id, i, offset, false, t.to_vec())),
                    LineEvent::TooLong(t) => out.push((id, i, offset, true, t.to_vec())),
                },
                |_| {},
            )?;
            assert_eq!(stats.lines as usize, out.len() - before, "chunk {id} counts its lines");
            assert!(out[before..].iter().enumerate().all(|(k, e)| e.1 == k as u64), "indices count from 0 in chunk {id}");
        }
        Ok(out)
    }

    fn lines_of(path: &Path, chunk_size: u64, block: usize) -> Vec<Vec<u8>> {
        let events = events_of(&planned(path), chunk_size, block.max(4096), MAX_LINE).unwrap();
        events.into_iter().map(|e| if e.3 { b"<too long>".to_vec() } else { e.4 }).collect()
    }

    /// What the reader must hand over, by the rule in the module's doc, from the whole
    /// file at once: (offset, too long, the line's text, or the start of a long one).
    fn expected(bytes: &[u8], max_line: usize) -> Vec<(u64, bool, Vec<u8>)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |n| start + n);
            let line = without_bom(&bytes[start..end], start == 0);
            out.push((start as u64, text_len(line) > max_line, line.to_vec()));
            start = end + 1;
        }
        out
    }

    fn check_against_rule(bytes: &[u8], events: &Events, max_line: usize, what: &str) {
        let want = expected(bytes, max_line);
        assert_eq!(events.len(), want.len(), "{what}: every line once");
        for (e, w) in events.iter().zip(&want) {
            assert_eq!((e.2, e.3), (w.0, w.1), "{what}: line at {}", w.0);
            if w.1 {
                // A long line's report holds its start: at least `max_line` bytes of it.
                assert!(w.2.starts_with(&e.4) && e.4.len() > max_line, "{what}: prefix at {}", w.0);
            } else {
                assert_eq!(e.4, w.2, "{what}: line at {} whole", w.0);
            }
        }
    }

    #[test]
    fn every_line_exactly_once_for_any_chunk_and_block_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let text = "\u{feff}h\r\nalpha\r\n\r\nbe\nc\r\nlonger line here\nlast-no-newline";
        std::fs::write(&p, text).unwrap();
        let want: Vec<Vec<u8>> = ["h\r", "alpha\r", "\r", "be", "c\r", "longer line here", "last-no-newline"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        for chunk_size in 1..=text.len() as u64 + 1 {
            assert_eq!(lines_of(&p, chunk_size, 4096), want, "chunk size {chunk_size}");
        }
    }

    #[test]
    fn small_blocks_and_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("line {i} {}\n", "x".repeat(i % 97)));
        }
        std::fs::write(&p, &text).unwrap();
        for chunk_size in [1, 7, 1000, 4096, 65536, 1 << 30] {
            let got = lines_of(&p, chunk_size, 4096);
            assert_eq!(got.len(), 5000, "chunk size {chunk_size}");
            for (n, l) in got.iter().enumerate() {
                assert!(l.starts_with(format!("line {n} ").as_bytes()));
            }
        }
    }

    #[test]
    fn overlong_line_is_reported_once_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let text = format!("a\n{}\nb\n", "y".repeat(MAX_LINE * 3));
        std::fs::write(&p, &text).unwrap();
        let got = lines_of(&p, 1 << 40, 1 << 16);
        assert_eq!(got, [&b"a"[..], b"<too long>", b"b"]);
    }

    /// Issue 15: a line just over `MAX_LINE` was handed over when it fitted in a read block
    /// and rejected when it did not; one just under must always come whole.
    #[test]
    fn the_line_limit_is_one_rule_whatever_the_chunk_and_block() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let x = |n: usize| "x".repeat(n);
        let text = format!(
            "\u{feff}{}\r\nshort\n{}\n{}\r\n{}\r\n{}\n{}",
            x(MAX_LINE),     // at the limit, after the BOM and before \r\n: whole
            x(MAX_LINE),     // at the limit: whole
            x(MAX_LINE + 1), // one over: too long
            x(MAX_LINE - 1) + "\r", // at the limit with a stray \r before \r\n: whole
            x(MAX_LINE + 5), // too long
            x(MAX_LINE + 1)  // the last line, no newline, too long
        );
        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        for chunk_size in [1 << 40, (MAX_LINE as u64) * 3 / 2, MAX_LINE as u64 + 1, 300_000] {
            for block in [4096, 1 << 16, 8 << 20] {
                let events = events_of(&file, chunk_size, block, MAX_LINE).unwrap();
                let verdicts: Vec<bool> = events.iter().map(|e| e.3).collect();
                assert_eq!(verdicts, [false, false, false, true, false, true, true], "chunks of {chunk_size}, blocks of {block}");
                check_against_rule(text.as_bytes(), &events, MAX_LINE, &format!("chunks of {chunk_size}, blocks of {block}"));
            }
        }
    }

    /// Issue 15: a file truncated or grown after the job was planned fails the chunk, named.
    #[test]
    fn a_file_that_changed_since_planning_fails_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let fails = |file: &InputFile, what: &str| {
            for chunk_size in [1 << 40, 4000] {
                let e = events_of(file, chunk_size, 4096, MAX_LINE).unwrap_err().to_string();
                assert!(e.contains("a.csv changed while the job ran") && e.contains(what), "{e}");
            }
        };
        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        std::fs::write(&p, &text[..text.len() / 2]).unwrap();
        fails(&file, &format!("it was {} bytes when the job was planned, it is {} bytes now", text.len(), text.len() / 2));

        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"more\n").unwrap();
        fails(&file, "bytes now");

        // Same length, rewritten later: the modification time tells.
        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(10)).unwrap();
        fails(&file, "modification time");
    }

    /// A file that grows while a chunk reads it is read up to the planned length only (its
    /// last line ends there), and the chunk fails after the last read.
    #[test]
    fn a_file_that_grows_while_read_is_read_to_the_planned_length_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        let chunk = &plan(std::slice::from_ref(&file), 1 << 40)[0];
        let mut lines = Vec::new();
        let e = read_lines_with(
            chunk,
            4096,
            MAX_LINE,
            &HdfsOptions::default(),
            |i, _, l| {
                if i == 0 {
                    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                    f.write_all(b"grown").unwrap();
                }
                if let LineEvent::Text(t) = l {
                    lines.push(t.to_vec());
                }
            },
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a.csv changed while the job ran"), "{e}");
        assert_eq!(lines.len(), 2000);
        assert_eq!(lines.last().unwrap(), b"line 1999", "nothing read past the planned length");

        // Truncated while read: a short read, named.
        std::fs::write(&p, &text).unwrap();
        let file = planned(&p);
        let chunk = &plan(std::slice::from_ref(&file), 1 << 40)[0];
        let e = read_lines_with(chunk, 4096, MAX_LINE, &HdfsOptions::default(), |i, _, _| if i == 0 { std::fs::write(&p, "x").unwrap() }, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.csv changed while the job ran") && e.contains(&format!("it ends at byte 4096, the job planned {} bytes", text.len())), "{e}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Bytes rich in what matters to a line reader: newlines, `\r`, the BOM's bytes.
        fn content() -> impl Strategy<Value = Vec<u8>> {
            let byte = prop_oneof![
                6 => Just(b'a'),
                3 => Just(b'\n'),
                2 => Just(b'\r'),
                1 => Just(0xEF),
                1 => Just(0xBB),
                1 => Just(0xBF),
                1 => any::<u8>(),
            ];
            (any::<bool>(), proptest::collection::vec(byte, 0..300)).prop_map(|(bom, body)| if bom { [BOM, &body].concat() } else { body })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            /// Every line is handed over once, whole or as too long by the one rule,
            /// whatever the chunk size, the read block and the line limit.
            #[test]
            fn every_line_once_by_one_length_rule(bytes in content(), chunk_size in 1u64..400, block in 1usize..80, max_line in 2usize..40) {
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("a.csv");
                std::fs::write(&p, &bytes).unwrap();
                let events = events_of(&planned(&p), chunk_size, block, max_line).unwrap();
                check_against_rule(&bytes, &events, max_line, &format!("chunks of {chunk_size}, blocks of {block}, limit {max_line}"));
            }
        }
    }
}
