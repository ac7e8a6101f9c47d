//! `wattswarm run`: the whole job in this process.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use wattswarm_core::input;
use wattswarm_core::store::Location;
use wattswarm_master::actor::{GetStatus, JobOutcome};
use wattswarm_master::results::Headline;
use wattswarm::run_standalone;
use wattswarm_master::{CoordinatorConfig, JobOptions};

use crate::cli::RunArgs;
use crate::progress::Progress;
use crate::settings::{Overrides, Settings};

/// The sample shipped in the repository (and inside the binary, for installs elsewhere).
const SAMPLE: &[u8] = include_bytes!("../data/sample/power_1.csv");
const SAMPLE_IN_REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample/power_1.csv");

fn sample_path() -> Result<PathBuf> {
    let repo = PathBuf::from(SAMPLE_IN_REPO);
    if repo.exists() {
        return Ok(repo);
    }
    let dir = std::env::temp_dir().join("wattswarm-sample");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = dir.join("power_1.csv");
    std::fs::write(&p, SAMPLE).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(p)
}

/// The checked input of a job, and what `--input` said (the sample when nothing). With
/// `fallback_input`, an input that holds no data gives way to the fallback (the stack's
/// generated demo); the user's data always wins, and the message says which was read.
pub fn resolve_input(s: &Settings) -> Result<(input::Input, String)> {
    let spec = match &s.input {
        Some(i) => i.clone(),
        None => sample_path()?.to_string_lossy().into_owned(),
    };
    let primary = input::resolve(&spec, s.households.as_ref());
    let Some(fallback) = &s.fallback_input else {
        return Ok((primary?, spec));
    };
    match primary {
        Err(wattswarm_core::Error::NoInput(why)) => {
            eprintln!("wattswarm: no data in {why}; reading the generated demo data in {fallback} instead");
            Ok((input::resolve(fallback, s.households.as_ref())?, fallback.clone()))
        }
        Ok(found) => {
            if input::expand(fallback).is_ok() {
                eprintln!("wattswarm: reading your data in {spec}; the generated demo data in {fallback} is not read");
            }
            Ok((found, spec))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn job_options(s: &Settings, workers: usize, input_bytes: u64) -> Result<JobOptions> {
    let chunk_size = match s.chunk_size {
        0 => crate::settings::auto_chunk_size(input_bytes),
        n => n,
    };
    // The job's record says the size it used, `auto` or not.
    let mut public_config = s.public_config();
    public_config["chunk_size"] = chunk_size.into();
    Ok(JobOptions {
        output: s.output.clone(),
        mongo: s.mongo()?,
        mongo_readings: s.mongo_readings,
        public_config,
        workers,
        chunk_size,
        settings: s.job_settings(),
        coordinator: CoordinatorConfig {
            lease_timeout: Duration::from_secs(s.lease_timeout_seconds),
            max_attempts: s.max_attempts,
        },
    })
}

pub fn run(args: RunArgs) -> Result<()> {
    let mut flags = Overrides::job(&args.job);
    flags.set("workers", args.workers.map(|w| w as u64));
    let s = Settings::load(args.job.config.as_deref(), &flags, None)?;
    let (input, spec) = resolve_input(&s)?;
    let workers = s.workers();
    let opts = job_options(&s, workers, input.bytes())?;
    if !s.quiet {
        eprintln!(
            "wattswarm: {} file(s), {:.1} MB from {spec}, {workers} workers, chunks of {} MiB, output {}",
            input.files.len(),
            input.bytes() as f64 / 1e6,
            opts.chunk_size >> 20,
            s.output
        );
    }
    let system = actix_rt::System::new();
    let outcome: JobOutcome = system.block_on(async {
        let job = run_standalone(&input, &opts)?;
        let mut progress = Progress::new(s.quiet, input.bytes());
        let mut tick = tokio_interval(progress.period());
        let mut done = job.done;
        let result = loop {
            tokio::select! {
                r = &mut done => break r.unwrap_or(Err(wattswarm_master::JobError::Interrupted)),
                _ = tick.tick() => {
                    if let Ok(st) = job.master.send(GetStatus).await {
                        progress.update(&st);
                    }
                }
            }
        };
        progress.finish();
        result
    })?;
    if !s.quiet {
        print_outcome(&outcome, &s.output);
    }
    Ok(())
}

fn tokio_interval(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

fn table(title: &str, h: &Headline, rows: &[(String, Vec<Option<f64>>)]) {
    print!("{title:<14}");
    for y in &h.years {
        print!("{y:>9}");
    }
    println!();
    for (g, means) in rows {
        print!("{g:<14}");
        for m in means {
            match m {
                Some(v) => print!("{v:>9.4}"),
                None => print!("{:>9}", "-"),
            }
        }
        println!();
    }
}

pub fn print_outcome(o: &JobOutcome, output: &Location) {
    let s = &o.summary;
    println!(
        "{} rows ({} readings, {} Null) from {} households, {} rejected; {:.1} MB in {:.2} s ({:.0} MB/s) with {} workers, {} chunks",
        s.rows,
        s.readings,
        s.nulls,
        s.households,
        s.rejected,
        s.input_bytes as f64 / 1e6,
        s.seconds,
        s.input_bytes as f64 / 1e6 / s.seconds.max(1e-9),
        s.workers,
        s.chunks
    );
    println!("\nMean kWh per half hour, by year");
    table("Acorn group", &o.headline, &o.headline.by_acorn_grouped);
    println!();
    table("Tariff", &o.headline, &o.headline.by_tariff);
    println!("\nParquet in {}, results in {}", output.join("parquet"), output.join("results"));
    println!("Report (charts, counts, rejects; opens offline): {}", output.join("results").join(wattswarm_master::results::REPORT_FILE));
    if s.rejected > 0 {
        println!("{} rejected lines, with file and line, in {}", s.rejected, output.join("results/rejects.csv"));
    }
}
