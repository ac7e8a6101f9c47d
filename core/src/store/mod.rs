//! Where the input is read and the output written: one [`Location`] type and one
//! [`Store`] interface over a local folder, HDFS and object stores (S3 and S3-compatible
//! servers such as MinIO or SeaweedFS, Google Cloud Storage).
//!
//! A location is parsed once, where the user gives it (`--input`, `--output`), and travels
//! as it is to the workers: `/data/lcl`, `hdfs://namenode:9000/lcl`, `s3://bucket/lcl`,
//! `gs://bucket/lcl`. [`Location::store`] connects to its store (cached per server or
//! bucket) and returns the path inside it.
//!
//! The interface is what the output's commit rule (`crate::storage`) and the input's
//! ranged reads (`crate::input`, `crate::chunk`) need, and no more:
//! - [`Store::create`] writes a file under a name nobody reads (a hidden temporary);
//! - [`Store::publish`] moves it to its real name, atomically, and without `replace`
//!   only if that name is free: the first attempt of a chunk wins. A local folder does
//!   it with a hard link, HDFS with its rename, an object store with a conditional copy
//!   (`If-None-Match: *`): an object is whole or absent, never half written;
//! - [`Store::open`] gives a [`Source`] read by byte ranges, so no worker needs a copy of
//!   the input.
//!
//! Why our own trait rather than `object_store`'s for everything: HDFS is written with its
//! replication and block size as settings, which `hdfs-native-object-store` does not take,
//! and reads ahead packet by packet (see [`hdfs`]); a local file is read with `pread`.
//! `object_store` serves the stores it was made for, through [`object`].
pub mod hdfs;
pub mod local;
pub mod object;
mod windowed;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use hdfs::HdfsOptions;
pub use windowed::{WindowedReader, WINDOW};

/// A file or folder: on local disk, on HDFS, or in an object store's bucket.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Location {
    /// A path on this machine (relative or absolute, as given).
    Local(PathBuf),
    /// `hdfs://AUTHORITY/PATH`: the NameNode and an absolute path (`/` at least).
    Hdfs { authority: String, path: String },
    /// `s3://BUCKET/KEY` or `gs://BUCKET/KEY`: the key has no leading or trailing `/`.
    Bucket { cloud: Cloud, bucket: String, key: String },
}

/// The object stores a [`Location::Bucket`] may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cloud {
    /// Amazon S3 and S3-compatible servers (`AWS_ENDPOINT_URL`).
    S3,
    /// Google Cloud Storage.
    Gcs,
}

impl Cloud {
    pub fn scheme(self) -> &'static str {
        match self {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
        }
    }
}

impl Location {
    /// Parses what a user writes: a URL with a scheme wattswarm knows, or a local path.
    /// Any other `scheme://` is refused rather than taken for a local folder.
    pub fn parse(s: &str) -> Result<Location> {
        let bad = |reason: &str| Error::BadLocation {
            location: s.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let cloud = match scheme {
            "hdfs" => {
                if authority.is_empty() {
                    return Err(bad("expected hdfs://NAMENODE:PORT/path"));
                }
                let path = path.trim_end_matches('/');
                return Ok(Location::Hdfs {
                    authority: authority.to_owned(),
                    path: if path.is_empty() { "/".into() } else { path.to_owned() },
                });
            }
            "s3" | "s3a" => Cloud::S3,
            "gs" | "gcs" => Cloud::Gcs,
            "file" => return Ok(Location::Local(PathBuf::from(rest))),
            _ => return Err(bad("give a local path, hdfs://NAMENODE:PORT/path, s3://BUCKET/path or gs://BUCKET/path")),
        };
        if authority.is_empty() {
            return Err(bad(&format!("expected {}://BUCKET/path", cloud.scheme())));
        }
        Ok(Location::Bucket {
            cloud,
            bucket: authority.to_owned(),
            key: path.trim_matches('/').to_owned(),
        })
    }

    /// A local path as a location.
    pub fn local(path: impl Into<PathBuf>) -> Location {
        Location::Local(path.into())
    }

    /// `rel` (a `/`-separated relative path) inside this location.
    pub fn join(&self, rel: &str) -> Location {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return self.clone();
        }
        match self {
            Location::Local(p) => Location::Local(p.join(rel)),
            Location::Hdfs { authority, path } => Location::Hdfs {
                authority: authority.clone(),
                path: format!("{}/{rel}", path.trim_end_matches('/')),
            },
            Location::Bucket { cloud, bucket, key } => Location::Bucket {
                cloud: *cloud,
                bucket: bucket.clone(),
                key: if key.is_empty() { rel.to_owned() } else { format!("{key}/{rel}") },
            },
        }
    }

    /// The last part of the path, if any.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            Location::Local(p) => p.file_name().and_then(|n| n.to_str()),
            Location::Hdfs { path, .. } => path.rsplit('/').next().filter(|n| !n.is_empty()),
            Location::Bucket { key, .. } => key.rsplit('/').next().filter(|n| !n.is_empty()),
        }
    }

    /// The location beside this one named `name` (same folder).
    pub fn with_file_name(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.with_file_name(name)),
            Location::Hdfs { authority, path } => Location::Hdfs {
                authority: authority.clone(),
                path: format!("{}/{name}", &path[..path.rfind('/').unwrap_or(0)]),
            },
            Location::Bucket { cloud, bucket, key } => Location::Bucket {
                cloud: *cloud,
                bucket: bucket.clone(),
                key: match key.rfind('/') {
                    Some(i) => format!("{}/{name}", &key[..i]),
                    None => name.to_owned(),
                },
            },
        }
    }

    /// The local path, for what only a local file can do (globs, file types).
    pub fn as_local(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            _ => None,
        }
    }

    /// This location as a path, for error messages that name a path.
    pub fn shown(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// Connects to this location's store (cached) and returns it with the path inside it.
    pub fn store(&self, hdfs_options: &HdfsOptions) -> Result<(Arc<dyn Store>, String)> {
        match self {
            Location::Local(p) => Ok((local::LocalStore::shared(), p.to_string_lossy().into_owned())),
            Location::Hdfs { authority, path } => {
                let fs: Arc<dyn Store> = hdfs::connect(&format!("hdfs://{authority}"), hdfs_options)?;
                Ok((fs, path.clone()))
            }
            Location::Bucket { cloud, bucket, key } => Ok((object::connect(*cloud, bucket)?, key.clone())),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Hdfs { authority, path } => write!(f, "hdfs://{authority}{path}"),
            Location::Bucket { cloud, bucket, key } if key.is_empty() => write!(f, "{}://{bucket}", cloud.scheme()),
            Location::Bucket { cloud, bucket, key } => write!(f, "{}://{bucket}/{key}", cloud.scheme()),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}", self = self.to_string())
    }
}

impl std::str::FromStr for Location {
    type Err = Error;
    fn from_str(s: &str) -> Result<Location> {
        Location::parse(s)
    }
}

impl TryFrom<String> for Location {
    type Error = Error;
    fn try_from(s: String) -> Result<Location> {
        Location::parse(&s)
    }
}

impl From<Location> for String {
    fn from(l: Location) -> String {
        l.to_string()
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Local(p.to_owned())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Local(p)
    }
}

/// What a store says of a file or folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The name inside its folder.
    pub name: String,
    pub len: u64,
    pub is_dir: bool,
    /// Last modification, nanoseconds since 1970, where the store keeps one.
    pub modified_ns: Option<u64>,
}

/// A file, a folder or a bucket, addressed by paths inside it (`/`-separated).
pub trait Store: Send + Sync + fmt::Debug {
    /// `path` as a user would write it, for messages (never with credentials).
    fn url(&self, path: &str) -> String;
    /// The file or folder at `path`, or `None` if there is none.
    fn status(&self, path: &str) -> Result<Option<Meta>>;
    /// Whether a file (not a folder) is at `path`.
    fn file_exists(&self, path: &str) -> Result<bool> {
        Ok(self.status(path)?.is_some_and(|m| !m.is_dir))
    }
    /// The entries of folder `dir` (not recursive); empty if it does not exist.
    fn list(&self, dir: &str) -> Result<Vec<Meta>>;
    /// Creates folder `dir` and its parents (nothing to do where folders are implicit).
    fn mkdirs(&self, dir: &str) -> Result<()>;
    /// Removes a file, or a folder with all it holds; a missing one is not an error.
    fn delete(&self, path: &str, recursive: bool) -> Result<()>;
    /// Starts writing `path` (replacing any earlier file of that name).
    fn create(&self, path: &str) -> Result<Box<dyn Sink>>;
    /// Moves closed file `from` to `to` as one step: readers see all of it or nothing.
    /// Without `replace`, only if `to` does not exist: returns `false` (and leaves `from`
    /// for the caller to remove) when it does.
    fn publish(&self, from: &str, to: &str, replace: bool) -> Result<bool>;
    /// Opens `path` for reads at any position.
    fn open(&self, path: &str) -> Result<Arc<dyn Source>>;
    /// The whole file, or `None` if it does not exist.
    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        if self.status(path)?.is_none() {
            return Ok(None);
        }
        let src = self.open(path)?;
        Ok(Some(src.read_range(0, src.len() as usize)?.to_vec()))
    }
}

/// A file being written. Dropped without [`Sink::start_close`], it leaves at most a
/// hidden temporary (or an unfinished upload) that nobody reads.
pub trait Sink: Write + Send {
    /// Sends what is buffered and starts to make the file durable; returns its length and
    /// the close under way (see [`Closing`]).
    fn start_close(self: Box<Self>) -> Result<(u64, Closing)>;
}

/// A file opened for reads by byte range.
pub trait Source: Send + Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads up to `buf.len()` bytes at `pos`; fewer only at the end of the file, 0 past it.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize>;
    /// `n` bytes at `pos`, which must lie inside the file.
    fn read_range(&self, pos: u64, n: usize) -> Result<Bytes>;
    /// Hints that the next [`Source::read_at`] is `n` bytes at `pos`: a remote store starts
    /// it now, so the transfer overlaps the caller's work (a local file has the kernel's
    /// read-ahead). One range at a time; another call replaces it.
    fn read_ahead(&self, _pos: u64, _n: usize) {}
    /// The file's status now (`None` if it is gone), to tell whether it changed.
    fn status(&self) -> Result<Option<Meta>>;
    /// Where it is, for messages.
    fn url(&self) -> String;
}

/// A file's close under way: on HDFS the NameNode's `complete()`, in an object store the
/// last part of its upload. Started one after another, a chunk's files would wait for
/// their server once each; [`Closing::wait`] lets them wait together.
pub struct Closing(Option<std::sync::mpsc::Receiver<Result<()>>>);

impl Closing {
    /// A close that is already over.
    pub fn done() -> Closing {
        Closing(None)
    }

    /// Runs `close` on the I/O runtime; [`Closing::wait`] waits for it.
    pub fn spawn(close: impl std::future::Future<Output = Result<()>> + Send + 'static) -> Closing {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        crate::runtime::io_runtime().spawn(async move {
            let _ = tx.send(close.await);
        });
        Closing(Some(rx))
    }

    pub fn wait(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(rx) => rx.recv().expect("the I/O runtime finishes what it starts"),
        }
    }
}

impl fmt::Debug for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Closing" } else { "Closed" })
    }
}

/// `rel` inside `dir`, for stores whose paths are `/`-separated strings.
pub(crate) fn join_path(dir: &str, rel: &str) -> String {
    match (dir.trim_end_matches('/'), rel.trim_start_matches('/')) {
        (d, "") => d.to_owned(),
        ("", r) if dir.starts_with('/') => format!("/{r}"),
        ("", r) => r.to_owned(),
        (d, r) => format!("{d}/{r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print_as_given() {
        for (given, printed) in [
            ("/data/lcl", "/data/lcl"),
            ("data/x.csv", "data/x.csv"),
            ("hdfs://nn:9000/a/b/", "hdfs://nn:9000/a/b"),
            ("hdfs://nn:9000", "hdfs://nn:9000/"),
            ("s3://bucket/lcl/part.csv", "s3://bucket/lcl/part.csv"),
            ("s3a://bucket/lcl/", "s3://bucket/lcl"),
            ("gs://b/k", "gs://b/k"),
            ("s3://bucket", "s3://bucket"),
        ] {
            assert_eq!(Location::parse(given).unwrap().to_string(), printed);
        }
        assert!(Location::parse("hdfs:///a").unwrap_err().to_string().contains("hdfs://NAMENODE:PORT/path"));
        assert!(Location::parse("s3:///key").unwrap_err().to_string().contains("s3://BUCKET/path"));
        assert!(Location::parse("ftp://x/y").unwrap_err().to_string().contains("s3://BUCKET/path"));
        assert_eq!(Location::parse("/tmp/hdfs:x").unwrap(), Location::local("/tmp/hdfs:x"));
    }

    #[test]
    fn locations_join_and_travel_as_strings() {
        let s3 = Location::parse("s3://b/out").unwrap();
        assert_eq!(s3.join("parquet/part-00001.parquet").to_string(), "s3://b/out/parquet/part-00001.parquet");
        assert_eq!(Location::parse("s3://b").unwrap().join("x").to_string(), "s3://b/x");
        assert_eq!(Location::parse("hdfs://nn:1/").unwrap().join("x").to_string(), "hdfs://nn:1/x");
        let f = Location::parse("hdfs://nn:1/lcl/a.csv").unwrap();
        assert_eq!(f.file_name(), Some("a.csv"));
        assert_eq!(f.with_file_name("h.csv").to_string(), "hdfs://nn:1/lcl/h.csv");
        assert_eq!(Location::parse("s3://b/a.csv").unwrap().with_file_name("h.csv").to_string(), "s3://b/h.csv");
        let json = serde_json::to_string(&s3).unwrap();
        assert_eq!(json, "\"s3://b/out\"");
        assert_eq!(serde_json::from_str::<Location>(&json).unwrap(), s3);
        assert!(serde_json::from_str::<Location>("\"ftp://x\"").is_err());
    }

    #[test]
    fn paths_join() {
        assert_eq!(join_path("/a/", "b"), "/a/b");
        assert_eq!(join_path("/", "b"), "/b");
        assert_eq!(join_path("", "b"), "b");
        assert_eq!(join_path("k", ""), "k");
        assert_eq!(join_path("/a", ""), "/a");
    }
}
