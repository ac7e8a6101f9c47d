//! Flags. Options that are also configuration keys carry no clap default: an absent flag
//! lets the configuration file or the environment decide (see `settings`), and the help
//! text names the default.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "wattswarm", version, about = "Ingest the London smart-meter (LCL) CSV into Parquet with exact group aggregates.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a whole job in this process: a master and N worker actors, no network.
    Run(RunArgs),
    /// Serve a job to worker processes over HTTP (needs WATTSWARM_TOKEN or WATTSWARM_TOKEN_FILE).
    Master(MasterArgs),
    /// Join a master and process its chunks (needs the master's token).
    Worker(WorkerArgs),
    /// Show a master's job: chunks, rows, rate, ETA, workers.
    Status(StatusArgs),
    /// Write LCL data in the real format, quirks included, deterministic for a seed.
    Generate(GenerateArgs),
    /// Exit 0 when this container's master or worker answers /healthz (the image's HEALTHCHECK).
    Health(HealthArgs),
}

#[derive(Args, Debug, Default)]
pub struct HealthArgs {
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
    /// Configuration file. [default: ./wattswarm.toml when it exists]
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// What a job is: shared by `run` and `master`.
#[derive(Args, Debug, Default, Clone)]
pub struct JobArgs {
    /// Input: a CSV file, a folder of *.csv files, a glob, or an hdfs://, s3:// or gs:// file or folder. [default: the sample shipped with wattswarm, data/sample/power_1.csv]
    #[arg(long, short)]
    pub input: Option<String>,
    /// Output: a folder, hdfs://NAMENODE:PORT/path, s3://BUCKET/path or gs://BUCKET/path (Parquet parts, results/, _SUCCESS). [default: ./wattswarm-out]
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Bytes per chunk, e.g. 134217728, 128MiB, 64MB, or auto (about 64 chunks, 4 to 128 MiB each). [default: 128MiB]
    #[arg(long)]
    pub chunk_size: Option<String>,
    /// informations_households.csv, for the 4-column layout. [default: found beside the input]
    #[arg(long)]
    pub households: Option<PathBuf>,
    /// Configuration file. [default: ./wattswarm.toml when it exists]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Worker actors. [default: the number of cores]
    #[arg(long, short)]
    pub workers: Option<usize>,
}

#[derive(Args, Debug, Default)]
pub struct MasterArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Address to serve the API and /metrics on. [default: 0.0.0.0:7070]
    #[arg(long)]
    pub listen: Option<String>,
    /// URL workers reach this master at, as shown to them and in the status. [default: http://<hostname>:<port>]
    #[arg(long)]
    pub advertise: Option<String>,
    /// Seconds without a heartbeat after which a chunk goes to another worker. [default: 30]
    #[arg(long)]
    pub lease_timeout: Option<u64>,
    /// Read this file, folder or glob instead when --input holds no data (the stack's generated demo); when both hold data, --input's is used and the master says so.
    #[arg(long)]
    pub fallback_input: Option<String>,
    /// Exit when the job is done instead of serving its status and metrics on.
    #[arg(long)]
    pub exit_when_done: bool,
    /// With the Docker socket mounted: keep MIN..MAX worker containers, one per chunk still to do (e.g. 1..8).
    #[arg(long, value_name = "MIN..MAX")]
    pub autoscale: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct WorkerArgs {
    /// The master's URL, e.g. http://master:7070.
    #[arg(long)]
    pub master: Option<String>,
    /// This worker's id. [default: <hostname>-<pid>]
    #[arg(long)]
    pub id: Option<String>,
    /// Address to serve this worker's /metrics on. [default: 0.0.0.0:9101]
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// URL Prometheus reaches this worker's /metrics at. [default: http://<hostname>:<port>]
    #[arg(long)]
    pub advertise: Option<String>,
    /// Configuration file. [default: ./wattswarm.toml when it exists]
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Default)]
pub struct StatusArgs {
    /// The master's URL, e.g. http://127.0.0.1:7070.
    #[arg(long)]
    pub master: Option<String>,
    /// Print the status once as JSON (the same as GET /v1/job).
    #[arg(long)]
    pub json: bool,
    /// Configuration file. [default: ./wattswarm.toml when it exists]
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LayoutArg {
    /// LCLid,stdorToU,DateTime,KWH/hh (per half hour) ,Acorn,Acorn_grouped
    Six,
    /// LCLid,stdorToU,DateTime,KWH/hh (per half hour)  + informations_households.csv
    Four,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// File to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of households (5566 with the full period gives the ~11.6 GB release).
    #[arg(long, default_value_t = 5566)]
    pub households: u32,
    /// Days of the trial, from 2011-11-23 (829 is the whole trial).
    #[arg(long, default_value_t = wattswarm_core::generate::FULL_PERIOD_DAYS)]
    pub days: u32,
    /// Random seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Which release's layout to write; `four` also writes informations_households.csv beside the file.
    #[arg(long, value_enum, default_value_t = LayoutArg::Six)]
    pub layout: LayoutArg,
}
