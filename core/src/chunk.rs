//! Cutting input files into byte ranges, and reading the lines a range owns.
//!
//! The rule is Hadoop's line reader: a line belongs to the chunk in which it starts. A
//! chunk `[start, end)` that does not begin the file skips through the first newline at or
//! after `start - 1`, then reads every line that starts before `end`, reading past `end`
//! to finish the last one. So every line is read by exactly one chunk, whatever the chunk
//! size, and a chunk never needs its neighbours.
//!
//! Reads are large sequential `pread`s (or HDFS range reads) into one reused buffer, so a worker's memory is a
//! few MiB whatever the chunk or file size.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::{InputFile, InputReader};
use crate::layout::{Layout, BOM};

/// One unit of work: a byte range of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpec {
    /// Position in the job's chunk table; names the Parquet part.
    pub id: u32,
    /// Index of the file in the job's file list.
    pub file_index: u32,
    pub path: PathBuf,
    pub layout: Layout,
    pub start: u64,
    pub end: u64,
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
    /// A line over [`MAX_LINE`]: its first bytes, for the reject report.
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

/// Reads the lines owned by `chunk`, calling `on_line(index_in_chunk, offset_in_file, line)`
/// for each and
/// `on_progress(bytes)` as the range is consumed. `block` is the read size.
pub fn read_lines(
    chunk: &ChunkSpec,
    block: usize,
    mut on_line: impl FnMut(u64, u64, LineEvent<'_>),
    mut on_progress: impl FnMut(u64),
) -> Result<ReadStats> {
    let file = InputReader::open(&chunk.path)?;
    let block = block.max(4096);
    // Zeroed once as it grows, not on every read: `len` bytes of it hold data.
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    // File offset of buf[0].
    let mut base = chunk.start.saturating_sub(1);
    let mut read_pos = base;
    let mut skipping = chunk.start > 0;
    let mut too_long = false;
    let mut index = 0u64;
    let mut reported = 0u64;
    let mut read_nanos = 0u64;
    loop {
        let filled = len;
        if buf.len() < filled + block {
            buf.resize(filled + block, 0);
        }
        let t = std::time::Instant::now();
        let n = file.read_at(&mut buf[filled..filled + block], read_pos)?;
        read_nanos += t.elapsed().as_nanos() as u64;
        len = filled + n;
        read_pos += n as u64;
        let eof = n == 0;
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
                on_line(index, line_start, LineEvent::Text(without_bom(&buf[i..i + nl], index == 0 && chunk.start == 0)));
                index += 1;
            }
            i += nl + 1;
        }
        let line_start = base + i as u64;
        if !done && eof && i < len && line_start < chunk.end {
            // The last line of the file, without a newline.
            if !too_long {
                on_line(index, line_start, LineEvent::Text(without_bom(&buf[i..len], index == 0 && chunk.start == 0)));
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
        if len > MAX_LINE && !too_long {
            on_line(index, base, LineEvent::TooLong(&buf[..256]));
            index += 1;
            too_long = true;
        }
        if too_long {
            base += len as u64;
            len = 0;
        }
    }
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
    use std::path::Path;

    fn lines_of(path: &Path, len: u64, chunk_size: u64, block: usize) -> Vec<(u32, u64, Vec<u8>)> {
        let mut out = Vec::new();
        let file = InputFile {
            path: path.to_owned(),
            len,
            layout: Layout::Six,
        };
        for c in plan(&[file], chunk_size) {
            let id = c.id;
            let stats = read_lines(
                &c,
                block,
                |i, _, l| match l {
                    LineEvent::Text(t) => out.push((id, i, t.to_vec())),
                    LineEvent::TooLong(_) => out.push((id, i, b"<too long>".to_vec())),
                },
                |_| {},
            )
            .unwrap();
            assert_eq!(stats.lines as usize, out.iter().filter(|l| l.0 == id).count());
        }
        out
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
            let got: Vec<Vec<u8>> = lines_of(&p, text.len() as u64, chunk_size, 4096).into_iter().map(|l| l.2).collect();
            assert_eq!(got, want, "chunk size {chunk_size}");
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
            let got = lines_of(&p, text.len() as u64, chunk_size, 4096);
            assert_eq!(got.len(), 5000, "chunk size {chunk_size}");
            for (n, l) in got.iter().enumerate() {
                assert!(l.2.starts_with(format!("line {n} ").as_bytes()));
            }
        }
    }

    #[test]
    fn overlong_line_is_reported_once_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let text = format!("a\n{}\nb\n", "y".repeat(MAX_LINE * 3));
        std::fs::write(&p, &text).unwrap();
        let got = lines_of(&p, text.len() as u64, 1 << 40, 1 << 16);
        let texts: Vec<&[u8]> = got.iter().map(|l| l.2.as_slice()).collect();
        assert_eq!(texts, [&b"a"[..], b"<too long>", b"b"]);
    }
}
