//! wattswarm patch: a blocking read of a range of a replicated block from a DataNode over
//! TCP, straight into the caller's buffer, on the caller's thread. [`RemoteExtent::start`]
//! sends the request ahead of time; the packets wait in the socket until read.
//!
//! The stream readers (`block_reader.rs`) receive each 64 KiB packet on the I/O runtime
//! into a buffer of its own, hand it through a channel, and the caller copies it where it
//! wants it: per GB read, about 0.2 CPU s for the copy, 0.2 s waking threads and 0.3 s for
//! the channel, the tasks, `Bytes` and malloc, on top of the socket itself. Here the
//! caller's thread speaks DataTransferProtocol itself (`OP_READ_BLOCK` on a
//! `std::net::TcpStream`), reads each packet's data into its place in the buffer and checks
//! its CRCs there; only the packets at the ends of the range, when they stick out of it,
//! pass through a scratch buffer.
//!
//! Only for what needs nothing more: no Kerberos (so no SASL on the data connection), no
//! data transfer encryption, no encryption zone, no erasure coding. Checksums are verified
//! as the stream readers do (`verify_chunks`).
//! [`crate::file::FileReader::remote_extents`] says `None` otherwise, and the caller reads
//! as before. A read that fails here (a DataNode that does not answer, refuses, or sends a
//! bad checksum: each replica is tried in turn) returns the error; the caller then reads the
//! range again the usual way, which has its own retries and marks dead DataNodes.
use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;

use crate::hdfs::connection::verify_chunks;
use crate::proto::{common, hdfs};
use crate::{HdfsError, Result};

const DATA_TRANSFER_VERSION: u16 = 28;
const OP_READ_BLOCK: u8 = 81;
/// The largest packet accepted, as Hadoop's `PacketReceiver` (16 MiB): a length from the
/// wire is checked before anything is allocated for it.
const MAX_PACKET: usize = 16 << 20;

static READ_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes read, verified, by [`RemoteExtent::read_into`] since the process started.
pub fn read_bytes() -> u64 {
    READ_BYTES.load(Ordering::Relaxed)
}

/// A range of one block, and where its replicas are.
#[derive(Debug, Clone)]
pub struct RemoteExtent {
    pub(crate) addrs: Vec<String>,
    pub(crate) block: hdfs::ExtendedBlockProto,
    pub(crate) token: common::TokenProto,
    /// Offset of the range in the block.
    pub(crate) offset: u64,
    pub(crate) len: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) client_name: String,
}

impl RemoteExtent {
    /// Bytes in this extent.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sends the read's request to the first replica that takes it, and returns at once:
    /// the DataNode starts sending, and its packets wait in the socket's receive buffer
    /// (the kernel's, up to `net.ipv4.tcp_rmem`'s maximum) until
    /// [`StartedRead::read_into`] reads them. A read ahead that costs neither a thread nor a
    /// buffer of the caller's.
    pub fn start(&self) -> StartedRead {
        let mut last = None;
        for (i, addr) in self.addrs.iter().enumerate() {
            match self.request(addr) {
                Ok(stream) => return StartedRead { extent: self.clone(), sent: Some((i, stream)), failed: None },
                Err(e) => {
                    log::debug!("direct read of block {} from {addr} failed: {e:?}", self.block.block_id);
                    last = Some(e);
                }
            }
        }
        let failed = last.unwrap_or_else(|| HdfsError::DataTransferError("no DataNode holds the block".into()));
        StartedRead { extent: self.clone(), sent: None, failed: Some(failed) }
    }

    /// Reads the extent into `buf` (exactly [`Self::len`] bytes), verified, from the first
    /// replica that serves it whole.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<()> {
        self.start().read_into(buf)
    }

    /// Connects to `addr` and sends `OP_READ_BLOCK` for the extent.
    fn request(&self, addr: &str) -> Result<TcpStream> {
        let sock = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| HdfsError::DataTransferError(format!("{addr} resolves to nothing")))?;
        let stream = match self.timeout {
            Some(t) => TcpStream::connect_timeout(&sock, t)?,
            None => TcpStream::connect(sock)?,
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(self.timeout)?;
        stream.set_write_timeout(self.timeout)?;

        let op = hdfs::OpReadBlockProto {
            header: hdfs::ClientOperationHeaderProto {
                base_header: hdfs::BaseHeaderProto {
                    block: self.block.clone(),
                    token: Some(self.token.clone()),
                    ..Default::default()
                },
                client_name: self.client_name.clone(),
            },
            offset: self.offset,
            len: self.len as u64,
            send_checksums: Some(true),
            ..Default::default()
        };
        let mut request = Vec::with_capacity(128);
        request.extend_from_slice(&DATA_TRANSFER_VERSION.to_be_bytes());
        request.push(OP_READ_BLOCK);
        op.encode_length_delimited(&mut request).expect("a Vec grows");
        (&stream).write_all(&request)?;
        Ok(stream)
    }

    /// Reads the answer to [`Self::request`] from `stream` into `buf`.
    fn receive(&self, addr: &str, stream: TcpStream, buf: &mut [u8]) -> Result<()> {
        // Small: headers and checksums go through it; a packet's data (64 KiB) is read
        // past it, straight into `buf`.
        let mut r = BufReader::with_capacity(8192, &stream);
        let response = hdfs::BlockOpResponseProto::decode(&read_delimited(&mut r)?[..])?;
        if response.status != hdfs::Status::Success as i32 {
            return Err(HdfsError::DataTransferError(format!(
                "{addr} refused the read: status {} {}",
                response.status,
                response.message.unwrap_or_default()
            )));
        }
        let info = response
            .read_op_checksum_info
            .ok_or_else(|| HdfsError::DataTransferError("no checksum info in the read's answer".into()))?;
        let checksum = info.checksum;
        let verify = |data: &[u8], sums: &[u8]| verify_chunks(&checksum, data, sums);

        let (want_start, want_end) = (self.offset, self.offset + self.len as u64);
        // Where the next packet must start: the packets cover the range in order, each
        // once, or the read fails (a repeated or skipped packet must not count as read).
        let mut next: Option<u64> = None;
        let mut covered = 0usize;
        let mut sums = Vec::new();
        let mut scratch = Vec::new();
        let mut header = Vec::new();
        loop {
            let mut lens = [0u8; 6];
            r.read_exact(&mut lens)?;
            let payload = u32::from_be_bytes(lens[..4].try_into().unwrap()) as usize;
            if payload > MAX_PACKET {
                return Err(HdfsError::DataTransferError(format!("{addr} sent a packet of {payload} bytes")));
            }
            let header_len = u16::from_be_bytes(lens[4..].try_into().unwrap()) as usize;
            header.resize(header_len, 0);
            r.read_exact(&mut header)?;
            let h = hdfs::PacketHeaderProto::decode(&header[..])?;
            let data_len = usize::try_from(h.data_len).map_err(|_| HdfsError::DataTransferError("a negative packet length".into()))?;
            let sums_len = payload
                .checked_sub(4 + data_len)
                .ok_or_else(|| HdfsError::DataTransferError("a packet shorter than its data".into()))?;
            sums.resize(sums_len, 0);
            r.read_exact(&mut sums)?;
            if data_len > 0 {
                let start = u64::try_from(h.offset_in_block).map_err(|_| HdfsError::DataTransferError("a negative packet offset".into()))?;
                let in_order = match next {
                    Some(n) => start == n,
                    None => start <= want_start,
                };
                if !in_order {
                    return Err(HdfsError::DataTransferError(format!("{addr} sent a packet at {start} out of order")));
                }
                let end = start + data_len as u64;
                next = Some(end);
                if start >= want_start && end <= want_end {
                    let dst = &mut buf[(start - want_start) as usize..(end - want_start) as usize];
                    r.read_exact(dst)?;
                    verify(dst, &sums)?;
                    covered += data_len;
                } else {
                    scratch.resize(data_len, 0);
                    r.read_exact(&mut scratch)?;
                    verify(&scratch, &sums)?;
                    let (from, to) = (start.max(want_start), end.min(want_end));
                    if from < to {
                        buf[(from - want_start) as usize..(to - want_start) as usize]
                            .copy_from_slice(&scratch[(from - start) as usize..(to - start) as usize]);
                        covered += (to - from) as usize;
                    }
                }
            }
            if h.last_packet_in_block {
                break;
            }
        }
        if covered != self.len {
            return Err(HdfsError::DataTransferError(format!("{addr} sent {covered} of {} bytes", self.len)));
        }
        // As Hadoop's client does: the DataNode may record that the replica was verified.
        let ok = hdfs::ClientReadStatusProto { status: hdfs::Status::ChecksumOk as i32 };
        let _ = (&stream).write_all(&ok.encode_length_delimited_to_vec());
        Ok(())
    }
}

/// A read whose request was sent ([`RemoteExtent::start`]).
pub struct StartedRead {
    extent: RemoteExtent,
    /// The replica (its index in `addrs`) that took the request, and the connection.
    sent: Option<(usize, TcpStream)>,
    /// Why no replica took it.
    failed: Option<HdfsError>,
}

impl StartedRead {
    /// Bytes in the extent.
    pub fn len(&self) -> usize {
        self.extent.len
    }

    pub fn is_empty(&self) -> bool {
        self.extent.len == 0
    }

    /// Reads the extent into `buf` (exactly its length), verified: from the replica that
    /// took the request, or else from the next ones in turn.
    pub fn read_into(self, buf: &mut [u8]) -> Result<()> {
        let e = &self.extent;
        assert_eq!(buf.len(), e.len, "a buffer the extent's size");
        let (mut last, next) = match self.sent {
            Some((i, stream)) => match e.receive(&e.addrs[i], stream, buf) {
                Ok(()) => return Ok(e.read(buf.len())),
                Err(err) => {
                    log::debug!("direct read of block {} from {} failed: {err:?}", e.block.block_id, e.addrs[i]);
                    (err, i + 1)
                }
            },
            None => (self.failed.expect("a read not sent says why"), e.addrs.len()),
        };
        for addr in &e.addrs[next..] {
            match e.request(addr).and_then(|stream| e.receive(addr, stream, buf)) {
                Ok(()) => return Ok(e.read(buf.len())),
                Err(err) => {
                    log::debug!("direct read of block {} from {addr} failed: {err:?}", e.block.block_id);
                    last = err;
                }
            }
        }
        Err(last)
    }
}

impl RemoteExtent {
    fn read(&self, n: usize) {
        READ_BYTES.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One varint-delimited protobuf message.
fn read_delimited(r: &mut impl Read) -> Result<Vec<u8>> {
    let mut len = 0usize;
    for shift in (0..35).step_by(7) {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)?;
        len |= ((b[0] & 0x7f) as usize) << shift;
        if b[0] & 0x80 == 0 {
            let mut msg = vec![0; len];
            r.read_exact(&mut msg)?;
            return Ok(msg);
        }
    }
    Err(HdfsError::DataTransferError("a malformed length".into()))
}
