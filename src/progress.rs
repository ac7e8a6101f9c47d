//! Progress while a job runs: an indicatif bar on a terminal, a plain line every few
//! seconds otherwise (logs, CI), nothing with `--quiet`.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use wattswarm_master::JobStatus;

pub enum Progress {
    Bar(ProgressBar),
    Lines { every: Duration, last: Instant },
    Quiet,
}

impl Progress {
    pub fn new(quiet: bool, total_bytes: u64) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
                )
                .expect("the template is valid"),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                every: Duration::from_secs(5),
                last: Instant::now(),
            }
        }
    }

    /// The refresh period the caller should poll the master at.
    pub fn period(&self) -> Duration {
        match self {
            Progress::Bar(_) => Duration::from_millis(200),
            _ => Duration::from_secs(1),
        }
    }

    pub fn update(&mut self, s: &JobStatus) {
        let rows_per_s = s.rows as f64 / s.elapsed_seconds.max(1e-3);
        match self {
            Progress::Bar(bar) => {
                bar.set_position(s.bytes_done);
                bar.set_message(format!(
                    "{:.2} M rows/s, chunks {}/{}",
                    rows_per_s / 1e6,
                    s.chunks.done,
                    s.chunks.done + s.chunks.running + s.chunks.pending + s.chunks.failed
                ));
            }
            Progress::Lines { every, last } => {
                if last.elapsed() >= *every {
                    *last = Instant::now();
                    let mb_s = s.bytes_done as f64 / 1e6 / s.elapsed_seconds.max(1e-3);
                    let left = s.input_bytes.saturating_sub(s.bytes_done) as f64 / 1e6;
                    eprintln!(
                        "progress: {:.1}% ({:.0}/{:.0} MB), {:.0} MB/s, {:.2} M rows/s, chunks done {} running {} pending {}, ETA {:.0} s",
                        100.0 * s.bytes_done as f64 / s.input_bytes.max(1) as f64,
                        s.bytes_done as f64 / 1e6,
                        s.input_bytes as f64 / 1e6,
                        mb_s,
                        rows_per_s / 1e6,
                        s.chunks.done,
                        s.chunks.running,
                        s.chunks.pending,
                        if mb_s > 0.0 { left / mb_s } else { f64::NAN }
                    );
                }
            }
            Progress::Quiet => {}
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
