//! `wattswarm`: the command line. Thin by design: it parses flags, layers the
//! configuration, shows progress and prints results; the work lives in the libraries.
mod cli;
mod generate;
mod health;
mod master;
mod progress;
mod run;
mod settings;
mod status;
mod worker;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: container logs and files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,hdfs_native=error".into()),
        )
        .init();
    let result = match cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Master(args) => master::master(args),
        cli::Command::Worker(args) => worker::worker(args),
        cli::Command::Status(args) => status::status(args),
        cli::Command::Generate(args) => generate::generate(args),
        cli::Command::Health(args) => health::health(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
