//! One master per output: a lock file, renewed while its master lives, with fencing.
//!
//! Two masters on one output would both write `_state/` and the results, and the output
//! would be wrong without anyone noticing. So a master first takes the output's lock:
//!
//! * The lock is a file `_lock-GGGGGGGG.json` at the output's root; `G` is its generation.
//!   It is created with the commit rule (write a hidden temporary, rename it into place
//!   unless the name exists), which local disk and HDFS both make atomic, so of two
//!   masters that try the same generation exactly one gets it.
//! * The holder rewrites its file every `timeout / 5` (host, pid, a random nonce, the time
//!   and a renewal count). A second master that finds a lock renewed less than `timeout`
//!   ago refuses, naming the holder. One not renewed for `timeout`, or one whose holder is
//!   provably dead (same host, its pid gone), is taken over by creating generation
//!   `G + 1` and removing the older files.
//! * **Fencing.** A master that was paused (SIGSTOP, a long GC-like stall, a cut network)
//!   past the timeout may wake up after another took over. Its renewal thread then finds
//!   its file gone or rewritten by someone else and marks the lock lost; before every step
//!   that changes shared state (merging, writing results, `_SUCCESS`, removing `_state`)
//!   the master calls [`OutputLock::check`], which reads the file itself. A master that
//!   lost its lock stops with an error instead of committing.
//!
//! The window between a check and the write that follows it is a few milliseconds; a
//! takeover needs the holder silent for a whole timeout, so the two cannot overlap unless
//! the holder stalls inside that window for longer than the timeout.
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{lock_file_generation as generation, lock_file_name as lock_name, Commit, Output};

/// What a lock file says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Random per lock taken: tells two holders on one host and pid apart.
    pub nonce: String,
    /// The holder's clock when it last renewed, in milliseconds since 1970.
    pub renewed_ms: u64,
    pub renewals: u64,
}

impl Holder {
    fn describe(&self) -> String {
        format!("{} (pid {})", self.host, self.pid)
    }
}

/// Nonces of the locks this process holds: a lock of this host and pid is alive if its
/// nonce is here, and left by an earlier process with the same pid otherwise.
fn held_here() -> &'static Mutex<HashSet<String>> {
    static HELD: std::sync::OnceLock<Mutex<HashSet<String>>> = std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Whether the holder is certainly gone: it ran on this host, and its process is not
/// running (or this process has its pid and did not take that lock).
fn provably_gone(h: &Holder) -> bool {
    if h.host != hostname() {
        return false;
    }
    if h.pid == std::process::id() {
        return !held_here().lock().expect("not poisoned").contains(&h.nonce);
    }
    let proc = std::path::Path::new("/proc");
    proc.is_dir() && !proc.join(h.pid.to_string()).exists()
}

/// The output's lock, held until dropped or [`OutputLock::release`]d.
pub struct OutputLock {
    out: Output,
    generation: u64,
    me: Holder,
    lost: Arc<AtomicBool>,
    /// The renewer and the way to stop it: dropping the sender wakes it at once (a plain
    /// sleep made every job's end wait up to one renewal period, 5 s, for the join).
    renewer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for OutputLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputLock").field("generation", &self.generation).finish()
    }
}

fn read_holder(out: &Output, rel: &str) -> Result<Option<Holder>> {
    Ok(out.read(rel)?.and_then(|b| serde_json::from_slice(&b).ok()))
}

fn write_holder(out: &Output, rel: &str, h: &Holder) -> Result<()> {
    out.write_atomic(rel, &serde_json::to_vec(h).expect("holders serialise"))
}

impl OutputLock {
    /// Takes the lock of `out`, or says who holds it. `timeout`: how long a holder may go
    /// without renewing before another master may take over.
    pub fn acquire(out: &Output, timeout: Duration) -> Result<OutputLock> {
        let timeout = timeout.max(Duration::from_millis(500));
        let mut me = Holder {
            host: hostname(),
            pid: std::process::id(),
            nonce: nonce(),
            renewed_ms: now_ms(),
            renewals: 0,
        };
        // A few rounds: each lost race means another master just took a generation, and
        // the next round judges that one.
        for _ in 0..5 {
            let mut gens: Vec<u64> = out.list("")?.iter().filter_map(|n| generation(n)).collect();
            gens.sort_unstable();
            let next = match gens.last() {
                None => 1,
                Some(&top) => {
                    if let Some(h) = read_holder(out, &lock_name(top))? {
                        let age = now_ms().saturating_sub(h.renewed_ms);
                        if age < timeout.as_millis() as u64 && !provably_gone(&h) {
                            return Err(Error::Locked {
                                output: out.location().to_string(),
                                holder: h.describe(),
                                seconds_ago: age as f64 / 1e3,
                                timeout: timeout.as_secs_f64(),
                            });
                        }
                        tracing::warn!(output = %out.location(), "taking over the output from {}, which is gone", h.describe());
                    }
                    top + 1
                }
            };
            me.renewed_ms = now_ms();
            let rel = lock_name(next);
            let mut w = out.create(&rel, &format!("lock-{}", me.nonce))?;
            let shown = w.shown().to_owned();
            w.write_all(&serde_json::to_vec(&me).expect("holders serialise")).map_err(|e| Error::io("write", &shown, e))?;
            if out.commit(w.close()?, &rel)? == Commit::Committed {
                for g in gens {
                    out.remove(&lock_name(g))?;
                }
                held_here().lock().expect("not poisoned").insert(me.nonce.clone());
                return Ok(OutputLock::start(out.clone(), next, me, timeout));
            }
        }
        Err(Error::Corrupt {
            path: out.location().shown(),
            reason: "masters keep racing for this output's lock: start one master per output".into(),
        })
    }

    fn start(out: Output, generation: u64, me: Holder, timeout: Duration) -> OutputLock {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let (o, mut h, l) = (out.clone(), me.clone(), lost.clone());
        let every = (timeout / 5).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let renewer = std::thread::Builder::new()
            .name("wattswarm-lock".into())
            .spawn(move || {
                let rel = lock_name(generation);
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match read_holder(&o, &rel) {
                        Ok(Some(now)) if now.nonce == h.nonce => {
                            h.renewals += 1;
                            h.renewed_ms = now_ms();
                            if let Err(e) = write_holder(&o, &rel, &h) {
                                tracing::warn!("cannot renew the output's lock: {e}");
                            }
                        }
                        Ok(_) => {
                            tracing::error!(output = %o.location(), "this master lost the output's lock to another master");
                            l.store(true, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => tracing::warn!("cannot read the output's lock: {e}"),
                    }
                }
            })
            .expect("a thread starts");
        OutputLock {
            out,
            generation,
            me,
            lost,
            renewer: Mutex::new(Some((stop, renewer))),
        }
    }

    /// A short name for this holding, unique per master that ever held the output: it
    /// keeps the intermediate files of two masters apart.
    pub fn tag(&self) -> String {
        format!("g{:08}", self.generation)
    }

    /// Whether the renewals found the lock taken by another master (no I/O).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Fails unless this master still holds the lock (reads the lock file itself).
    pub fn check(&self) -> Result<()> {
        let lost = || Error::LockLost { output: self.out.location().to_string() };
        if self.lost.load(Ordering::Relaxed) {
            return Err(lost());
        }
        match read_holder(&self.out, &lock_name(self.generation))? {
            Some(h) if h.nonce == self.me.nonce => Ok(()),
            _ => {
                self.lost.store(true, Ordering::Relaxed);
                Err(lost())
            }
        }
    }

    /// Gives the lock up: another master may take the output at once. Later calls do nothing.
    pub fn release(&self) {
        if self.stop_renewing() && self.check().is_ok() {
            if let Err(e) = self.out.remove(&lock_name(self.generation)) {
                tracing::warn!("cannot remove the output's lock: {e}");
            }
        }
        held_here().lock().expect("not poisoned").remove(&self.me.nonce);
    }

    /// Stops the renewals; false if they were stopped already.
    fn stop_renewing(&self) -> bool {
        let t = self.renewer.lock().expect("not poisoned").take();
        match t {
            Some((stop, t)) => {
                drop(stop);
                let _ = t.join();
                true
            }
            None => false,
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Not released: the file stays until it goes stale (a crash looks the same).
        self.stop_renewing();
        held_here().lock().expect("not poisoned").remove(&self.me.nonce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> (tempfile::TempDir, Output) {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::local(dir.path());
        (dir, out)
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_one_named() {
        let (_d, out) = out();
        let a = OutputLock::acquire(&out, Duration::from_secs(30)).unwrap();
        let err = OutputLock::acquire(&out, Duration::from_secs(30)).unwrap_err().to_string();
        assert!(err.contains(&hostname()) && err.contains(&std::process::id().to_string()), "{err}");
        a.check().unwrap();
        a.release();
        let b = OutputLock::acquire(&out, Duration::from_secs(30)).unwrap();
        assert_eq!(b.generation, 1, "a released lock leaves no file: the next starts afresh");
    }

    #[test]
    fn releasing_does_not_wait_for_the_next_renewal() {
        // A 30 s timeout renews every 5 s; a job's end must not sit out that period.
        let (_d, out) = out();
        let a = OutputLock::acquire(&out, Duration::from_secs(30)).unwrap();
        let t = std::time::Instant::now();
        a.release();
        assert!(t.elapsed() < Duration::from_secs(2), "release took {:?}", t.elapsed());
    }

    #[test]
    fn a_stale_lock_is_taken_over_and_its_old_holder_is_fenced() {
        let (_d, out) = out();
        let a = OutputLock::acquire(&out, Duration::from_millis(500)).unwrap();
        // A holder that stops renewing, as a paused process does.
        a.stop_renewing();
        std::thread::sleep(Duration::from_millis(700));
        let b = OutputLock::acquire(&out, Duration::from_millis(500)).unwrap();
        assert_eq!(b.generation, 2);
        assert!(matches!(a.check(), Err(Error::LockLost { .. })), "the old holder can no longer commit");
        b.check().unwrap();
        let names = out.list("").unwrap();
        assert_eq!(names.iter().filter(|n| generation(n).is_some()).count(), 1, "{names:?}");
        // Renewals keep a live holder's lock fresh past its timeout.
        std::thread::sleep(Duration::from_millis(800));
        assert!(matches!(OutputLock::acquire(&out, Duration::from_millis(500)), Err(Error::Locked { .. })));
        b.check().unwrap();
    }

    #[test]
    fn a_lock_left_by_a_dead_process_on_this_host_is_taken_at_once() {
        let (_d, out) = out();
        let dead = Holder {
            host: hostname(),
            pid: u32::MAX - 7, // no such process
            nonce: "x".into(),
            renewed_ms: now_ms(),
            renewals: 3,
        };
        write_holder(&out, &lock_name(4), &dead).unwrap();
        let other_host = Holder { host: "elsewhere".into(), ..dead.clone() };
        let (_d2, out2) = self::out();
        write_holder(&out2, &lock_name(1), &other_host).unwrap();
        let a = OutputLock::acquire(&out, Duration::from_secs(30)).unwrap();
        assert_eq!(a.generation, 5);
        assert!(matches!(OutputLock::acquire(&out2, Duration::from_secs(30)), Err(Error::Locked { .. })), "a live-looking holder elsewhere is not overruled");
    }
}
