//! The one small async runtime that every network client of wattswarm runs on (HDFS,
//! object stores, MongoDB), behind synchronous calls.
//!
//! The rest of wattswarm is synchronous (a chunk is a CPU-bound loop on a blocking
//! thread), while the clients are async. Every call is therefore run on this runtime and
//! waited for with a channel, which works from any thread, inside another runtime or not.
use std::future::Future;
use std::sync::OnceLock;

/// The I/O runtime (two threads: the calls wait on the network, not on the CPU).
pub fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wattswarm-io")
            .enable_all()
            .build()
            .expect("the I/O runtime starts")
    })
}

/// Runs `fut` on the I/O runtime and waits for it, from any thread.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    io_runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the I/O runtime finishes what it starts")
}
