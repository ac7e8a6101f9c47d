//! A whole chunk: bytes → rows → Parquet part + partial aggregate + rejects.
//!
//! This is all the work a worker does; it is CPU-bound and synchronous, and the worker
//! actor runs it on a blocking thread. Its outputs are committed by rename under names
//! that depend only on the chunk, so a retried chunk produces the same files.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregator, ChunkAggregate};
use crate::chunk::{read_lines, ChunkSpec, LineEvent};
use crate::error::{Error, Result};
use crate::layout::Households;
use crate::parquet_out::{properties, write_household_day_partial, PartWriter};
use crate::parse::{Line, Parser, Reason};
use crate::storage::{household_day_partial_name, part_name, rejects_partial_name, Output};

/// Tuning knobs of the chunk pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Rows per Arrow record batch handed to the Parquet encoder.
    pub batch_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level of every Parquet file.
    pub zstd_level: i32,
    /// Bytes per read from the input.
    pub read_block: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_rows: 128 * 1024,
            row_group_rows: 1024 * 1024,
            zstd_level: 1,
            read_block: 8 << 20,
        }
    }
}

/// What every chunk of a job shares.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub output: Output,
    pub households: Option<Arc<Households>>,
    pub settings: Settings,
}

/// Where a chunk's time went, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSeconds {
    pub read: f64,
    pub parse: f64,
    pub encode: f64,
    pub write: f64,
}

impl StageSeconds {
    /// The stages with their names, as the metrics label them.
    pub fn by_name(&self) -> [(&'static str, f64); 4] {
        [("read", self.read), ("parse", self.parse), ("encode", self.encode), ("write", self.write)]
    }
}

/// A finished chunk, as reported to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkReport {
    pub chunk: u32,
    pub attempt: u32,
    pub aggregate: ChunkAggregate,
    pub parquet_bytes: u64,
    pub stages: StageSeconds,
    /// Wall time of the whole chunk.
    pub seconds: f64,
}

/// Rejected lines of one chunk as `index,reason,raw`, with the line's index inside the
/// chunk; the master turns it into the file's line number once it knows how many lines
/// the earlier chunks of the file hold.
struct Rejects {
    out: BufWriter<File>,
    path: std::path::PathBuf,
}

/// Longest raw text kept for a rejected line.
const RAW_MAX: usize = 1000;

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

impl Rejects {
    fn create(path: &Path) -> Result<Rejects> {
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        Ok(Rejects {
            out: BufWriter::new(f),
            path: path.to_owned(),
        })
    }

    fn write(&mut self, index: u64, reason: Reason, raw: &[u8]) -> Result<()> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut text = String::from_utf8_lossy(&raw[..raw.len().min(RAW_MAX)]).into_owned();
        if raw.len() > RAW_MAX {
            text.push('…');
        }
        writeln!(
            self.out,
            "{},{},{}",
            index,
            csv_field(&reason.to_string()),
            csv_field(&text)
        )
        .map_err(|e| Error::io("write", &self.path, e))
    }

    fn finish(self) -> Result<()> {
        let f = self.out.into_inner().map_err(|e| Error::io("write", &self.path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("sync", &self.path, e))
    }
}

/// Processes one chunk for one attempt by `worker`. `progress` receives input bytes as
/// they are done.
pub fn process_chunk(
    job: &JobSpec,
    chunk: &ChunkSpec,
    attempt: u32,
    worker: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<ChunkReport> {
    let tag = format!("{worker}.a{attempt}");
    let started = Instant::now();
    let out = &job.output;
    let s = &job.settings;
    let props = properties(s.zstd_level, s.row_group_rows)?;
    let part_rel = part_name(chunk.id);
    let part_tmp = out.temp_path(&part_rel, &tag);
    let mut writer = PartWriter::create(&part_tmp, props.clone(), s.batch_rows)?;
    let mut parser = Parser::new(chunk.layout, job.households.clone());
    let mut agg = Aggregator::default();
    let rejects_rel = rejects_partial_name(chunk.id);
    let rejects_tmp = out.temp_path(&rejects_rel, &tag);
    let mut rejects: Option<Rejects> = None;
    let mut failure: Option<Error> = None;

    let reject = |rejects: &mut Option<Rejects>, index: u64, reason: Reason, raw: &[u8]| -> Result<()> {
        if rejects.is_none() {
            *rejects = Some(Rejects::create(&rejects_tmp)?);
        }
        rejects.as_mut().expect("just created").write(index, reason, raw)
    };

    let read = read_lines(
        chunk,
        s.read_block,
        |index, event| {
            if failure.is_some() {
                return;
            }
            let result = match event {
                LineEvent::Text(line) => match parser.parse_line(line) {
                    Line::Row(r) => {
                        agg.add(&r);
                        writer.push(&r, &parser.dicts)
                    }
                    Line::Blank => {
                        agg.totals.blank_lines += 1;
                        Ok(())
                    }
                    Line::Header => {
                        agg.totals.header_lines += 1;
                        Ok(())
                    }
                    Line::Reject(reason) => {
                        agg.totals.rejected += 1;
                        reject(&mut rejects, index, reason, line)
                    }
                },
                LineEvent::TooLong(prefix) => {
                    agg.totals.rejected += 1;
                    reject(&mut rejects, index, Reason::LineTooLong, prefix)
                }
            };
            if let Err(e) = result {
                failure = Some(e);
            }
        },
        progress,
    )?;
    if let Some(e) = failure {
        let _ = std::fs::remove_file(&part_tmp);
        let _ = std::fs::remove_file(&rejects_tmp);
        return Err(e);
    }

    let write_started = Instant::now();
    let encode_before_finish = writer.encode_nanos;
    let parquet_bytes = writer.finish(&parser.dicts)?;
    agg.totals.lines = read.lines;
    agg.totals.input_bytes = read.bytes;
    let (aggregate, days) = agg.finish(&parser.dicts);

    let hd_rel = household_day_partial_name(chunk.id);
    let hd_tmp = out.temp_path(&hd_rel, &tag);
    write_household_day_partial(&hd_tmp, &days, props)?;
    out.commit(&hd_tmp, &hd_rel)?;
    if let Some(r) = rejects {
        r.finish()?;
        out.commit(&rejects_tmp, &rejects_rel)?;
    }
    // The part goes last: once it is visible, everything it depends on is too.
    out.commit(&part_tmp, &part_rel)?;

    let total = started.elapsed().as_secs_f64();
    let read_s = read.read_nanos as f64 / 1e9;
    let encode = encode_before_finish as f64 / 1e9;
    let write = write_started.elapsed().as_secs_f64();
    Ok(ChunkReport {
        chunk: chunk.id,
        attempt,
        aggregate,
        parquet_bytes,
        seconds: total,
        stages: StageSeconds {
            read: read_s,
            parse: (total - read_s - encode - write).max(0.0),
            encode,
            write,
        },
    })
}
