//! Flags. Options of `run` carry no clap default: an absent flag lets the configuration
//! file or the environment decide (see `settings`), and the help text names the default.
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
    /// Write LCL data in the real format, quirks included, deterministic for a seed.
    Generate(GenerateArgs),
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Input: a CSV file, a folder of *.csv files, or a glob. [default: the sample shipped with wattswarm, data/power_1.csv]
    #[arg(long, short)]
    pub input: Option<String>,
    /// Output directory (Parquet parts, results/, _SUCCESS). [default: ./wattswarm-out]
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Worker actors. [default: the number of cores]
    #[arg(long, short)]
    pub workers: Option<usize>,
    /// Bytes per chunk, e.g. 134217728, 128MiB, 64MB. [default: 128MiB]
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
