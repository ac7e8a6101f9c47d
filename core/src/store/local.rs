//! A folder on this machine (or on a volume every container mounts at the same place).
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::{Closing, Meta, Sink, Source, Store};
use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct LocalStore;

impl LocalStore {
    /// The one local store (it holds nothing).
    pub fn shared() -> Arc<dyn Store> {
        static STORE: OnceLock<Arc<LocalStore>> = OnceLock::new();
        STORE.get_or_init(Default::default).clone()
    }
}

fn meta(path: &Path, m: &fs::Metadata) -> Meta {
    Meta {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        len: m.len(),
        is_dir: m.is_dir(),
        modified_ns: m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as u64),
    }
}

fn missing(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl Store for LocalStore {
    fn url(&self, path: &str) -> String {
        path.to_owned()
    }

    fn status(&self, path: &str) -> Result<Option<Meta>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(meta(Path::new(path), &m))),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Meta>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if missing(&e) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        let mut found = Vec::new();
        for e in entries {
            let path = e.map_err(|e| Error::io("list", dir, e))?.path();
            // An entry removed since the listing is not there any more.
            if let Ok(m) = fs::metadata(&path) {
                found.push(meta(&path, &m));
            }
        }
        Ok(found)
    }

    fn mkdirs(&self, dir: &str) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create the folder", dir, e))
    }

    fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        let r = if recursive { fs::remove_dir_all(path) } else { fs::remove_file(path) };
        match r {
            Err(e) if !missing(&e) => Err(Error::io("remove", path, e)),
            _ => Ok(()),
        }
    }

    fn create(&self, path: &str) -> Result<Box<dyn Sink>> {
        let p = PathBuf::from(path);
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        let f = fs::File::create(&p).map_err(|e| Error::io("create", &p, e))?;
        Ok(Box::new(LocalSink {
            file: BufWriter::with_capacity(1 << 20, f),
            path: p,
        }))
    }

    /// A hard link is created only if the name is free, atomically: of two attempts
    /// publishing at the same moment exactly one wins. Where links are not supported, a
    /// check then a rename (the race is then a few µs wide).
    fn publish(&self, from: &str, to: &str, replace: bool) -> Result<bool> {
        if replace {
            return fs::rename(from, to).map(|()| true).map_err(|e| Error::io("commit", to, e));
        }
        match fs::hard_link(from, to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(_) if Path::new(to).exists() => return Ok(false),
            Err(_) => return fs::rename(from, to).map(|()| true).map_err(|e| Error::io("commit", to, e)),
        }
        let _ = fs::remove_file(from);
        Ok(true)
    }

    fn open(&self, path: &str) -> Result<Arc<dyn Source>> {
        let file = fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        Ok(Arc::new(LocalFile { file, path: path.into() }))
    }

    fn read_all(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }
}

struct LocalSink {
    file: BufWriter<fs::File>,
    path: PathBuf,
}

impl Write for LocalSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.file.write(data)
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Sink for LocalSink {
    /// Synced before it is published: a file under its real name survives a power cut.
    fn start_close(self: Box<Self>) -> Result<(u64, Closing)> {
        let f = self.file.into_inner().map_err(|e| Error::io("write", &self.path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io("sync", &self.path, e))?;
        let len = f.metadata().map_err(|e| Error::io("stat", &self.path, e))?.len();
        Ok((len, Closing::done()))
    }
}

/// A local file, read with `pread` (no seek position shared between readers).
struct LocalFile {
    file: fs::File,
    path: PathBuf,
}

impl Source for LocalFile {
    fn len(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, pos) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
    }

    fn read_range(&self, pos: u64, n: usize) -> Result<Bytes> {
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, pos).map_err(|e| Error::io("read", &self.path, e))?;
        Ok(buf.into())
    }

    /// What the open file's metadata says: the file as this reader sees it, even if its
    /// name was taken by another file since.
    fn status(&self) -> Result<Option<Meta>> {
        let m = self.file.metadata().map_err(|e| Error::io("stat", &self.path, e))?;
        Ok(Some(meta(&self.path, &m)))
    }

    fn url(&self) -> String {
        self.path.display().to_string()
    }
}
