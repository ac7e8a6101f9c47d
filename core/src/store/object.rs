//! Object stores through Apache Arrow's `object_store`: Amazon S3 and S3-compatible servers
//! (MinIO, SeaweedFS, Ceph, R2…) as `s3://BUCKET/path`, Google Cloud Storage as
//! `gs://BUCKET/path`.
//!
//! Configured the way every AWS tool is, from the environment: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL` (an
//! S3-compatible server), `AWS_ALLOW_HTTP=true` (a plain-HTTP endpoint); any other
//! `AWS_*` key that `object_store` knows is taken too. Where the key pair is not in the
//! environment it is read from Docker secrets: the file `AWS_ACCESS_KEY_ID_FILE` names, or
//! else `/run/secrets/aws_access_key_id` (the same for the secret key). GCS takes
//! `GOOGLE_APPLICATION_CREDENTIALS` or `GOOGLE_SERVICE_ACCOUNT`. No credential is ever
//! logged or shown: messages name the bucket and the key only.
//!
//! The commit rule: a file is uploaded under its hidden temporary key (one PUT, or a
//! multipart upload for a file over [`PART`]; neither is visible before it is complete)
//! and then copied to its real key on condition that the key does not exist
//! (`If-None-Match: *`, on a copy done as a one-part multipart upload: what
//! `object_store` calls `S3CopyIfNotExists::Multipart`, which Amazon S3, MinIO and
//! SeaweedFS honour; `AWS_COPY_IF_NOT_EXISTS` chooses another way for other servers).
//! Of two attempts of a chunk, the first copy wins and the second is told the key exists.
//! Reads are byte ranges (`GET` with `Range`): no worker fetches a whole input file.
//!
//! Retries of a failed request (5xx, a dropped connection) are `object_store`'s own:
//! up to 10, with backoff, for at most 3 minutes.
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{CopyMode, CopyOptions, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};

use super::{Closing, Cloud, Meta, Sink, Source, Store};
use crate::error::{Error, Result};
use crate::runtime::{block_on, io_runtime};

/// One bucket of an object store.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    cloud: Cloud,
    bucket: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({}://{})", self.cloud.scheme(), self.bucket)
    }
}

/// The bucket, connected once per process and endpoint (credentials and endpoint from
/// the environment).
pub fn connect(cloud: Cloud, bucket: &str) -> Result<Arc<dyn Store>> {
    type Buckets = Mutex<HashMap<(Cloud, String, String), Arc<Bucket>>>;
    static BUCKETS: OnceLock<Buckets> = OnceLock::new();
    let key = (cloud, bucket.to_owned(), std::env::var("AWS_ENDPOINT_URL").unwrap_or_default());
    let mut buckets = BUCKETS.get_or_init(Default::default).lock().expect("not poisoned");
    if let Some(b) = buckets.get(&key) {
        return Ok(b.clone());
    }
    // One TLS implementation for every client of the process (MongoDB's uses ring too).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = build(cloud, bucket).map_err(|e| Error::ObjectStore {
        location: format!("{}://{bucket}", cloud.scheme()),
        reason: format!("cannot configure the client: {e}"),
    })?;
    let b = Arc::new(Bucket {
        store,
        cloud,
        bucket: bucket.to_owned(),
    });
    buckets.insert(key, b.clone());
    Ok(b)
}

fn build(cloud: Cloud, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::gcp::GoogleCloudStorageBuilder;
    Ok(match cloud {
        Cloud::S3 => {
            // What `AmazonS3Builder::from_env` does, but an empty variable counts as unset:
            // compose files pass `AWS_ENDPOINT_URL: ${AWS_ENDPOINT_URL:-}` through.
            let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
            for (var, value) in std::env::vars() {
                if let (Some(_), false) = (var.strip_prefix("AWS_"), value.is_empty()) {
                    if let Ok(key) = var.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                        b = b.with_config(key, value);
                    }
                }
            }
            for (var, key) in [
                ("AWS_ACCESS_KEY_ID", AmazonS3ConfigKey::AccessKeyId),
                ("AWS_SECRET_ACCESS_KEY", AmazonS3ConfigKey::SecretAccessKey),
            ] {
                if let Some(v) = docker_secret(var) {
                    b = b.with_config(key, v);
                }
            }
            if std::env::var("AWS_COPY_IF_NOT_EXISTS").unwrap_or_default().is_empty() {
                b = b.with_config(AmazonS3ConfigKey::CopyIfNotExists, "multipart");
            }
            Arc::new(b.build()?)
        }
        Cloud::Gcs => Arc::new(GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket).build()?),
    })
}

/// `var` from a Docker secret, when the environment does not set it: the file that
/// `<var>_FILE` names, or `/run/secrets/<var in lower case>`.
fn docker_secret(var: &str) -> Option<String> {
    if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let file = std::env::var(format!("{var}_FILE"))
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| format!("/run/secrets/{}", var.to_ascii_lowercase()));
    std::fs::read_to_string(file).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Bytes per part of a multipart upload (S3 wants at least 5 MiB but for the last), and
/// the largest file sent as one PUT.
pub const PART: usize = 8 << 20;
/// Parts of one file in flight at once: the upload overlaps the writer's work, and memory
/// stays at `PART * (PARTS_IN_FLIGHT + 1)` per file being written.
const PARTS_IN_FLIGHT: usize = 2;

fn name_of(key: &Key) -> String {
    key.filename().unwrap_or_default().to_owned()
}

/// What the store says of an object, as a [`Meta`].
fn meta_of(m: &object_store::ObjectMeta) -> Meta {
    Meta {
        name: name_of(&m.location),
        len: m.size,
        is_dir: false,
        modified_ns: m.last_modified.timestamp_nanos_opt().map(|n| n.max(0) as u64),
    }
}

/// The object at `key` (one HEAD), or `None` where there is none.
fn head(store: &Arc<dyn ObjectStore>, key: &Key) -> object_store::Result<Option<Meta>> {
    let (s, key) = (store.clone(), key.clone());
    match block_on(async move { s.head(&key).await }) {
        Ok(m) => Ok(Some(meta_of(&m))),
        Err(e) if missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Bucket {
    fn err(&self, action: &str, path: &str, e: object_store::Error) -> Error {
        let text = short(&e);
        // The server's XML body says it; the user needs the one fact and what to do.
        let reason = if text.contains("NoSuchBucket") {
            let create = match self.cloud {
                Cloud::S3 => "aws s3 mb s3://",
                Cloud::Gcs => "gcloud storage buckets create gs://",
            };
            format!("cannot {action}: the bucket {0} does not exist: create it first (`{create}{0}`)", self.bucket)
        } else {
            format!("cannot {action}: {text}")
        };
        Error::ObjectStore { location: self.url(path), reason }
    }

    fn key(path: &str) -> Key {
        Key::from(path.trim_matches('/'))
    }

    /// What is under `dir` (a missing bucket is an error: `NoSuchBucket` on S3).
    fn list_result(&self, dir: &str) -> object_store::Result<object_store::ListResult> {
        let (s, prefix) = (self.store.clone(), dir.trim_matches('/').to_owned());
        block_on(async move {
            let prefix = (!prefix.is_empty()).then(|| Key::from(prefix));
            s.list_with_delimiter(prefix.as_ref()).await
        })
    }
}

/// An `object_store` error in one line: its source chain, without the request's headers.
fn short(e: &object_store::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn missing(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl Store for Bucket {
    fn url(&self, path: &str) -> String {
        let path = path.trim_matches('/');
        if path.is_empty() {
            format!("{}://{}", self.cloud.scheme(), self.bucket)
        } else {
            format!("{}://{}/{path}", self.cloud.scheme(), self.bucket)
        }
    }

    /// An object, or a "folder": a prefix that some objects' keys start with.
    fn status(&self, path: &str) -> Result<Option<Meta>> {
        let key = Self::key(path);
        if !key.as_ref().is_empty() {
            if let Some(m) = head(&self.store, &key).map_err(|e| self.err("stat", path, e))? {
                return Ok(Some(m));
            }
        }
        let listed = self.list_result(path).map_err(|e| self.err("list", path, e))?;
        let is_dir = !listed.objects.is_empty() || !listed.common_prefixes.is_empty();
        Ok(is_dir.then(|| Meta {
            name: path.trim_matches('/').rsplit('/').next().unwrap_or_default().to_owned(),
            len: 0,
            is_dir: true,
            modified_ns: None,
        }))
    }

    /// One HEAD: a missing object needs no listing to tell it from a folder.
    fn file_exists(&self, path: &str) -> Result<bool> {
        Ok(head(&self.store, &Self::key(path)).map_err(|e| self.err("stat", path, e))?.is_some())
    }

    fn list(&self, dir: &str) -> Result<Vec<Meta>> {
        let listed = self.list_result(dir).map_err(|e| self.err("list", dir, e))?;
        let dirs = listed.common_prefixes.iter().map(|p| Meta {
            name: name_of(p),
            len: 0,
            is_dir: true,
            modified_ns: None,
        });
        let files = listed.objects.iter().map(meta_of);
        Ok(dirs.chain(files).collect())
    }

    /// Folders are implicit in an object store.
    fn mkdirs(&self, _dir: &str) -> Result<()> {
        Ok(())
    }

    fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        let (s, key) = (self.store.clone(), Self::key(path));
        let r = block_on(async move {
            if recursive {
                let keys = s.list(Some(&key)).map(|m| m.map(|m| m.location)).boxed();
                let mut gone = s.delete_stream(keys);
                while let Some(r) = gone.next().await {
                    match r {
                        Err(e) if !missing(&e) => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            } else {
                match s.delete(&key).await {
                    Err(e) if !missing(&e) => Err(e),
                    _ => Ok(()),
                }
            }
        });
        r.map_err(|e| self.err("delete", path, e))
    }

    fn create(&self, path: &str) -> Result<Box<dyn Sink>> {
        Ok(Box::new(ObjectSink {
            store: self.store.clone(),
            key: Self::key(path),
            url: self.url(path),
            buf: Vec::new(),
            upload: None,
            parts: Vec::new(),
            written: 0,
        }))
    }

    /// A conditional copy, then the temporary's removal. A copy that finds the key taken
    /// answers `AlreadyExists` (or, from some servers, `Precondition`). Once the copy is
    /// made the file is committed: a temporary that could not be removed stays hidden, and
    /// the job's end clears it (as a local folder's publish leaves its link's source).
    fn publish(&self, from: &str, to: &str, replace: bool) -> Result<bool> {
        let (s, f, t) = (self.store.clone(), Self::key(from), Self::key(to));
        let mode = if replace { CopyMode::Overwrite } else { CopyMode::Create };
        let copied = block_on(async move {
            match s.copy_opts(&f, &t, CopyOptions::new().with_mode(mode)).await {
                Ok(()) => {
                    let _ = s.delete(&f).await;
                    Ok(true)
                }
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        });
        copied.map_err(|e| self.err("publish", &format!("{from} as {to}"), e))
    }

    fn open(&self, path: &str) -> Result<Arc<dyn Source>> {
        let (s, key) = (self.store.clone(), Self::key(path));
        let head = block_on(async move { s.head(&key).await }).map_err(|e| self.err("open", path, e))?;
        Ok(Arc::new(ObjectFile {
            store: self.store.clone(),
            key: Self::key(path),
            url: self.url(path),
            len: head.size,
            ahead: Mutex::default(),
        }))
    }

    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let (s, key) = (self.store.clone(), Self::key(path));
        match block_on(async move { s.get(&key).await?.bytes().await }) {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(self.err("read", path, e)),
        }
    }
}

/// An object being written: one PUT when it stays under [`PART`], else a multipart upload
/// whose parts go out while the writer goes on.
struct ObjectSink {
    store: Arc<dyn ObjectStore>,
    key: Key,
    url: String,
    buf: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    parts: Vec<tokio::task::JoinHandle<object_store::Result<()>>>,
    written: u64,
}

impl ObjectSink {
    fn failed(&self, e: object_store::Error) -> std::io::Error {
        std::io::Error::other(format!("{}: {}", self.url, short(&e)))
    }

    /// Sends the buffer as the next part, after waiting for parts beyond the window.
    fn send_part(&mut self) -> std::io::Result<()> {
        if self.upload.is_none() {
            let (s, key) = (self.store.clone(), self.key.clone());
            let upload = block_on(async move { s.put_multipart(&key).await }).map_err(|e| self.failed(e))?;
            self.upload = Some(upload);
        }
        while self.parts.len() >= PARTS_IN_FLIGHT {
            let first = self.parts.remove(0);
            block_on(first).map_err(std::io::Error::other)?.map_err(|e| self.failed(e))?;
        }
        let data = Bytes::from(std::mem::take(&mut self.buf));
        self.written += data.len() as u64;
        let part = self.upload.as_mut().expect("started above").put_part(PutPayload::from(data));
        self.parts.push(io_runtime().spawn(part));
        Ok(())
    }
}

impl Write for ObjectSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(PART.min(data.len().max(64 << 10)));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART {
            self.send_part()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for ObjectSink {
    fn start_close(mut self: Box<Self>) -> Result<(u64, Closing)> {
        let url = self.url.clone();
        let failed = move |e: object_store::Error| Error::ObjectStore {
            location: url.clone(),
            reason: format!("cannot write: {}", short(&e)),
        };
        let len = self.written + self.buf.len() as u64;
        let Some(mut upload) = self.upload.take() else {
            let (s, key, data) = (self.store.clone(), self.key.clone(), Bytes::from(std::mem::take(&mut self.buf)));
            return Ok((len, Closing::spawn(async move { s.put(&key, PutPayload::from(data)).await.map(|_| ()).map_err(failed) })));
        };
        let mut parts = std::mem::take(&mut self.parts);
        if !self.buf.is_empty() {
            let data = Bytes::from(std::mem::take(&mut self.buf));
            parts.push(io_runtime().spawn(upload.put_part(PutPayload::from(data))));
        }
        let closing = Closing::spawn(async move {
            for p in parts {
                let sent = p.await.unwrap_or_else(|e| Err(object_store::Error::JoinError { source: e }));
                if let Err(e) = sent {
                    let _ = upload.abort().await;
                    return Err(failed(e));
                }
            }
            upload.complete().await.map(|_| ()).map_err(failed)
        });
        Ok((len, closing))
    }
}

impl Drop for ObjectSink {
    /// An upload given up (the writer failed or was dropped) is aborted, so the store
    /// frees its parts; a process killed meanwhile leaves them to the bucket's lifecycle
    /// rule for incomplete multipart uploads.
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            io_runtime().spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// An object read by byte ranges.
struct ObjectFile {
    store: Arc<dyn ObjectStore>,
    key: Key,
    url: String,
    len: u64,
    /// The range [`Source::read_ahead`] asked for, being fetched on the I/O runtime.
    ahead: Mutex<Option<(u64, usize, tokio::task::JoinHandle<object_store::Result<Bytes>>)>>,
}

impl ObjectFile {
    fn fetch(&self, pos: u64, n: usize) -> impl std::future::Future<Output = object_store::Result<Bytes>> + Send + 'static {
        let (s, key) = (self.store.clone(), self.key.clone());
        async move { s.get_range(&key, pos..pos + n as u64).await }
    }

    fn err(&self, e: object_store::Error) -> Error {
        Error::ObjectStore {
            location: self.url.clone(),
            reason: format!("cannot read: {}", short(&e)),
        }
    }
}

impl Source for ObjectFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        if pos >= self.len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.len - pos) as usize;
        let ahead = self.ahead.lock().expect("not poisoned").take();
        let bytes = match ahead {
            Some((at, len, fetching)) if at == pos && len == n => block_on(fetching).map_err(|e| self.err(object_store::Error::JoinError { source: e }))?,
            _ => block_on(self.fetch(pos, n)),
        }
        .map_err(|e| self.err(e))?;
        if bytes.len() != n {
            return Err(Error::InputChanged {
                path: self.url.clone().into(),
                reason: format!("a read of {n} bytes at {pos} returned {}", bytes.len()),
            });
        }
        buf[..n].copy_from_slice(&bytes);
        Ok(n)
    }

    fn read_range(&self, pos: u64, n: usize) -> Result<Bytes> {
        block_on(self.fetch(pos, n)).map_err(|e| self.err(e))
    }

    fn read_ahead(&self, pos: u64, n: usize) {
        let n = (n as u64).min(self.len.saturating_sub(pos)) as usize;
        if n > 0 {
            let fetching = io_runtime().spawn(self.fetch(pos, n));
            if let Some((_, _, old)) = self.ahead.lock().expect("not poisoned").replace((pos, n, fetching)) {
                old.abort();
            }
        }
    }

    fn status(&self) -> Result<Option<Meta>> {
        head(&self.store, &self.key).map_err(|e| self.err(e))
    }

    fn url(&self) -> String {
        self.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key from a Docker secret when the environment does not set it, trimmed (secrets
    /// made with `echo` end with a newline); the environment wins; empty means unset.
    #[test]
    fn keys_come_from_the_environment_or_docker_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-the-secret\n").unwrap();
        let var = "WATTSWARM_TEST_OBJECT_KEY";
        std::env::set_var(format!("{var}_FILE"), &file);
        assert_eq!(docker_secret(var).as_deref(), Some("from-the-secret"));
        std::env::set_var(var, "");
        assert_eq!(docker_secret(var).as_deref(), Some("from-the-secret"), "empty counts as unset");
        std::env::set_var(var, "from-the-environment");
        assert_eq!(docker_secret(var), None, "the environment's value is used as it is");
        std::env::remove_var(var);
        std::env::set_var(format!("{var}_FILE"), dir.path().join("missing"));
        assert_eq!(docker_secret(var), None);
    }
}
