//! The Parquet files wattswarm writes, and the writer that fills a part from parsed rows.
//!
//! Parts have typed columns `lclid`, `tariff`, `ts`, `kwh`, `acorn`, `acorn_grouped`;
//! the strings are Arrow dictionaries (plain Parquet pages: see [`properties`]), `ts` is a
//! timestamp without zone, delta-encoded since readings come every 30 minutes, and
//! everything is zstd-compressed. Columns are built directly from the parser's dictionary
//! keys, so no string is copied per row.
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, BooleanBufferBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::aggregate::HouseholdDay;
use crate::error::{Error, Result};
use crate::kwh;
use crate::parse::{Dict, Dicts, Row};
use crate::storage::{FileWriter, ParquetSource, Written};

fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The schema of a data part.
pub fn part_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("lclid", dict_type(), false),
        Field::new("tariff", dict_type(), false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), false),
        Field::new("kwh", DataType::Float64, true),
        Field::new("acorn", dict_type(), false),
        Field::new("acorn_grouped", dict_type(), false),
    ]))
}

/// The schema of `household_day.parquet`.
pub fn household_day_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("lclid", dict_type(), false),
        Field::new("day", DataType::Date32, false),
        Field::new("readings", DataType::Int64, false),
        Field::new("kwh_sum", DataType::Float64, false),
    ]))
}

/// The schema of a chunk's household-day partial (exact micro-kWh, for the merge).
fn household_day_partial_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("lclid", DataType::Utf8, false),
        Field::new("day", DataType::Int32, false),
        Field::new("readings", DataType::Int64, false),
        Field::new("kwh_sum_micro", DataType::Int64, false),
    ]))
}

/// Writer settings shared by every file.
pub fn properties(zstd_level: i32, row_group_rows: usize) -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(zstd_level).map_err(|e| Error::Corrupt {
        path: PathBuf::from("<config>"),
        reason: format!("zstd level {zstd_level}: {e}"),
    })?;
    let mut b = WriterProperties::builder();
    // The strings repeat in runs (a household's 48 readings a day share all four), so zstd
    // packs their plain pages as small as dictionary pages (+0.3% on the 1 GB file); the
    // dictionary encoder's hash per value cost 13% of a chunk's instructions.
    for c in ["lclid", "tariff", "acorn", "acorn_grouped"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(c), false);
    }
    // Min/max of a household's attributes span nearly the whole range in every row group
    // (each holds dozens of households), so they would prune nothing; computing them cost
    // another 11%. `lclid` and `ts`, which households' order makes selective, keep theirs.
    for c in ["tariff", "acorn", "acorn_grouped"] {
        b = b.set_column_statistics_enabled(ColumnPath::from(c), EnabledStatistics::None);
    }
    Ok(b
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_column_dictionary_enabled(ColumnPath::from("ts"), false)
        .set_column_encoding(ColumnPath::from("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("day"), false)
        .set_column_encoding(ColumnPath::from("day"), Encoding::DELTA_BINARY_PACKED)
        // Household-days: a day's count is nearly always 48, which delta packing stores in
        // almost nothing without a hash per value. The sums keep their dictionary: a day's
        // total in Wh takes a few thousand values, and plain pages were 65% larger.
        .set_column_dictionary_enabled(ColumnPath::from("readings"), false)
        .set_column_encoding(ColumnPath::from("readings"), Encoding::DELTA_BINARY_PACKED)
        .build())
}

type Sink = ArrowWriter<FileWriter>;

fn create(file: FileWriter, schema: SchemaRef, props: WriterProperties) -> Result<(Sink, PathBuf)> {
    let path = PathBuf::from(file.shown());
    let sink = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::Parquet {
        path: path.clone(),
        source: e,
    })?;
    Ok((sink, path))
}

/// Closes a writer and makes the file durable.
fn close(sink: Sink, path: &std::path::Path) -> Result<Written> {
    sink.into_inner()
        .map_err(|e| Error::Parquet {
            path: path.to_owned(),
            source: e,
        })?
        .close()
}

/// Column buffers of one record batch.
#[derive(Default)]
struct Columns {
    lclid: Vec<i32>,
    tariff: Vec<i32>,
    ts: Vec<i64>,
    kwh: Vec<f64>,
    valid: Option<BooleanBufferBuilder>,
    acorn: Vec<i32>,
    grouped: Vec<i32>,
}

impl Columns {
    /// Room for a whole batch, so that no column grows (and copies itself) while it fills.
    fn with_capacity(rows: usize) -> Columns {
        Columns {
            lclid: Vec::with_capacity(rows),
            tariff: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            kwh: Vec::with_capacity(rows),
            valid: None,
            acorn: Vec::with_capacity(rows),
            grouped: Vec::with_capacity(rows),
        }
    }
}

/// Writes one data part from parsed rows, in batches of `batch_rows`.
pub struct PartWriter {
    sink: Sink,
    path: PathBuf,
    cols: Columns,
    batch_rows: usize,
    /// Time spent encoding and compressing, for the stage metrics.
    pub encode_nanos: u64,
}

impl PartWriter {
    pub fn create(file: FileWriter, props: WriterProperties, batch_rows: usize) -> Result<PartWriter> {
        let (sink, path) = create(file, part_schema(), props)?;
        let batch_rows = batch_rows.max(1024);
        Ok(PartWriter {
            sink,
            path,
            cols: Columns::with_capacity(batch_rows),
            batch_rows,
            encode_nanos: 0,
        })
    }

    /// Buffers one row; writes a batch when full.
    #[inline]
    pub fn push(&mut self, r: &Row, dicts: &Dicts) -> Result<()> {
        let c = &mut self.cols;
        c.lclid.push(r.lclid as i32);
        c.tariff.push(r.tariff as i32);
        c.ts.push(r.dt.micros);
        c.acorn.push(r.acorn as i32);
        c.grouped.push(r.acorn_grouped as i32);
        match r.kwh {
            kwh::Kwh::Value(v) => {
                c.kwh.push(kwh::to_f64(v));
                if let Some(b) = &mut c.valid {
                    b.append(true);
                }
            }
            kwh::Kwh::Missing => {
                let n = c.kwh.len();
                c.kwh.push(0.0);
                let b = c.valid.get_or_insert_with(|| {
                    let mut b = BooleanBufferBuilder::new(self.batch_rows);
                    b.append_n(n, true);
                    b
                });
                b.append(false);
            }
        }
        if c.lclid.len() >= self.batch_rows {
            self.write_batch(dicts)?;
        }
        Ok(())
    }

    fn write_batch(&mut self, dicts: &Dicts) -> Result<()> {
        if self.cols.lclid.is_empty() {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let c = std::mem::take(&mut self.cols);
        let dict = |keys: Vec<i32>, d: &Dict| -> Result<ArrayRef> {
            let values = StringArray::from_iter_values(d.values().iter().map(|s| &**s));
            Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                Int32Array::new(ScalarBuffer::from(keys), None),
                Arc::new(values),
            )?))
        };
        let kwh = Float64Array::new(ScalarBuffer::from(c.kwh), c.valid.map(|mut b| NullBuffer::new(b.finish())));
        let batch = RecordBatch::try_new(
            part_schema(),
            vec![
                dict(c.lclid, &dicts.lclid)?,
                dict(c.tariff, &dicts.tariff)?,
                Arc::new(TimestampMicrosecondArray::new(ScalarBuffer::from(c.ts), None)),
                Arc::new(kwh),
                dict(c.acorn, &dicts.acorn)?,
                dict(c.grouped, &dicts.acorn_grouped)?,
            ],
        )?;
        write(&mut self.sink, &self.path, &batch)?;
        self.cols = Columns::with_capacity(self.batch_rows);
        self.encode_nanos += t.elapsed().as_nanos() as u64;
        Ok(())
    }

    /// Writes the last batch and closes the file.
    pub fn finish(mut self, dicts: &Dicts) -> Result<Written> {
        self.write_batch(dicts)?;
        close(self.sink, &self.path)
    }
}

/// Writes a chunk's household-days (sorted, exact) for the master's merge.
pub fn write_household_day_partial(file: FileWriter, days: &[HouseholdDay], props: WriterProperties) -> Result<Written> {
    let mut w = HouseholdDayPartialWriter::create(file, props)?;
    for d in days {
        w.push(&d.0, d.1, d.2, d.3)?;
    }
    w.finish()
}

/// Rows per record batch of the household-day files.
const DAY_BATCH: usize = 64 * 1024;

/// The columns of one household-day batch as they fill: the LCLids' bytes and offsets
/// (no allocation per row), the day, the reading count and the exact sum.
struct DayColumns {
    ids: StringBuilder,
    days: Vec<i32>,
    readings: Vec<i64>,
    sums: Vec<i64>,
}

impl DayColumns {
    fn new() -> DayColumns {
        DayColumns {
            ids: StringBuilder::with_capacity(DAY_BATCH, DAY_BATCH * 9),
            days: Vec::with_capacity(DAY_BATCH),
            readings: Vec::with_capacity(DAY_BATCH),
            sums: Vec::with_capacity(DAY_BATCH),
        }
    }
}

/// Streams sorted household-days (exact micro-kWh) into a partial: a worker writes one per
/// chunk, and the master's intermediate merges write these too.
pub struct HouseholdDayPartialWriter {
    sink: Sink,
    path: PathBuf,
    cols: DayColumns,
}

impl HouseholdDayPartialWriter {
    pub fn create(file: FileWriter, props: WriterProperties) -> Result<HouseholdDayPartialWriter> {
        let (sink, path) = create(file, household_day_partial_schema(), props)?;
        Ok(HouseholdDayPartialWriter {
            sink,
            path,
            cols: DayColumns::new(),
        })
    }

    pub fn push(&mut self, id: &str, day: i32, readings: u64, sum_micro: i64) -> Result<()> {
        let c = &mut self.cols;
        c.ids.append_value(id);
        c.days.push(day);
        c.readings.push(readings as i64);
        c.sums.push(sum_micro);
        if c.days.len() >= DAY_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.cols.days.is_empty() {
            return Ok(());
        }
        let mut c = std::mem::replace(&mut self.cols, DayColumns::new());
        let batch = RecordBatch::try_new(
            household_day_partial_schema(),
            vec![
                Arc::new(c.ids.finish()),
                Arc::new(Int32Array::new(ScalarBuffer::from(c.days), None)),
                Arc::new(Int64Array::new(ScalarBuffer::from(c.readings), None)),
                Arc::new(Int64Array::new(ScalarBuffer::from(c.sums), None)),
            ],
        )?;
        write(&mut self.sink, &self.path, &batch)
    }

    pub fn finish(mut self) -> Result<Written> {
        self.flush()?;
        close(self.sink, &self.path)
    }
}

fn write(sink: &mut Sink, path: &std::path::Path, batch: &RecordBatch) -> Result<()> {
    sink.write(batch).map_err(|e| Error::Parquet {
        path: path.to_owned(),
        source: e,
    })
}

type PartialColumns = (StringArray, Int32Array, Int64Array, Int64Array);

/// Streams one household-day partial back, a record batch at a time, without copying its
/// rows out of the batch.
pub struct HouseholdDayCursor {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    path: PathBuf,
    batch: Option<PartialColumns>,
    pos: usize,
}

impl HouseholdDayCursor {
    pub fn open(file: ParquetSource, shown: &str) -> Result<HouseholdDayCursor> {
        let path = PathBuf::from(shown);
        let pq = |e| Error::Parquet {
            path: path.to_owned(),
            source: e,
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(pq)?
            .with_batch_size(8192)
            .build()
            .map_err(pq)?;
        let mut c = HouseholdDayCursor {
            reader,
            path,
            batch: None,
            pos: 0,
        };
        c.refill()?;
        Ok(c)
    }

    /// Moves to the next non-empty batch, or to the end.
    fn refill(&mut self) -> Result<()> {
        self.pos = 0;
        self.batch = None;
        for b in self.reader.by_ref() {
            let b = b?;
            if b.num_rows() == 0 {
                continue;
            }
            let corrupt = || Error::Corrupt {
                path: self.path.clone(),
                reason: "not a household-day partial".into(),
            };
            let col = |i: usize| b.column(i).as_any();
            self.batch = Some((
                col(0).downcast_ref::<StringArray>().ok_or_else(corrupt)?.clone(),
                col(1).downcast_ref::<Int32Array>().ok_or_else(corrupt)?.clone(),
                col(2).downcast_ref::<Int64Array>().ok_or_else(corrupt)?.clone(),
                col(3).downcast_ref::<Int64Array>().ok_or_else(corrupt)?.clone(),
            ));
            break;
        }
        Ok(())
    }

    /// The current row's (LCLid, day), or `None` at the end.
    #[inline]
    pub fn key(&self) -> Option<(&str, i32)> {
        self.batch.as_ref().map(|(ids, days, _, _)| (ids.value(self.pos), days.value(self.pos)))
    }

    /// The current row's reading count and exact sum; only while [`key`](Self::key) is some.
    #[inline]
    pub fn values(&self) -> (u64, i64) {
        let (_, _, n, s) = self.batch.as_ref().expect("values() of a live cursor");
        (n.value(self.pos) as u64, s.value(self.pos))
    }

    #[inline]
    pub fn advance(&mut self) -> Result<()> {
        self.pos += 1;
        if self.batch.as_ref().is_some_and(|b| self.pos >= b.1.len()) {
            self.refill()?;
        }
        Ok(())
    }
}

/// Writes `household_day.parquet` from merged household-days, sorted by (LCLid, day).
pub struct HouseholdDayWriter {
    sink: Sink,
    path: PathBuf,
    /// The batch's distinct LCLids in order: the input is sorted, so a new LCLid is one
    /// that differs from the last, and no lookup is needed.
    ids: StringBuilder,
    last: String,
    keys: Vec<i32>,
    days: Vec<i32>,
    readings: Vec<i64>,
    sums: Vec<f64>,
    pub rows: u64,
}

impl HouseholdDayWriter {
    pub fn create(file: FileWriter, props: WriterProperties) -> Result<HouseholdDayWriter> {
        let (sink, path) = create(file, household_day_schema(), props)?;
        Ok(HouseholdDayWriter {
            sink,
            path,
            ids: StringBuilder::new(),
            last: String::new(),
            keys: Vec::with_capacity(DAY_BATCH),
            days: Vec::with_capacity(DAY_BATCH),
            readings: Vec::with_capacity(DAY_BATCH),
            sums: Vec::with_capacity(DAY_BATCH),
            rows: 0,
        })
    }

    pub fn push(&mut self, id: &str, day: i32, readings: u64, sum_micro: i64) -> Result<()> {
        if self.keys.is_empty() || id != self.last {
            self.ids.append_value(id);
            self.last.clear();
            self.last.push_str(id);
        }
        self.keys.push(self.ids.len() as i32 - 1);
        self.days.push(day);
        self.readings.push(readings as i64);
        self.sums.push(kwh::to_f64(sum_micro));
        self.rows += 1;
        if self.keys.len() >= DAY_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.keys.is_empty() {
            return Ok(());
        }
        // Each batch carries only the LCLids it uses, so the dictionary stays small.
        fn take<T>(v: &mut Vec<T>) -> Vec<T> {
            std::mem::replace(v, Vec::with_capacity(DAY_BATCH))
        }
        let keys = Int32Array::new(ScalarBuffer::from(take(&mut self.keys)), None);
        let batch = RecordBatch::try_new(
            household_day_schema(),
            vec![
                Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(self.ids.finish()))?),
                Arc::new(Date32Array::new(ScalarBuffer::from(take(&mut self.days)), None)),
                Arc::new(Int64Array::new(ScalarBuffer::from(take(&mut self.readings)), None)),
                Arc::new(Float64Array::new(ScalarBuffer::from(take(&mut self.sums)), None)),
            ],
        )?;
        write(&mut self.sink, &self.path, &batch)
    }

    pub fn finish(mut self) -> Result<Written> {
        self.flush()?;
        close(self.sink, &self.path)
    }
}
