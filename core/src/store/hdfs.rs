//! HDFS through `hdfs-native`, the pure-Rust client: no JVM and no libhdfs on the workers.
//!
//! Every call runs on the I/O runtime (`crate::runtime`). Clients are cached per NameNode,
//! and the first use of a NameNode checks that it answers, retrying with backoff, so a
//! cluster whose NameNode starts after the master or the workers costs seconds, not a
//! failed job.
//!
//! We use the client directly rather than through `object_store`: the object-store adapter
//! always takes the server's replication and block size, and both are settings here.
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};
use serde::{Deserialize, Serialize};

use super::{Closing, Meta, Sink, Source, Store};
use crate::error::{Error, Result};
use crate::retry::{Policy, Retriable};
use crate::runtime::{block_on, io_runtime};

/// How wattswarm writes to HDFS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdfsOptions {
    /// Replicas of every file written; the NameNode's default when unset.
    #[serde(default)]
    pub replication: Option<u32>,
    /// HDFS block size of every file written, in bytes; the NameNode's default when unset.
    #[serde(default)]
    pub block_size: Option<u64>,
    /// How long to keep retrying a NameNode that does not answer at first, in seconds.
    #[serde(default = "default_connect_seconds")]
    pub connect_seconds: u64,
    /// Read a block from the disk of a DataNode on this machine (HDFS's legacy short-circuit
    /// reads, the patch in vendor/hdfs-native) instead of through the DataNode's socket.
    /// The DataNode must name this process's user in `dfs.block.local-path-access.user`;
    /// otherwise, and for DataNodes elsewhere, blocks come over TCP as before.
    #[serde(default)]
    pub short_circuit: bool,
    /// Read a range over TCP with the vendored client's blocking reader (the patch in
    /// vendor/hdfs-native, `direct_read.rs`): straight from the socket into the caller's
    /// buffer, a range read ahead being requested at once and waiting in the socket,
    /// instead of through the client's packet stream. Where it does not apply (Kerberos,
    /// encrypted transfer or zones, erasure coding) or fails, a range is read through the
    /// stream as before.
    #[serde(default = "default_direct_read")]
    pub direct_read: bool,
}

fn default_direct_read() -> bool {
    true
}

fn default_connect_seconds() -> u64 {
    30
}

impl Default for HdfsOptions {
    fn default() -> Self {
        HdfsOptions {
            replication: None,
            block_size: None,
            connect_seconds: default_connect_seconds(),
            short_circuit: false,
            direct_read: default_direct_read(),
        }
    }
}

/// A NameNode that is up but cannot take writes yet: in safe mode (its exception class),
/// or with no DataNode registered (Hadoop throws a plain `IOException` for that, so only
/// its text tells).
fn not_ready(e: &HdfsError) -> bool {
    match e {
        HdfsError::RPCError(class, msg) => {
            class.ends_with("SafeModeException") || class.ends_with("RetriableException") || msg.contains("could only be written to 0")
        }
        _ => false,
    }
}

/// Whether waiting can cure an HDFS error: not for a bad URL or path, refused
/// credentials or permissions, or a feature the client lacks.
impl Retriable for HdfsError {
    fn retriable(&self) -> bool {
        match self {
            HdfsError::RPCError(class, _) => !class.ends_with("AccessControlException"),
            HdfsError::InvalidPath(_)
            | HdfsError::InvalidArgument(_)
            | HdfsError::UrlParseError(_)
            | HdfsError::UnsupportedFeature(_)
            | HdfsError::UnsupportedErasureCodingPolicy(_)
            | HdfsError::FatalRPCError(..)
            | HdfsError::SASLError(_)
            | HdfsError::GSSAPIError(..)
            | HdfsError::NoSASLMechanism => false,
            _ => true,
        }
    }
}

fn not_found(e: &HdfsError) -> bool {
    match e {
        HdfsError::FileNotFound(_) => true,
        HdfsError::RPCError(class, _) => class.contains("FileNotFoundException"),
        _ => false,
    }
}

/// A connected NameNode.
#[derive(Debug, Clone)]
pub struct Hdfs {
    client: Client,
    /// `hdfs://host:port`, for messages.
    pub url: String,
    options: HdfsOptions,
}

/// Connects to the NameNode of `url` (cached per URL and options).
pub fn connect(url: &str, options: &HdfsOptions) -> Result<Arc<Hdfs>> {
    type Clients = Mutex<HashMap<(String, HdfsOptions), Arc<Hdfs>>>;
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    let key = (url.to_owned(), options.clone());
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(c) = clients.lock().expect("not poisoned").get(&key) {
        return Ok(c.clone());
    }
    let short_circuit = if options.short_circuit { "true" } else { "false" };
    let client = ClientBuilder::new()
        .with_url(url)
        // The client's own failover loop sleeps up to 15 s between attempts and logs each;
        // one quick retry here, and wattswarm's backoff (below) or a chunk retry does the rest.
        .with_config([
            ("dfs.client.failover.max.attempts", "1"),
            ("dfs.client.failover.sleep.base.millis", "100"),
            ("dfs.client.failover.sleep.max.millis", "1000"),
            // A file's close asks the NameNode to `complete()` it until a DataNode has
            // reported its last block, which takes milliseconds: ask again after 2 ms,
            // doubling, rather than the client's 500 ms (the patch in vendor/hdfs-native).
            // 14 retries (capped at 5 s each) give up after ~18 s, as 5 from 500 ms did ~15 s.
            ("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", "2"),
            ("dfs.client.block.write.locateFollowingBlock.max.delay.ms", "5000"),
            ("dfs.client.block.write.locateFollowingBlock.retries", "14"),
            // Hadoop's two keys for the legacy short-circuit reader; checksums stay verified.
            ("dfs.client.read.shortcircuit", short_circuit),
            ("dfs.client.use.legacy.blockreader.local", short_circuit),
        ])
        .with_io_runtime(io_runtime().handle().clone())
        .build()
        .map_err(|e| Error::Hdfs {
            location: url.to_owned(),
            reason: e.to_string(),
        })?;
    let hdfs = Arc::new(Hdfs {
        client,
        url: url.to_owned(),
        options: options.clone(),
    });
    hdfs.wait_until_up()?;
    clients.lock().expect("not poisoned").insert(key, hdfs.clone());
    Ok(hdfs)
}

/// Input bytes this process read from a DataNode's disk by short-circuit reads.
pub fn short_circuit_read_bytes() -> u64 {
    hdfs_native::short_circuit_read_bytes()
}

/// Input bytes this process read over TCP with the direct reader ([`HdfsOptions::direct_read`]).
pub fn direct_read_bytes() -> u64 {
    hdfs_native::direct_read_bytes()
}

fn meta(s: hdfs_native::client::FileStatus) -> Meta {
    Meta {
        name: s.path.rsplit('/').next().unwrap_or_default().to_owned(),
        len: s.length as u64,
        is_dir: s.isdir,
        modified_ns: Some(s.modification_time.saturating_mul(1_000_000)),
    }
}

impl Hdfs {
    /// `path` on this NameNode, for messages.
    fn location(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn err(&self, action: &str, path: &str, e: HdfsError) -> Error {
        Error::Hdfs {
            location: self.location(path),
            reason: format!("cannot {action}: {e}"),
        }
    }

    /// Asks the NameNode for `/` and whether it can place a block, retrying with
    /// [`Policy::server`] for at most `connect_seconds`; each attempt is bounded by the
    /// time left (between 0.5 and 10 s). An error that waiting cannot cure (a bad URL,
    /// refused credentials) ends it at once.
    fn wait_until_up(&self) -> Result<()> {
        let what = format!("HDFS NameNode {}", self.url);
        let seconds = self.options.connect_seconds;
        Policy::server(Duration::from_secs(seconds))
            .run(&what, |b| {
                let c = self.client.clone();
                let limit = b.remaining().unwrap_or_default().clamp(Duration::from_millis(500), Duration::from_secs(10));
                block_on(async move {
                    match tokio::time::timeout(limit, c.get_file_info("/")).await {
                        Ok(r) => r.map(|_| ()),
                        Err(_) => Err(HdfsError::OperationFailed(format!("no answer in {limit:?}"))),
                    }
                })
                .and_then(|()| self.probe_write())
            })
            .map_err(|g| Error::Hdfs {
                location: self.url.clone(),
                reason: if g.error.retriable() {
                    format!(
                        "the NameNode did not answer after {} attempts in {seconds} s ({}): is HDFS running, and is the address right?",
                        g.attempts, g.error
                    )
                } else {
                    format!("the NameNode refused: {}", g.error)
                },
            })
    }

    /// A NameNode answers before its DataNodes have registered (or while in safe mode), and
    /// then refuses to place blocks. Writing one byte to a scratch file tells; only
    /// [`not_ready`] answers count (a read-only `/tmp` is not our business).
    fn probe_write(&self) -> std::result::Result<(), HdfsError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = format!("/tmp/.wattswarm-probe-{}-{nanos}", std::process::id());
        let c = self.client.clone();
        let r = block_on(async move {
            let mut w = c.create(&path, WriteOptions::default()).await?;
            w.write_bytes(Bytes::from_static(b"w")).await?;
            w.close().await?;
            c.delete(&path, false).await.map(|_| ())
        });
        match r {
            Err(e) if not_ready(&e) => Err(e),
            _ => Ok(()),
        }
    }

}

impl Store for Hdfs {
    fn url(&self, path: &str) -> String {
        self.location(path)
    }

    fn status(&self, path: &str) -> Result<Option<Meta>> {
        let (c, p) = (self.client.clone(), path.to_owned());
        match block_on(async move { c.get_file_info(&p).await }) {
            Ok(s) => Ok(Some(meta(s))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.err("stat", path, e)),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Meta>> {
        let (c, p) = (self.client.clone(), dir.to_owned());
        match block_on(async move { c.list_status(&p, false).await }) {
            Ok(v) => Ok(v.into_iter().map(meta).collect()),
            Err(e) if not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(self.err("list", dir, e)),
        }
    }

    fn mkdirs(&self, path: &str) -> Result<()> {
        let (c, p) = (self.client.clone(), path.to_owned());
        block_on(async move { c.mkdirs(&p, 0o755, true).await }).map_err(|e| self.err("create the folder", path, e))
    }

    fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        let (c, p) = (self.client.clone(), path.to_owned());
        match block_on(async move { c.delete(&p, recursive).await }) {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(self.err("delete", path, e)),
        }
    }

    /// HDFS's rename refuses an existing target unless told to overwrite.
    fn publish(&self, from: &str, to: &str, replace: bool) -> Result<bool> {
        let (c, f, t) = (self.client.clone(), from.to_owned(), to.to_owned());
        match block_on(async move { c.rename(&f, &t, replace).await }) {
            Ok(()) => Ok(true),
            Err(HdfsError::AlreadyExists(_)) => Ok(false),
            Err(HdfsError::RPCError(class, _)) if !replace && class.contains("FileAlreadyExists") => Ok(false),
            Err(e) => Err(self.err("rename", &format!("{from} to {to}"), e)),
        }
    }

    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let (c, p) = (self.client.clone(), path.to_owned());
        let r = block_on(async move {
            let r = c.read(&p).await?;
            let n = r.file_length();
            r.read_range(0, n).await
        });
        match r {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.err("read", path, e)),
        }
    }

    fn open(&self, path: &str) -> Result<Arc<dyn Source>> {
        let (c, p) = (self.client.clone(), path.to_owned());
        let reader = block_on(async move { c.read(&p).await }).map_err(|e| self.err("open", path, e))?;
        Ok(Arc::new(HdfsReader {
            reader: Arc::new(reader),
            hdfs: self.clone(),
            path: path.to_owned(),
            ahead: Arc::default(),
        }))
    }

    /// With the configured replication and block size; replaces an earlier file.
    fn create(&self, path: &str) -> Result<Box<dyn Sink>> {
        let mut opts = WriteOptions::default().overwrite(true);
        if let Some(r) = self.options.replication {
            opts = opts.replication(r);
        }
        if let Some(b) = self.options.block_size {
            opts = opts.block_size(b);
        }
        let (c, p) = (self.client.clone(), path.to_owned());
        let writer = block_on(async move { c.create(&p, opts).await }).map_err(|e| self.err("create", path, e))?;
        Ok(Box::new(HdfsWriter {
            writer: Some(writer),
            buf: Vec::with_capacity(WRITE_BLOCK),
            written: 0,
            hdfs: self.clone(),
            path: path.to_owned(),
        }))
    }
}

/// Reads `extents` into `buf`, one after the other; false if one failed.
fn read_extents(extents: &[hdfs_native::LocalExtent], buf: &mut [u8]) -> bool {
    let mut at = 0;
    for e in extents {
        if e.read_into(&mut buf[at..at + e.len()]).is_err() {
            return false;
        }
        at += e.len();
    }
    true
}

/// Reads the direct reader's `reads` (a range's blocks, in order) into `buf`, on this thread.
fn read_remote(reads: impl IntoIterator<Item = hdfs_native::StartedRead>, buf: &mut [u8]) -> std::result::Result<(), HdfsError> {
    let mut at = 0;
    for r in reads {
        let len = r.len();
        r.read_into(&mut buf[at..at + len])?;
        at += len;
    }
    Ok(())
}

/// An open HDFS file, read by ranges.
///
/// A range is read, in this order of preference: from this machine's disk (short-circuit,
/// when on and the DataNode allows it); over TCP by the direct reader (on by default);
/// through the client's packet stream. A read ahead ([`Source::read_ahead`]) starts the
/// range at once: the direct reader sends its requests and the DataNode's packets wait in
/// the sockets' buffers (the kernel's); the stream is read on the I/O runtime into a
/// bounded queue. A short-circuit range is read when asked for, as a local file is.
struct HdfsReader {
    reader: Arc<hdfs_native::file::FileReader>,
    hdfs: Hdfs,
    path: String,
    /// The range [`HdfsReader::read_ahead`] asked for, being read.
    ahead: Arc<Mutex<Option<Ahead>>>,
}

impl HdfsReader {
    /// With `short_circuit`, where the range is on this machine's disk: every block of it
    /// on a DataNode here that lets this user read its files (see [`HdfsOptions`]).
    fn local_extents(&self, pos: u64, n: usize) -> Option<Vec<hdfs_native::LocalExtent>> {
        if !self.hdfs.options.short_circuit {
            return None;
        }
        let r = self.reader.clone();
        block_on(async move { r.local_extents(pos as usize, n).await })
    }

    /// With `direct_read`, the range's blocks and their DataNodes, where the direct
    /// reader applies.
    fn remote_extents(&self, pos: u64, n: usize) -> Option<Vec<hdfs_native::RemoteExtent>> {
        if !self.hdfs.options.direct_read {
            return None;
        }
        let r = self.reader.clone();
        block_on(async move { r.remote_extents(pos as usize, n).await })
    }

    /// Reads the range into `buf` from this machine's disk or by the direct reader, where
    /// one of them applies and succeeds; false: read it through the stream.
    fn read_here(&self, pos: u64, buf: &mut [u8]) -> bool {
        let n = buf.len();
        if let Some(extents) = self.local_extents(pos, n) {
            if read_extents(&extents, buf) {
                return true;
            }
            // hdfs-native turned short-circuit reads from that DataNode off and said why:
            // the range comes over TCP.
        }
        if let Some(extents) = self.remote_extents(pos, n) {
            match read_remote(extents.iter().map(|e| e.start()), buf) {
                Ok(()) => return true,
                Err(e) => self.direct_failed(pos, n, e),
            }
        }
        false
    }

    /// A direct read that failed (every replica was tried): the range is read through the
    /// stream, which has its own retries and marks DataNodes dead.
    fn direct_failed(&self, pos: u64, n: usize, e: impl std::fmt::Display) {
        tracing::warn!("{}: reading {n} bytes at {pos} over TCP failed, reading them through the client's stream: {e}", self.hdfs.location(&self.path));
    }
}

/// Packets of a range read ahead that may wait for the reader, besides the client's own
/// queue (100 packets of 64 KiB): at most about 7.3 MiB ahead per open input, whatever the
/// block size. (A short-circuit read is not read ahead: it goes straight into the buffer.)
const AHEAD_PACKETS: usize = 16;

struct Ahead {
    pos: u64,
    len: usize,
    data: AheadData,
}

enum AheadData {
    /// The range's data as the DataNode sends it, packet by packet (64 KiB each).
    Stream(tokio::sync::mpsc::Receiver<std::result::Result<Bytes, HdfsError>>),
    /// The range's blocks, requested from their DataNodes by the direct reader: the bytes
    /// wait in the sockets until read, straight into the caller's buffer.
    Direct(Vec<hdfs_native::StartedRead>),
}

impl Source for HdfsReader {
    fn len(&self) -> u64 {
        self.reader.file_length() as u64
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        let len = self.len();
        if pos >= len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(len - pos) as usize;
        let ahead = self.ahead.lock().expect("not poisoned").take().filter(|a| a.pos == pos && a.len == n);
        match ahead.map(|a| a.data) {
            // Each packet is copied once, straight into `buf`, on the caller's thread.
            Some(AheadData::Stream(mut packets)) => {
                let mut filled = 0;
                while filled < n {
                    let packet = match packets.blocking_recv() {
                        Some(p) => p.map_err(|e| self.hdfs.err("read", &self.path, e))?,
                        None => {
                            return Err(Error::Hdfs {
                                location: self.hdfs.location(&self.path),
                                reason: format!("the read of {n} bytes at {pos} ended after {filled}"),
                            })
                        }
                    };
                    let k = packet.len().min(n - filled);
                    buf[filled..filled + k].copy_from_slice(&packet[..k]);
                    filled += k;
                }
                return Ok(n);
            }
            Some(AheadData::Direct(started)) => match read_remote(started, &mut buf[..n]) {
                Ok(()) => return Ok(n),
                Err(e) => self.direct_failed(pos, n, e),
            },
            None => {
                if self.read_here(pos, &mut buf[..n]) {
                    return Ok(n);
                }
            }
        }
        let r = self.reader.clone();
        let bytes = block_on(async move { r.read_range(pos as usize, n).await }).map_err(|e| self.hdfs.err("read", &self.path, e))?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// The packets are handed over as they come, not gathered into one buffer first (that
    /// copy of every byte was 4.4% of the 11 GB from-HDFS run's CPU samples).
    fn read_ahead(&self, pos: u64, n: usize) {
        use futures_util::StreamExt;
        let n = (n as u64).min(self.len().saturating_sub(pos)) as usize;
        // A range on this machine's disk is read when asked for, as a local file is.
        if n == 0 || self.local_extents(pos, n).is_some() {
            return;
        }
        let data = if let Some(extents) = self.remote_extents(pos, n) {
            AheadData::Direct(extents.iter().map(|e| e.start()).collect())
        } else {
            let (tx, rx) = tokio::sync::mpsc::channel(AHEAD_PACKETS);
            let r = self.reader.clone();
            io_runtime().spawn(async move {
                let mut packets = std::pin::pin!(r.read_range_stream(pos as usize, n));
                while let Some(p) = packets.next().await {
                    let failed = p.is_err();
                    // A reader that went away (the chunk failed, another range replaced this
                    // one) stops the stream.
                    if tx.send(p).await.is_err() || failed {
                        break;
                    }
                }
            });
            AheadData::Stream(rx)
        };
        *self.ahead.lock().expect("not poisoned") = Some(Ahead { pos, len: n, data });
    }

    fn status(&self) -> Result<Option<Meta>> {
        self.hdfs.status(&self.path)
    }

    fn url(&self) -> String {
        self.hdfs.location(&self.path)
    }

    /// As [`Source::read_at`] without a read ahead: short-circuit, direct, the stream.
    fn read_range(&self, pos: u64, n: usize) -> Result<Bytes> {
        if self.hdfs.options.short_circuit || self.hdfs.options.direct_read {
            let mut bytes = vec![0u8; n];
            if self.read_here(pos, &mut bytes) {
                return Ok(bytes.into());
            }
        }
        let r = self.reader.clone();
        block_on(async move { r.read_range(pos as usize, n).await }).map_err(|e| self.hdfs.err("read", &self.path, e))
    }
}

/// Bytes handed to the client per call.
const WRITE_BLOCK: usize = 4 << 20;

/// A file being written; `std::io::Write` so the Parquet writer can stream into it.
struct HdfsWriter {
    writer: Option<hdfs_native::file::FileWriter>,
    buf: Vec<u8>,
    written: u64,
    hdfs: Hdfs,
    path: String,
}

impl HdfsWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut w = self.writer.take().ok_or_else(|| std::io::Error::other("the HDFS writer failed earlier"))?;
        let bytes = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(WRITE_BLOCK)));
        let n = bytes.len() as u64;
        let (w, r) = block_on(async move {
            let r = w.write_bytes(bytes).await;
            (w, r)
        });
        r.map_err(std::io::Error::other)?;
        self.writer = Some(w);
        self.written += n;
        Ok(())
    }

}

impl Sink for HdfsWriter {
    /// The bytes still buffered go to the DataNode on the I/O runtime, with the close: the
    /// caller does not wait for them. A file smaller than [`WRITE_BLOCK`] (a chunk's part,
    /// 2.7 MB at 128 MiB chunks, and its household-day partial, 130-137 KB) is all sent
    /// here. Sent on the caller's thread (the NameNode's `addBlock`, the pipeline's set-up,
    /// the packets), a worker's stretch from the end of parsing to the chunk handed to its
    /// commit took 42-82 ms to HDFS against 26-35 ms locally; sent here, 20-53 ms
    /// (0.98 GB, 2 workers, MiniDFS on the same 2 cores).
    /// The close then waits for the last packet's acknowledgement and for the NameNode's
    /// `complete()`, which holds until a DataNode has reported the last block; any failure
    /// is [`Closing::wait`]'s.
    fn start_close(mut self: Box<Self>) -> Result<(u64, Closing)> {
        let mut w = self.writer.take().ok_or_else(|| Error::Hdfs {
            location: self.hdfs.location(&self.path),
            reason: "cannot close: an earlier write failed".into(),
        })?;
        let rest = Bytes::from(std::mem::take(&mut self.buf));
        let written = self.written + rest.len() as u64;
        let (hdfs, path) = (self.hdfs.clone(), self.path.clone());
        let closing = Closing::spawn(async move {
            if !rest.is_empty() {
                w.write_bytes(rest).await.map_err(|e| hdfs.err("write", &path, e))?;
            }
            w.close().await.map_err(|e| hdfs.err("close", &path, e))
        });
        Ok((written, closing))
    }
}

impl Write for HdfsWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_BLOCK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_namenode_is_one_clear_error() {
        // A port nobody listens on: refused at once, so retries end at the deadline.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("hdfs://127.0.0.1:{port}");
        let t = std::time::Instant::now();
        let e = connect(&url, &HdfsOptions { connect_seconds: 1, ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains(&url) && e.contains("is HDFS running"), "{e}");
        assert!(t.elapsed() >= Duration::from_millis(500), "it retried: {:?}", t.elapsed());
    }
}
