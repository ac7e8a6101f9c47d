//! Layered configuration for every command: built-in defaults < `wattswarm.toml` (or `--config`)
//! < environment (`WATTSWARM_<KEY>`, e.g. `WATTSWARM_CHUNK_SIZE=64MiB`) < flags.
//! Unknown keys and bad values are errors that name the key and its source.
use std::path::{Path, PathBuf};

use wattswarm_core::store::Location;

use anyhow::{bail, Context, Result};
use config::{Config, Environment, File, FileFormat, Value};
use serde::{Deserialize, Deserializer};

use crate::cli::JobArgs;

/// A secret from the configuration: never shown by `Debug`.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// A secret in a serialised configuration (the `power.jobs` document) is `<redacted>`.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Every configuration key. Defaults are the built-in layer; each command uses the keys
/// that apply to it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// File, folder or glob; none: the shipped sample.
    pub input: Option<String>,
    /// `master`: read this instead when `input` holds no data (the stack's generated demo).
    pub fallback_input: Option<String>,
    /// A local folder, `hdfs://NAMENODE:PORT/path`, `s3://BUCKET/path` or `gs://BUCKET/path`.
    pub output: Location,
    /// Worker actors of `run`; none: the number of cores.
    pub workers: Option<usize>,
    /// Bytes per chunk; 0 (`auto`): derived from the input's size (`auto_chunk_size`).
    #[serde(deserialize_with = "chunk_bytes")]
    pub chunk_size: u64,
    pub households: Option<Location>,
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
    /// `master`: where to serve the API.
    pub listen: String,
    /// `master`: the URL workers reach it at; `worker`: the URL of its metrics.
    pub advertise: Option<String>,
    /// `worker`, `status`: the master's URL.
    pub master: Option<String>,
    /// The shared API token (`WATTSWARM_TOKEN`).
    pub token: Option<Secret>,
    /// A file holding the token (`WATTSWARM_TOKEN_FILE`, e.g. a Docker secret).
    pub token_file: Option<PathBuf>,
    /// `worker`: its id.
    pub worker_id: Option<String>,
    /// `worker`: where to serve its /metrics.
    pub metrics_listen: String,
    /// `worker`: seconds between heartbeats while a chunk runs.
    pub heartbeat_seconds: u64,
    /// `master`: exit when the job is done.
    pub exit_when_done: bool,
    /// `master`: `MIN..MAX` worker containers, set to the backlog through the Docker socket.
    pub autoscale: Option<String>,
    /// `master`: the workers' service name in the compose file or stack.
    pub docker_worker_service: String,
    /// Replicas of each file written to HDFS; none: the NameNode's default.
    pub hdfs_replication: Option<u32>,
    /// HDFS block size of each file written; none: the NameNode's default.
    #[serde(deserialize_with = "opt_bytes")]
    pub hdfs_block_size: Option<u64>,
    /// Seconds to keep retrying a NameNode that does not answer.
    pub hdfs_connect_seconds: u64,
    /// Read blocks of a DataNode on the worker's machine from its disk (short-circuit).
    pub hdfs_short_circuit: bool,
    /// Read blocks over TCP with the direct reader (off: the client's packet stream).
    pub hdfs_direct_read: bool,
    /// MongoDB for readings and results, e.g. `mongodb://mongo:27017/`; none: no MongoDB.
    pub mongo_uri: Option<Secret>,
    pub mongo_username: Option<String>,
    pub mongo_password: Option<Secret>,
    /// A file holding the password (a Docker secret).
    pub mongo_password_file: Option<PathBuf>,
    pub mongo_database: String,
    /// Store every accepted row in `<database>.<mongo_readings_collection>`.
    pub mongo_readings: bool,
    pub mongo_readings_collection: String,
    /// Readings per insert.
    pub mongo_batch: usize,
    /// Inserts in flight per chunk.
    pub mongo_concurrency: usize,
    /// Seconds to keep retrying a MongoDB that does not answer.
    pub mongo_retry_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        // Each default is stated once, where it is used; these read them.
        let chunk = wattswarm_core::process::Settings::default();
        let coordinator = wattswarm_master::CoordinatorConfig::default();
        Settings {
            input: None,
            fallback_input: None,
            output: Location::local("wattswarm-out"),
            workers: None,
            chunk_size: 128 << 20,
            households: None,
            quiet: false,
            zstd_level: chunk.zstd_level,
            batch_rows: chunk.batch_rows,
            row_group_rows: chunk.row_group_rows,
            read_block: chunk.read_block as u64,
            lease_timeout_seconds: coordinator.lease_timeout.as_secs(),
            max_attempts: coordinator.max_attempts,
            listen: "0.0.0.0:7070".into(),
            advertise: None,
            master: None,
            token: None,
            token_file: None,
            worker_id: None,
            metrics_listen: "0.0.0.0:9101".into(),
            heartbeat_seconds: wattswarm_worker::actor::HEARTBEAT.as_secs(),
            exit_when_done: false,
            autoscale: None,
            docker_worker_service: "worker".into(),
            hdfs_replication: None,
            hdfs_block_size: None,
            hdfs_connect_seconds: chunk.hdfs.connect_seconds,
            hdfs_short_circuit: chunk.hdfs.short_circuit,
            hdfs_direct_read: chunk.hdfs.direct_read,
            mongo_uri: None,
            mongo_username: None,
            mongo_password: None,
            mongo_password_file: None,
            mongo_database: "power".into(),
            mongo_readings: true,
            mongo_readings_collection: "readings".into(),
            mongo_batch: 10_000,
            mongo_concurrency: 4,
            mongo_retry_seconds: 30,
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

/// A size, or `auto` (0).
fn chunk_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    if v.as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case("auto")) {
        return Ok(0);
    }
    bytes(v).map_err(serde::de::Error::custom)
}

/// `chunk_size = "auto"`: about 64 chunks, so that the workers a student starts all get
/// work and a job lasts long enough to watch, within 4 MiB and 128 MiB, in whole MiB.
pub fn auto_chunk_size(input_bytes: u64) -> u64 {
    let mib = 1 << 20;
    (input_bytes / 64).div_ceil(mib).clamp(4, 128) * mib
}

fn opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    bytes(d).map(Some)
}

/// Flags that override configuration keys.
#[derive(Default)]
pub struct Overrides(Vec<(&'static str, Value)>);

impl Overrides {
    pub fn set(&mut self, key: &'static str, v: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = v {
            self.0.push((key, v.into()));
        }
        self
    }

    pub fn flag(&mut self, key: &'static str, on: bool) -> &mut Self {
        if on {
            self.0.push((key, true.into()));
        }
        self
    }

    /// The flags every job has.
    pub fn job(args: &JobArgs) -> Overrides {
        let mut o = Overrides::default();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        o.set("input", args.input.clone())
            .set("output", path(&args.output))
            .set("chunk_size", args.chunk_size.clone())
            .set("households", path(&args.households))
            .flag("quiet", args.quiet);
        o
    }
}

impl Settings {
    /// Builds the layers. `env` replaces the process environment (for tests).
    pub fn load(config_file: Option<&Path>, overrides: &Overrides, env: Option<config::Map<String, String>>) -> Result<Settings> {
        let mut b = Config::builder();
        match config_file {
            Some(p) => {
                if !p.exists() {
                    bail!("configuration file {} does not exist", p.display());
                }
                b = b.add_source(File::from(p).format(FileFormat::Toml).required(true));
            }
            None => b = b.add_source(File::new("wattswarm.toml", FileFormat::Toml).required(false)),
        }
        b = b.add_source(Environment::with_prefix("WATTSWARM").try_parsing(true).source(env));
        for (k, v) in &overrides.0 {
            b = b.set_override(*k, v.clone())?;
        }
        let s: Settings = b
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
        if self.max_attempts == 0 || self.lease_timeout_seconds == 0 || self.heartbeat_seconds == 0 {
            bail!("invalid configuration: max_attempts, lease_timeout_seconds and heartbeat_seconds must be at least 1");
        }
        Ok(())
    }

    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    /// The shared API token, from `token` or the file `token_file` names.
    pub fn token(&self) -> Result<String> {
        if let Some(t) = self.token.as_ref().filter(|t| !t.0.trim().is_empty()) {
            return Ok(t.0.trim().to_owned());
        }
        if let Some(p) = &self.token_file {
            let t = std::fs::read_to_string(p).with_context(|| format!("cannot read the token file {}", p.display()))?;
            if t.trim().is_empty() {
                bail!("the token file {} is empty", p.display());
            }
            return Ok(t.trim().to_owned());
        }
        bail!("no API token: set WATTSWARM_TOKEN, or WATTSWARM_TOKEN_FILE to a file holding it (a Docker secret); master and workers must share it")
    }

    /// MongoDB, when `mongo_uri` is set; the password from `mongo_password` or its file.
    pub fn mongo(&self) -> Result<Option<wattswarm_mongo::MongoSettings>> {
        let Some(uri) = self.mongo_uri.as_ref().filter(|u| !u.0.trim().is_empty()) else {
            return Ok(None);
        };
        let password = match (&self.mongo_password, &self.mongo_password_file) {
            (Some(p), _) => Some(p.0.clone()),
            (None, Some(f)) => {
                let t = std::fs::read_to_string(f).with_context(|| format!("cannot read the MongoDB password file {}", f.display()))?;
                Some(t.trim_end_matches(['\n', '\r']).to_owned())
            }
            (None, None) => None,
        };
        if self.mongo_batch == 0 || self.mongo_concurrency == 0 {
            bail!("invalid configuration: mongo_batch and mongo_concurrency must be at least 1");
        }
        Ok(Some(wattswarm_mongo::MongoSettings {
            uri: uri.0.trim().to_owned(),
            username: self.mongo_username.clone(),
            password,
            database: self.mongo_database.clone(),
            readings: self.mongo_readings_collection.clone(),
            retry_seconds: self.mongo_retry_seconds,
            batch: self.mongo_batch,
            concurrency: self.mongo_concurrency,
        }))
    }

    /// What the `power.jobs` document records of the configuration: every key, secrets
    /// shown as `<redacted>`.
    pub fn public_config(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("settings serialise")
    }

    pub fn job_settings(&self) -> wattswarm_core::process::Settings {
        wattswarm_core::process::Settings {
            batch_rows: self.batch_rows,
            row_group_rows: self.row_group_rows,
            zstd_level: self.zstd_level,
            read_block: self.read_block as usize,
            hdfs: wattswarm_core::store::HdfsOptions {
                replication: self.hdfs_replication,
                block_size: self.hdfs_block_size,
                connect_seconds: self.hdfs_connect_seconds,
                short_circuit: self.hdfs_short_circuit,
                direct_read: self.hdfs_direct_read,
            },
        }
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
    fn auto_chunk_size_cuts_about_64_chunks_within_4_and_128_mib() {
        let s = Settings::load(None, &Overrides::default(), env(&[("WATTSWARM_CHUNK_SIZE", "auto")])).unwrap();
        assert_eq!(s.chunk_size, 0, "auto");
        // The stack's demo, 300 households (618 MB): 59 chunks of 10 MiB.
        assert_eq!(auto_chunk_size(617_929_607), 10 << 20);
        assert_eq!(auto_chunk_size(1_000), 4 << 20, "a small file: one 4 MiB chunk");
        assert_eq!(auto_chunk_size(11_600_000_000), 128 << 20, "the full file: the default 128 MiB");
    }

    #[test]
    fn layers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "workers = 3\nchunk_size = \"1MiB\"\nzstd_level = 5\n").unwrap();
        let none = Overrides::default();
        let s = Settings::load(Some(&file), &none, env(&[])).unwrap();
        assert_eq!((s.workers, s.chunk_size, s.zstd_level), (Some(3), 1 << 20, 5));
        assert_eq!(s.output, Location::local("wattswarm-out"), "built-in default");
        let s = Settings::load(Some(&file), &none, env(&[("WATTSWARM_WORKERS", "4"), ("WATTSWARM_CHUNK_SIZE", "2048")])).unwrap();
        assert_eq!((s.workers, s.chunk_size), (Some(4), 2048), "environment over file");
        let mut flags = Overrides::default();
        flags.set("workers", Some(5u64));
        let s = Settings::load(Some(&file), &flags, env(&[("WATTSWARM_WORKERS", "4")])).unwrap();
        assert_eq!(s.workers, Some(5), "flag over environment");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(&file, "wrokers = 3\n").unwrap();
        let none = Overrides::default();
        let e = format!("{:#}", Settings::load(Some(&file), &none, env(&[])).unwrap_err());
        assert!(e.contains("wrokers"), "{e}");
        std::fs::write(&file, "workers = \"many\"\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(&file), &none, env(&[])).unwrap_err());
        assert!(e.contains("workers"), "{e}");
        let e = format!("{:#}", Settings::load(None, &none, env(&[("WATTSWARM_CHUNK_SIZE", "12XB")])).unwrap_err());
        assert!(e.contains("unknown size unit"), "{e}");
        let e = format!("{:#}", Settings::load(None, &none, env(&[("WATTSWARM_ZSTD_LEVEL", "99")])).unwrap_err());
        assert!(e.contains("zstd_level"), "{e}");
        assert!(Settings::load(Some(&dir.path().join("nope.toml")), &none, env(&[])).unwrap_err().to_string().contains("does not exist"));
    }

    #[test]
    fn the_token_comes_from_the_environment_or_a_file_and_never_shows() {
        let none = Overrides::default();
        let s = Settings::load(None, &none, env(&[("WATTSWARM_TOKEN", "s3cret-value")])).unwrap();
        assert_eq!(s.token().unwrap(), "s3cret-value");
        assert!(!format!("{s:?}").contains("s3cret"), "Debug hides the token");
        let public = s.public_config().to_string();
        assert!(!public.contains("s3cret") && public.contains("\"token\":\"<redacted>\""), "{public}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let s = Settings::load(None, &none, env(&[("WATTSWARM_TOKEN_FILE", f.to_str().unwrap())])).unwrap();
        assert_eq!(s.token().unwrap(), "from-file");
        let e = Settings::load(None, &none, env(&[])).unwrap().token().unwrap_err().to_string();
        assert!(e.contains("WATTSWARM_TOKEN"), "{e}");
    }
}
