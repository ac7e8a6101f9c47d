//! A whole chunk: bytes → rows → Parquet part + partial aggregate + rejects.
//!
//! This is all the work a worker does; it is CPU-bound and synchronous, and the worker
//! actor runs it on a blocking thread. Its outputs are committed by rename under names
//! that depend only on the chunk, so a retried chunk produces the same files.
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregator, ChunkAggregate};
use crate::chunk::{read_lines, ChunkSpec, LineEvent};
use crate::error::{Error, Result};
use crate::layout::Households;
use crate::parquet_out::{properties, write_household_day_partial, PartWriter};
use crate::parse::{Line, Parser, Reason, Row};
use crate::storage::{household_day_partial_name, part_name, rejects_partial_name, FileWriter, Output};

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
    /// Replication and block size of files written to HDFS.
    #[serde(default)]
    pub hdfs: crate::hdfs::HdfsOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            batch_rows: 128 * 1024,
            row_group_rows: 1024 * 1024,
            zstd_level: 1,
            read_block: 8 << 20,
            hdfs: Default::default(),
        }
    }
}

/// A second destination for the accepted rows (MongoDB's readings collection), fed from
/// the same parse loop as the Parquet part. One per chunk attempt.
pub trait RowSink: Send {
    /// One accepted row. `id` is unique and stable across chunkings and re-runs: see
    /// [`row_id`].
    fn row(&mut self, id: i64, row: &Row, dicts: &crate::parse::Dicts) -> Result<()>;
    /// Waits until every row is stored.
    fn finish(self: Box<Self>) -> Result<SinkReport>;
}

/// What a [`RowSink`] did for one chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkReport {
    /// Rows newly stored (a retry finds its rows there and stores none).
    pub stored: u64,
    /// Seconds each write call took, its retries included: the store's write latency.
    pub write_seconds: Vec<f64>,
}

/// Opens a [`RowSink`] for each chunk attempt.
pub trait RowSinkFactory: Send + Sync + std::fmt::Debug {
    fn open(&self) -> Result<Box<dyn RowSink>>;
}

/// A row's id: its file's index in the job (high 23 bits) and the byte offset of its line
/// (low 40 bits, files up to 1 TiB). The same row gets the same id whatever the chunking,
/// the worker or the attempt.
pub fn row_id(file_index: u32, offset: u64) -> i64 {
    ((file_index as i64) << 40) | (offset as i64 & ((1 << 40) - 1))
}

/// What every chunk of a job shares.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub output: Output,
    pub households: Option<Arc<Households>>,
    pub settings: Settings,
    /// Where accepted rows also go, if anywhere.
    pub rows: Option<Arc<dyn RowSinkFactory>>,
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
    /// Rows newly stored by the row sink (0 without one, or when a retry found them there).
    #[serde(default)]
    pub rows_stored: u64,
    /// Seconds each of the row sink's write calls took.
    #[serde(default)]
    pub sink_write_seconds: Vec<f64>,
    /// Seconds spent closing and committing the chunk's files in the output.
    #[serde(default)]
    pub commit_seconds: f64,
}

/// Rejected lines of one chunk as `index,reason,raw`, with the line's index inside the
/// chunk; the master turns it into the file's line number once it knows how many lines
/// the earlier chunks of the file hold.
struct Rejects {
    out: FileWriter,
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
        .map_err(|e| Error::io("write", self.out.shown(), e))
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
    let mut writer = PartWriter::create(out.create(&part_rel, &tag)?, props.clone(), s.batch_rows)?;
    let mut parser = Parser::new(chunk.layout, job.households.clone());
    let mut agg = Aggregator::default();
    let rejects_rel = rejects_partial_name(chunk.id);
    let mut rejects: Option<Rejects> = None;
    let mut failure: Option<Error> = None;
    let mut sink = match &job.rows {
        Some(f) => Some(f.open()?),
        None => None,
    };

    let reject = |rejects: &mut Option<Rejects>, index: u64, reason: Reason, raw: &[u8]| -> Result<()> {
        if rejects.is_none() {
            *rejects = Some(Rejects {
                out: out.create(&rejects_rel, &tag)?,
            });
        }
        rejects.as_mut().expect("just created").write(index, reason, raw)
    };

    let read = read_lines(
        chunk,
        s.read_block,
        |index, offset, event| {
            if failure.is_some() {
                return;
            }
            let result = match event {
                LineEvent::Text(line) => match parser.parse_line(line) {
                    Line::Row(r) => {
                        agg.add(&r);
                        let stored = match &mut sink {
                            Some(s) => s.row(row_id(chunk.file_index, offset), &r, &parser.dicts),
                            None => Ok(()),
                        };
                        stored.and_then(|_| writer.push(&r, &parser.dicts))
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
        drop((writer, rejects, sink));
        out.discard(&part_rel, &tag);
        out.discard(&rejects_rel, &tag);
        return Err(e);
    }

    let write_started = Instant::now();
    let encode_before_finish = writer.encode_nanos;
    let part = writer.finish(&parser.dicts)?;
    let parquet_bytes = part.bytes;
    agg.totals.lines = read.lines;
    agg.totals.input_bytes = read.bytes;
    let (aggregate, days) = agg.finish(&parser.dicts);

    let hd_rel = household_day_partial_name(chunk.id);
    // Rows are stored before any file is committed: a committed part means stored rows.
    let sunk = match sink {
        Some(s) => s.finish()?,
        None => SinkReport::default(),
    };
    let commit_started = Instant::now();
    if out.exists(&part_rel)? {
        // Another attempt committed this chunk (the part goes last, so all of it): this
        // one is late, maybe after the job was sealed and `_state/` emptied, and must not
        // put its partials back there.
        drop(rejects);
        out.discard(&rejects_rel, &tag);
        out.discard(&part_rel, &tag);
    } else {
        let hd = write_household_day_partial(out.create(&hd_rel, &tag)?, &days, props)?;
        out.commit(hd, &hd_rel)?;
        if let Some(r) = rejects {
            out.commit(r.out.close()?, &rejects_rel)?;
        }
        // The part goes last: once it is visible, everything it depends on is too.
        out.commit(part, &part_rel)?;
    }
    let commit_seconds = commit_started.elapsed().as_secs_f64();

    let total = started.elapsed().as_secs_f64();
    let read_s = read.read_nanos as f64 / 1e9;
    let encode = encode_before_finish as f64 / 1e9;
    let write = write_started.elapsed().as_secs_f64();
    Ok(ChunkReport {
        chunk: chunk.id,
        attempt,
        aggregate,
        parquet_bytes,
        rows_stored: sunk.stored,
        sink_write_seconds: sunk.write_seconds,
        commit_seconds,
        seconds: total,
        stages: StageSeconds {
            read: read_s,
            parse: (total - read_s - encode - write).max(0.0),
            encode,
            write,
        },
    })
}
