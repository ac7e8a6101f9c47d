//! `wattswarm generate`.
use std::time::Instant;

use anyhow::{Context, Result};
use wattswarm_core::generate::{generate as write_data, Spec};
use wattswarm_core::layout::Layout;

use crate::cli::{GenerateArgs, LayoutArg};

pub fn generate(args: GenerateArgs) -> Result<()> {
    let spec = Spec {
        households: args.households,
        days: args.days,
        seed: args.seed,
        layout: match args.layout {
            LayoutArg::Six => Layout::Six,
            LayoutArg::Four => Layout::Four,
        },
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let t = Instant::now();
    let w = write_data(&spec, &args.out)?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} rows, {:.1} MB to {} in {:.1} s ({:.0} MB/s){}",
        w.rows,
        w.bytes as f64 / 1e6,
        args.out.display(),
        secs,
        w.bytes as f64 / 1e6 / secs.max(1e-9),
        w.households_file.map(|p| format!(", households in {}", p.display())).unwrap_or_default()
    );
    Ok(())
}
