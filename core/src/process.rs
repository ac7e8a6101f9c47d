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
use crate::storage::{household_day_partial_name, part_name, rejects_partial_name, FileWriter, Output, Written};

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
    pub hdfs: crate::store::HdfsOptions,
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

/// Processes one chunk for one attempt by `worker`: [`produce_chunk`], then
/// [`Produced::commit`]. `progress` receives input bytes as they are done.
pub fn process_chunk(
    job: &JobSpec,
    chunk: &ChunkSpec,
    attempt: u32,
    worker: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<ChunkReport> {
    produce_chunk(job, chunk, attempt, worker, progress)?.commit()
}

/// A chunk read, parsed and encoded, its files written and closing but not committed:
/// what [`produce_chunk`] leaves to [`Produced::commit`]. A worker commits one chunk while
/// it produces the next, so the waits for the store (the rows' inserts, a DataNode's
/// acknowledgement, the NameNode's `complete()`, the renames) overlap with work. It holds
/// no buffers: those are freed on the thread that filled them.
pub struct Produced {
    chunk: u32,
    attempt: u32,
    started: Instant,
    write_started: Instant,
    out: Output,
    /// `None` when another attempt had committed the chunk: nothing to commit.
    files: Option<ChunkFiles>,
    aggregate: ChunkAggregate,
    parquet_bytes: u64,
    sink: Option<Box<dyn RowSink>>,
    read_nanos: u64,
    encode_nanos: u64,
}

/// A chunk's closing files.
struct ChunkFiles {
    part: Written,
    household_days: Written,
    rejects: Option<Written>,
}

/// Reads, parses and encodes one chunk for one attempt by `worker`; its files are
/// finished and committed by [`Produced::commit`].
pub fn produce_chunk(
    job: &JobSpec,
    chunk: &ChunkSpec,
    attempt: u32,
    worker: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<Produced> {
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
        &s.hdfs,
        |index, offset, event| {
            if failure.is_some() {
                return;
            }
            let result = match event {
                LineEvent::Text(line) => match parser.parse_line(line) {
                    Line::Row(r) => agg.add(&r).and_then(|()| {
                        let stored = match &mut sink {
                            Some(s) => s.row(row_id(chunk.file_index, offset), &r, &parser.dicts),
                            None => Ok(()),
                        };
                        stored.and_then(|_| writer.push(&r, &parser.dicts))
                    }),
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
    let encode_nanos = writer.encode_nanos;
    let part = writer.finish(&parser.dicts)?;
    let parquet_bytes = part.bytes;
    agg.totals.lines = read.lines;
    agg.totals.input_bytes = read.bytes;
    let (aggregate, days) = agg.finish(&parser.dicts)?;
    let files = if out.exists(&part_rel)? {
        // Another attempt committed this chunk (the part goes last, so all of it): this
        // one is late, maybe after the job was sealed and `_state/` emptied, and must not
        // put its partials back there.
        drop(rejects);
        out.discard(&rejects_rel, &tag);
        out.discard(&part_rel, &tag);
        None
    } else {
        // Every file is closed before the first commit: on HDFS the closes then overlap.
        let hd_rel = household_day_partial_name(chunk.id);
        let household_days = write_household_day_partial(out.create(&hd_rel, &tag)?, &days, props)?;
        let rejects = rejects.map(|r| r.out.close()).transpose()?;
        Some(ChunkFiles { part, household_days, rejects })
    };
    Ok(Produced {
        chunk: chunk.id,
        attempt,
        started,
        write_started,
        out: out.clone(),
        files,
        aggregate,
        parquet_bytes,
        sink,
        read_nanos: read.read_nanos,
        encode_nanos,
    })
}

impl Produced {
    /// The chunk this is.
    pub fn chunk(&self) -> u32 {
        self.chunk
    }

    /// Its attempt.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Waits for the chunk's rows to be stored and its files to be closed, then commits
    /// the files under names that depend only on the chunk, the part last.
    pub fn commit(self) -> Result<ChunkReport> {
        let chunk = self.chunk;
        // Rows are stored before any file is committed: a committed part means stored rows.
        let sunk = match self.sink {
            Some(s) => s.finish()?,
            None => SinkReport::default(),
        };
        let commit_started = Instant::now();
        if let Some(f) = self.files {
            let out = &self.out;
            out.commit(f.household_days, &household_day_partial_name(chunk))?;
            if let Some(r) = f.rejects {
                out.commit(r, &rejects_partial_name(chunk))?;
            }
            // The part goes last: once it is visible, everything it depends on is too.
            out.commit(f.part, &part_name(chunk))?;
        }
        let commit_seconds = commit_started.elapsed().as_secs_f64();

        let total = self.started.elapsed().as_secs_f64();
        let read_s = self.read_nanos as f64 / 1e9;
        let encode = self.encode_nanos as f64 / 1e9;
        let write = self.write_started.elapsed().as_secs_f64();
        Ok(ChunkReport {
            chunk,
            attempt: self.attempt,
            aggregate: self.aggregate,
            parquet_bytes: self.parquet_bytes,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Dim, JobAggregate, Stats, Totals};
    use crate::chunk::plan;
    use crate::input::resolve;
    use crate::layout::HEADER_SIX;
    use crate::parse::tests::properties::{mutated, VALID};
    use crate::storage::Output;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    type Groups = Vec<((Dim, String, i32), Stats, usize)>;

    /// A job's results, comparable whatever the chunking: totals, groups (with their
    /// household counts), profile, and every reject as (line in the file, reason, raw).
    type Results = (Totals, Groups, BTreeMap<(String, u8), (u64, i64)>, Vec<String>);

    fn run(path: &Path, chunk_size: u64, out: &Path) -> Results {
        let input = resolve(path.to_str().unwrap(), None).unwrap();
        let output = Output::local(out);
        output.prepare().unwrap();
        let job = JobSpec {
            output: output.clone(),
            households: None,
            settings: Settings::default(),
            rows: None,
        };
        let mut agg = JobAggregate::default();
        let mut rejects = Vec::new();
        let mut lines_before = 0;
        for c in plan(&input.files, chunk_size) {
            let r = process_chunk(&job, &c, 1, "t", &mut |_| {}).unwrap();
            let t = &r.aggregate.totals;
            assert_eq!(t.lines, t.rows + t.rejected + t.header_lines + t.blank_lines, "chunk {} accounts for every line", c.id);
            if let Some(csv) = output.read(&rejects_partial_name(c.id)).unwrap() {
                for line in String::from_utf8(csv).unwrap().lines() {
                    let (index, rest) = line.split_once(',').unwrap();
                    rejects.push(format!("{},{rest}", lines_before + index.parse::<u64>().unwrap() + 1));
                }
            }
            lines_before += t.lines;
            agg.merge(&r.aggregate).unwrap();
        }
        let groups = agg.groups.iter().map(|(k, (s, h))| (k.clone(), *s, h.len())).collect();
        (agg.totals, groups, agg.profile.clone(), rejects)
    }

    /// Issue 15: the report of an over-long line kept 256 bytes of it; like every other
    /// reject it keeps the first 1,000, whatever the chunk size.
    #[test]
    fn an_over_long_line_keeps_its_first_thousand_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        let long = format!("MAC000002,Std,2012-10-12 00:30:00.0000000,0.1,ACORN-A,{}", "x".repeat(crate::chunk::MAX_LINE));
        std::fs::write(&p, format!("{HEADER_SIX}\r\n{}\r\n{long}\r\n{}\r\n", VALID[1].trim_end(), VALID[2])).unwrap();
        for chunk_size in [1 << 40, 100_000] {
            let (totals, _, _, rejects) = run(&p, chunk_size, &dir.path().join(format!("out-{chunk_size}")));
            assert_eq!((totals.rows, totals.rejected), (2, 1));
            assert_eq!(rejects.len(), 1);
            let raw = rejects[0].strip_prefix("3,line longer than 1 MiB,").unwrap();
            assert_eq!(raw, csv_field(&format!("{}…", &long[..RAW_MAX])), "chunks of {chunk_size}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Valid, mutated, blank and header lines: every chunk accounts for each of its
        /// lines, and the results (rejects and their line numbers included) are the same
        /// whatever the chunk size.
        #[test]
        fn results_do_not_depend_on_the_chunk_size(
            lines in proptest::collection::vec(prop_oneof![
                4 => (0..VALID.len()).prop_map(|i| VALID[i].as_bytes().to_vec()),
                4 => mutated(),
                1 => Just(Vec::new()),
                1 => Just(HEADER_SIX.as_bytes().to_vec()),
            ], 1..60),
            chunk_size in 20u64..1500,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("a.csv");
            let mut text = format!("{HEADER_SIX}\r\n").into_bytes();
            for l in &lines {
                text.extend_from_slice(l);
                text.push(b'\n');
            }
            std::fs::write(&p, &text).unwrap();
            let whole = run(&p, 1 << 40, &dir.path().join("whole"));
            let split = run(&p, chunk_size, &dir.path().join("split"));
            prop_assert_eq!(whole.0.lines, text.iter().filter(|&&b| b == b'\n').count() as u64);
            prop_assert_eq!(split, whole);
        }
    }
}
