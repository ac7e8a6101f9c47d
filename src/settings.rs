//! Layered configuration for `run`: built-in defaults < `wattswarm.toml` (or `--config`)
//! < environment (`WATTSWARM_<KEY>`, e.g. `WATTSWARM_CHUNK_SIZE=64MiB`) < flags.
//! Unknown keys and bad values are errors that name the key and its source.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Deserializer};

use crate::cli::RunArgs;

/// Every key `run` accepts. Defaults are the built-in layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// File, folder or glob; none: the shipped sample.
    pub input: Option<String>,
    pub output: PathBuf,
    /// Worker actors; none: the number of cores.
    pub workers: Option<usize>,
    #[serde(deserialize_with = "bytes")]
    pub chunk_size: u64,
    pub households: Option<PathBuf>,
    pub quiet: bool,
    /// zstd level of the Parquet files (1-22).
    pub zstd_level: i32,
    /// Rows per Arrow batch given to the Parquet encoder.
    pub batch_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    #[serde(deserialize_with = "bytes")]
    pub read_block: u64,
    /// A lease not renewed for this long goes to another worker.
    pub lease_timeout_seconds: u64,
    /// A chunk failing this many times fails the job.
    pub max_attempts: u32,
}

impl Default for RunSettings {
    fn default() -> Self {
        let chunk = wattswarm_core::process::Settings::default();
        RunSettings {
            input: None,
            output: PathBuf::from("wattswarm-out"),
            workers: None,
            chunk_size: 128 << 20,
            households: None,
            quiet: false,
            zstd_level: chunk.zstd_level,
            batch_rows: chunk.batch_rows,
            row_group_rows: chunk.row_group_rows,
            read_block: chunk.read_block as u64,
            lease_timeout_seconds: 30,
            max_attempts: 3,
        }
    }
}

/// `134217728`, `128MiB`, `64MB`, `1G`…
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (try 134217728 or 128MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return Err(format!("{s:?}: unknown size unit {unit:?} (use B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    n.checked_mul(mult).filter(|&v| v > 0).ok_or_else(|| format!("{s:?} is not a positive size"))
}

fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    match Size::deserialize(d)? {
        Size::N(n) if n > 0 => Ok(n),
        Size::N(_) => Err(serde::de::Error::custom("a size must be positive")),
        Size::S(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

impl RunSettings {
    /// Builds the layers. `env` is the environment to read (the process's, in `main`).
    pub fn load(args: &RunArgs, env: Option<config::Map<String, String>>) -> Result<RunSettings> {
        let mut b = Config::builder();
        match &args.config {
            Some(p) => {
                if !p.exists() {
                    bail!("configuration file {} does not exist", p.display());
                }
                b = b.add_source(File::from(p.as_path()).format(FileFormat::Toml).required(true));
            }
            None => b = b.add_source(File::new("wattswarm.toml", FileFormat::Toml).required(false)),
        }
        b = b.add_source(Environment::with_prefix("WATTSWARM").try_parsing(true).source(env));
        if let Some(v) = &args.input {
            b = b.set_override("input", v.as_str())?;
        }
        if let Some(v) = &args.output {
            b = b.set_override("output", v.to_string_lossy().as_ref())?;
        }
        if let Some(v) = args.workers {
            b = b.set_override("workers", v as u64)?;
        }
        if let Some(v) = &args.chunk_size {
            b = b.set_override("chunk_size", v.as_str())?;
        }
        if let Some(v) = &args.households {
            b = b.set_override("households", v.to_string_lossy().as_ref())?;
        }
        if args.quiet {
            b = b.set_override("quiet", true)?;
        }
        let s: RunSettings = b
            .build()
            .and_then(|c| c.try_deserialize())
            .context("invalid configuration")?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if self.workers == Some(0) {
            bail!("invalid configuration: workers must be at least 1");
        }
        if !(1..=22).contains(&self.zstd_level) {
            bail!("invalid configuration: zstd_level must be between 1 and 22, not {}", self.zstd_level);
        }
        if self.batch_rows < 1024 || self.row_group_rows < self.batch_rows {
            bail!("invalid configuration: need batch_rows >= 1024 and row_group_rows >= batch_rows");
        }
        if self.max_attempts == 0 || self.lease_timeout_seconds == 0 {
            bail!("invalid configuration: max_attempts and lease_timeout_seconds must be at least 1");
        }
        Ok(())
    }

    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<config::Map<String, String>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("134217728"), Ok(128 << 20));
        assert_eq!(parse_bytes("128MiB"), Ok(128 << 20));
        assert_eq!(parse_bytes("64MB"), Ok(64_000_000));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert!(parse_bytes("12XB").unwrap_err().contains("unknown size unit"));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn layers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "workers = 3\nchunk_size = \"1MiB\"\nzstd_level = 5\n").unwrap();
        let mut args = RunArgs {
            config: Some(file),
            ..Default::default()
        };
        let s = RunSettings::load(&args, env(&[])).unwrap();
        assert_eq!((s.workers, s.chunk_size, s.zstd_level), (Some(3), 1 << 20, 5));
        assert_eq!(s.output, PathBuf::from("wattswarm-out"), "built-in default");
        let s = RunSettings::load(&args, env(&[("WATTSWARM_WORKERS", "4"), ("WATTSWARM_CHUNK_SIZE", "2048")])).unwrap();
        assert_eq!((s.workers, s.chunk_size), (Some(4), 2048), "environment over file");
        args.workers = Some(5);
        let s = RunSettings::load(&args, env(&[("WATTSWARM_WORKERS", "4")])).unwrap();
        assert_eq!(s.workers, Some(5), "flag over environment");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "wrokers = 3\n").unwrap();
        let args = RunArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let e = format!("{:#}", RunSettings::load(&args, env(&[])).unwrap_err());
        assert!(e.contains("wrokers"), "{e}");
        std::fs::write(&file, "workers = \"many\"\n").unwrap();
        let e = format!("{:#}", RunSettings::load(&args, env(&[])).unwrap_err());
        assert!(e.contains("workers"), "{e}");
        let e = format!("{:#}", RunSettings::load(&RunArgs::default(), env(&[("WATTSWARM_CHUNK_SIZE", "12XB")])).unwrap_err());
        assert!(e.contains("unknown size unit"), "{e}");
        let e = format!("{:#}", RunSettings::load(&RunArgs::default(), env(&[("WATTSWARM_ZSTD_LEVEL", "99")])).unwrap_err());
        assert!(e.contains("zstd_level"), "{e}");
        let missing = RunArgs {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        assert!(RunSettings::load(&missing, env(&[])).unwrap_err().to_string().contains("does not exist"));
    }
}
