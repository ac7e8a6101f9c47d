//! One error type for the domain library. Each variant says what failed and where, so the
//! binary can print it as it is and exit non-zero.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no input found at {0}: give a CSV file, a folder of *.csv files or a glob")]
    NoInput(String),
    #[error(
        "{path} is not LCL smart-meter data: its header is\n  {found}\nexpected one of\n  {six}\n  {four}"
    )]
    NotLcl {
        path: PathBuf,
        found: String,
        six: &'static str,
        four: &'static str,
    },
    #[error("{path} is not a regular file ({kind}): give a CSV file, a folder of *.csv files or a glob")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{path} changed while the job ran: {reason}; run the job again once the file no longer changes")]
    InputChanged { path: PathBuf, reason: String },
    #[error("the sum of {what} is beyond 64 bits (kWh sums: ±9.2 × 10^12 kWh); no real data comes near, so the input is not what it seems")]
    SumOverflow { what: String },
    #[error("{path}: the 4-column layout needs informations_households.csv: pass --households FILE or put it beside the input")]
    HouseholdsMissing { path: PathBuf },
    #[error("{path}, line {line}: {reason}")]
    BadHouseholds {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{days} days from 2011-11-23 run past {}, the last year a reading may have: give at most {max} days", crate::datetime::YEARS.end())]
    TooManyDays { days: u32, max: u32 },
    #[error("cannot write Parquet to {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot build Arrow data: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("{0}")]
    Sink(String),
    #[error("HDFS {location}: {reason}")]
    Hdfs { location: String, reason: String },
    #[error("{location}: {reason}")]
    ObjectStore { location: String, reason: String },
    #[error("{location} is not a location wattswarm can use: {reason}")]
    BadLocation { location: String, reason: String },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "{output} is in use by another master, {holder}, which renewed its lock {seconds_ago:.1} s ago: run one master per output. \
         Its lock is taken over once it has not been renewed for {timeout:.0} s, or at once when that process is gone from this host"
    )]
    Locked {
        output: String,
        holder: String,
        seconds_ago: f64,
        timeout: f64,
    },
    #[error("{output}: another master took over this output; this one stops without committing anything more")]
    LockLost { output: String },
    #[error("{output} is not empty and is not a wattswarm output (no _SUCCESS, _state or lock in it): choose a new or empty folder for --output; nothing in it was changed")]
    NotAnOutput { output: String },
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
