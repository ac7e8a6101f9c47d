//! wattswarm patch: HDFS's legacy short-circuit local reads (HDFS-2246; Hadoop's own client
//! has them as `BlockReaderLocalLegacy`).
//!
//! A client on the machine of a DataNode that holds a replica asks that DataNode, on its IPC
//! port (`ClientDatanodeProtocol#getBlockLocalPathInfo`), where the replica's block and meta
//! files are, and reads them itself: no DataNode thread copies the block into a socket and
//! no packet crosses the loopback. Reading a file from the DataNode of the same machine over
//! TCP cost the DataNode's JVM about 0.6 CPU s per GB and the client another 0.7 s, on top
//! of what reading the same bytes from a local file costs.
//!
//! [`crate::file::FileReader::local_extents`] says where a range is, block by block, when
//! every block of it has such a replica; [`LocalExtent::read_into`] reads one with `pread`
//! straight into the caller's buffer, on the caller's thread, and verifies its checksums
//! from the meta file as a remote read's are (unless
//! `dfs.client.read.shortcircuit.skip.checksum`). Other reads (the streams) are unchanged:
//! they go through the DataNode.
//!
//! The DataNode answers only the users named in its `dfs.block.local-path-access.user`, and
//! the block files must be readable by this process at the paths it gives. On with Hadoop's
//! keys `dfs.client.read.shortcircuit` and `dfs.client.use.legacy.blockreader.local`, both
//! true (`Configuration::legacy_short_circuit`); never with Kerberos, encryption or erasure
//! coding. Only a DataNode whose address is one of this machine's is asked. Whatever fails
//! (a DataNode that refuses, a path this process cannot open, a short file, a bad checksum)
//! is logged once and turns short-circuit reads off for that DataNode for the process; the
//! caller then reads as usual. The newer short-circuit reader passes file descriptors over a
//! UNIX socket and needs libhadoop's native code in the DataNode; this one needs none.
use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, UdpSocket};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, warn};
use once_cell::sync::Lazy;
use prost::Message;
use tokio::runtime::Handle;

use crate::common::config::Configuration;
use crate::hdfs::connection::{CLIENT_DATANODE_PROTOCOL, RpcConnection, verify_chunks};
use crate::proto::{common, hdfs};
use crate::{HdfsError, Result};

/// Bytes handed to readers by short-circuit reads since the process started.
static READ_BYTES: AtomicU64 = AtomicU64::new(0);

/// Replicas' paths kept per DataNode before the cache starts over.
const MAX_CACHED_PATHS: usize = 4096;

/// How long a DataNode may take to say where a replica is before the read goes over TCP.
const PATH_TIMEOUT: Duration = Duration::from_secs(10);

/// A replica's key in the cache: block pool, block id, generation stamp.
type ReplicaKey = (String, u64, u64);

/// Bytes read by short-circuit reads since the process started.
pub fn read_bytes() -> u64 {
    READ_BYTES.load(Ordering::Relaxed)
}

#[derive(Clone, PartialEq, Message)]
struct GetBlockLocalPathInfoRequestProto {
    #[prost(message, required, tag = "1")]
    block: hdfs::ExtendedBlockProto,
    #[prost(message, required, tag = "2")]
    token: common::TokenProto,
}

#[derive(Clone, PartialEq, Message)]
struct GetBlockLocalPathInfoResponseProto {
    #[prost(message, required, tag = "1")]
    block: hdfs::ExtendedBlockProto,
    #[prost(string, required, tag = "2")]
    local_path: String,
    #[prost(string, required, tag = "3")]
    local_meta_path: String,
}

/// Where a replica's files are on this machine.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaPaths {
    data: String,
    meta: String,
}

/// A DataNode of this machine, as short-circuit reads know it.
#[derive(Default)]
struct LocalDatanode {
    rpc: tokio::sync::Mutex<Option<RpcConnection>>,
    /// Set, for the process's life, by the first failure.
    disabled: AtomicBool,
    paths: Mutex<HashMap<ReplicaKey, ReplicaPaths>>,
}

static DATANODES: Lazy<Mutex<HashMap<String, Arc<LocalDatanode>>>> = Lazy::new(Default::default);
static LOCAL_ADDRESSES: Lazy<Mutex<HashMap<String, bool>>> = Lazy::new(Default::default);

/// Whether `ip` is one of this machine's addresses: a socket can be bound to it.
fn is_local(ip: &str) -> bool {
    let mut known = LOCAL_ADDRESSES.lock().unwrap();
    *known
        .entry(ip.to_owned())
        .or_insert_with(|| match ip.parse::<IpAddr>() {
            Ok(a) => a.is_loopback() || UdpSocket::bind((a, 0)).is_ok(),
            Err(_) => false,
        })
}

fn key(id: &hdfs::DatanodeIdProto) -> String {
    format!("{}/{}:{}", id.datanode_uuid, id.ip_addr, id.ipc_port)
}

fn datanode(id: &hdfs::DatanodeIdProto) -> Arc<LocalDatanode> {
    DATANODES
        .lock()
        .unwrap()
        .entry(key(id))
        .or_default()
        .clone()
}

/// The replica of `block` to read from this machine's disk: the first location that is a
/// DataNode of this machine, not dead for this read and not turned off.
pub(crate) fn local_replica<'a>(
    block: &'a hdfs::LocatedBlockProto,
    config: &Configuration,
    dead: impl Fn(&hdfs::DatanodeIdProto) -> bool,
) -> Option<&'a hdfs::DatanodeIdProto> {
    if !config.legacy_short_circuit() {
        return None;
    }
    block.locs.iter().map(|l| &l.id).find(|id| {
        !dead(id) && is_local(&id.ip_addr) && !datanode(id).disabled.load(Ordering::Relaxed)
    })
}

/// Turns short-circuit reads from `id` off for this process, saying why once.
pub(crate) fn disable(id: &hdfs::DatanodeIdProto, why: &HdfsError) {
    if !datanode(id).disabled.swap(true, Ordering::Relaxed) {
        warn!(
            "Short-circuit reads from DataNode {}:{} are off for this process, reading over TCP: {}",
            id.ip_addr, id.ipc_port, why
        );
    }
}

/// Asks the DataNode where its replica of `block` is (once per replica).
pub(crate) async fn replica_paths(
    id: &hdfs::DatanodeIdProto,
    block: &hdfs::LocatedBlockProto,
    user: Option<String>,
    config: &Configuration,
    handle: &Handle,
) -> Result<ReplicaPaths> {
    let dn = datanode(id);
    let b = &block.b;
    let cache_key = (b.pool_id.clone(), b.block_id, b.generation_stamp);
    if let Some(p) = dn.paths.lock().unwrap().get(&cache_key) {
        return Ok(p.clone());
    }
    let request = GetBlockLocalPathInfoRequestProto {
        block: b.clone(),
        token: block.block_token.clone(),
    };
    let ask = async {
        let mut rpc = dn.rpc.lock().await;
        if !rpc.as_ref().is_some_and(|c| c.is_alive()) {
            let url = format!("{}:{}", id.ip_addr, id.ipc_port);
            *rpc = Some(
                RpcConnection::connect(
                    &url,
                    CLIENT_DATANODE_PROTOCOL,
                    None,
                    None,
                    user,
                    None,
                    config,
                    handle,
                )
                .await?,
            );
        }
        rpc.as_ref()
            .unwrap()
            .call(
                "getBlockLocalPathInfo",
                &request.encode_length_delimited_to_vec(),
            )
            .await?
        .await
        .map_err(|_| {
            HdfsError::IOError(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "DataNode RPC listener disconnected",
            ))
        })?
    };
    let bytes = tokio::time::timeout(PATH_TIMEOUT, ask)
        .await
        .map_err(|_| {
            HdfsError::OperationFailed(format!(
                "getBlockLocalPathInfo: no answer in {PATH_TIMEOUT:?}"
            ))
        })??;
    let r = GetBlockLocalPathInfoResponseProto::decode_length_delimited(bytes)?;
    debug!("getBlockLocalPathInfo {:?}", r);
    let paths = ReplicaPaths {
        data: r.local_path,
        meta: r.local_meta_path,
    };
    let mut cache = dn.paths.lock().unwrap();
    if cache.len() >= MAX_CACHED_PATHS {
        cache.clear();
    }
    cache.insert(cache_key, paths.clone());
    Ok(paths)
}

/// A replica's files, open, with its meta file's header read.
struct Replica {
    data: File,
    meta: File,
    /// The checksum's type and bytes per checksum; `None` when not verified.
    checksum: Option<hdfs::ChecksumProto>,
    bytes_per_checksum: usize,
    block_len: usize,
}

/// The meta file's header: BlockMetadataHeader's version (1), then DataChecksum's type and
/// bytes per checksum; the checksums follow, 4 bytes per chunk.
const META_HEADER: usize = 7;

impl Replica {
    fn open(paths: &ReplicaPaths, block_len: usize, verify: bool) -> Result<Replica> {
        let meta = File::open(&paths.meta)?;
        let mut header = [0u8; META_HEADER];
        pread(&meta, &mut header, 0)?;
        let version = u16::from_be_bytes([header[0], header[1]]);
        let kind = match header[2] {
            0 => hdfs::ChecksumTypeProto::ChecksumNull,
            1 => hdfs::ChecksumTypeProto::ChecksumCrc32,
            2 => hdfs::ChecksumTypeProto::ChecksumCrc32c,
            t => {
                return Err(HdfsError::DataTransferError(format!(
                    "{}: unknown checksum type {t}",
                    paths.meta
                )));
            }
        };
        let bytes_per_checksum = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
        if version != 1 || bytes_per_checksum == 0 {
            return Err(HdfsError::DataTransferError(format!(
                "{}: meta file version {version}, {bytes_per_checksum} bytes per checksum",
                paths.meta
            )));
        }
        Ok(Replica {
            data: File::open(&paths.data)?,
            meta,
            checksum: (verify && kind != hdfs::ChecksumTypeProto::ChecksumNull).then(|| {
                hdfs::ChecksumProto {
                    r#type: kind as i32,
                    bytes_per_checksum,
                }
            }),
            bytes_per_checksum: bytes_per_checksum as usize,
            block_len,
        })
    }

    /// Reads whole chunks, `start` on a chunk's boundary and `start + dest.len()` on one or
    /// at the block's end, into `dest`, and verifies them.
    fn read_chunks(&self, start: usize, dest: &mut [u8]) -> Result<()> {
        pread(&self.data, dest, start as u64)?;
        if let Some(checksum) = &self.checksum {
            let bpc = self.bytes_per_checksum;
            let mut sums = vec![0u8; dest.len().div_ceil(bpc) * 4];
            pread(&self.meta, &mut sums, (META_HEADER + start / bpc * 4) as u64)?;
            verify_chunks(checksum, dest, &sums)?;
        }
        Ok(())
    }

    /// Reads `dest.len()` bytes at `offset` into `dest`: whole chunks straight into it, a
    /// chunk cut by either end through a scratch chunk, so every byte is verified.
    fn read_at(&self, offset: usize, dest: &mut [u8]) -> Result<()> {
        let (bpc, end) = (self.bytes_per_checksum, offset + dest.len());
        if end > self.block_len {
            return Err(HdfsError::DataTransferError(format!(
                "bytes {offset}..{end} of a block of {}",
                self.block_len
            )));
        }
        // Whole chunks from `first` to `last`; a final partial chunk ends the block.
        let first = offset.div_ceil(bpc) * bpc;
        let last = if end == self.block_len { end } else { end / bpc * bpc };
        let cut = |from: usize, to: usize, dest: &mut [u8]| -> Result<()> {
            let start = from / bpc * bpc;
            let mut chunk = vec![0u8; usize::min(start + bpc, self.block_len) - start];
            self.read_chunks(start, &mut chunk)?;
            dest.copy_from_slice(&chunk[from - start..to - start]);
            Ok(())
        };
        if first >= last {
            // Within one chunk, or across the boundary of two.
            let mid = usize::min(first, end);
            if mid > offset {
                cut(offset, mid, &mut dest[..mid - offset])?;
            }
            if mid < end {
                cut(mid, end, &mut dest[mid - offset..])?;
            }
            return Ok(());
        }
        if offset < first {
            cut(offset, first, &mut dest[..first - offset])?;
        }
        self.read_chunks(first, &mut dest[first - offset..last - offset])?;
        if last < end {
            cut(last, end, &mut dest[last - offset..])?;
        }
        Ok(())
    }
}

/// `dest.len()` bytes of `file` at `pos`.
fn pread(file: &File, dest: &mut [u8], pos: u64) -> Result<()> {
    file.read_exact_at(dest, pos).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            HdfsError::DataTransferError(format!(
                "the file ends before byte {}",
                pos + dest.len() as u64
            ))
        } else {
            e.into()
        }
    })
}

/// Part of a file that a replica on this machine holds, to be read from its disk on the
/// caller's thread ([`crate::file::FileReader::local_extents`]).
pub struct LocalExtent {
    datanode: hdfs::DatanodeIdProto,
    replica: ReplicaKey,
    paths: ReplicaPaths,
    block_len: usize,
    offset_in_block: usize,
    len: usize,
    verify: bool,
}

impl LocalExtent {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the extent into `dest` (`len()` bytes) and verifies its checksums. A replica's
    /// file that is gone (the DataNode moved it) is forgotten, to be asked for again; any
    /// other error turns short-circuit reads from its DataNode off for the process.
    pub fn read_into(&self, dest: &mut [u8]) -> Result<()> {
        let r = Replica::open(&self.paths, self.block_len, self.verify)
            .and_then(|r| r.read_at(self.offset_in_block, &mut dest[..self.len]));
        match r {
            Ok(()) => {
                READ_BYTES.fetch_add(self.len as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let gone = matches!(&e, HdfsError::IOError(io) if io.kind() == std::io::ErrorKind::NotFound);
                let e = HdfsError::DataTransferError(format!(
                    "short-circuit read of {}: {e}",
                    self.paths.data
                ));
                if gone {
                    debug!("{e}");
                    datanode(&self.datanode).paths.lock().unwrap().remove(&self.replica);
                } else {
                    disable(&self.datanode, &e);
                }
                Err(e)
            }
        }
    }
}

/// `len` bytes at `offset` of `block` as a [`LocalExtent`], if a replica on this machine
/// can be read so.
pub(crate) async fn extent(
    block: &hdfs::LocatedBlockProto,
    offset: usize,
    len: usize,
    user: Option<String>,
    config: &Configuration,
    handle: &Handle,
    dead: impl Fn(&hdfs::DatanodeIdProto) -> bool,
) -> Option<LocalExtent> {
    let id = local_replica(block, config, dead)?.clone();
    match replica_paths(&id, block, user, config, handle).await {
        Ok(paths) => Some(LocalExtent {
            datanode: id,
            replica: (block.b.pool_id.clone(), block.b.block_id, block.b.generation_stamp),
            paths,
            block_len: block.b.num_bytes() as usize,
            offset_in_block: offset,
            len,
            verify: !config.short_circuit_skip_checksum(),
        }),
        Err(e) => {
            disable(&id, &e);
            None
        }
    }
}
