//! wattswarm against a real HDFS: Apache Hadoop's own MiniDFSCluster (`scripts/minidfs`),
//! read back with Hadoop's own `hdfs dfs` (FsShell), never with wattswarm's client.
mod common;

use std::path::Path;
use std::time::Duration;

use common::{assert_same_files, comparable_results, files_under, run_ok, MiniDfs};

#[test]
fn a_run_to_hdfs_and_from_hdfs_gives_the_local_results_byte_for_byte() {
    let dfs = MiniDfs::start(2, 0);
    let dir = tempfile::tempdir().unwrap();
    let args = ["--chunk-size", "96KiB", "--workers", "3", "--quiet"];
    let (clean, messy, local) = common::messy_and_its_local_run(dir.path(), &args);

    // Local input, HDFS output, with replication 2 and 1 MiB blocks.
    let out = format!("{}/jobs/one", dfs.url);
    let st = common::bin()
        .args(["run", "--input", messy.to_str().unwrap(), "--output", &out])
        .args(args)
        .env("WATTSWARM_HDFS_REPLICATION", "2")
        .env("WATTSWARM_HDFS_BLOCK_SIZE", "1MiB")
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let back = dir.path().join("back");
    dfs.get("/jobs/one", &back);
    assert_same_files(&back, &local, "HDFS");
    assert_eq!(comparable_results(&back), comparable_results(&local));
    let stat = dfs.fs(&["-stat", "%r %o", &format!("{out}/parquet/part-00000.parquet")]);
    assert_eq!(stat.trim(), "2 1048576", "replication and block size as configured");

    // HDFS input (a folder, and a file), HDFS output: the same answers. Rejects name the
    // file as it was given, so only their paths differ.
    dfs.put(&messy, "/data/in/messy.csv");
    dfs.put(&clean, "/data/in/notes.txt"); // not *.csv: not input
    for (i, input) in [format!("{}/data/in", dfs.url), format!("{}/data/in/messy.csv", dfs.url)].iter().enumerate() {
        let out = format!("{}/jobs/from-hdfs-{i}", dfs.url);
        run_ok(&[&["--input", input.as_str(), "--output", out.as_str()][..], &args].concat());
        let back = dir.path().join(format!("back-{i}"));
        dfs.get(&format!("/jobs/from-hdfs-{i}"), &back);
        let mut got = comparable_results(&back);
        let mut want = comparable_results(&local);
        let fix = |v: &mut serde_json::Value, from: &str| {
            *v = serde_json::json!(v.as_str().unwrap().replace(from, "<input>"));
        };
        fix(got.get_mut("rejects").unwrap(), &format!("{}/data/in/messy.csv", dfs.url));
        fix(want.get_mut("rejects").unwrap(), messy.to_str().unwrap());
        assert_eq!(got, want, "input {input}");
        common::assert_same_parquet(&back, &local);
    }

    parquet_is_read_from_hdfs_in_windows(&dfs, dir.path());
    tcp_reads_are_direct_and_pass_over_a_corrupt_replica(&dfs, dir.path());
    a_write_that_fails_after_close_returned_fails_its_commit(&dfs);
    let at = wattswarm_core::store::Location::parse(&format!("{}/rule", dfs.url)).unwrap();
    common::the_commit_rule_holds(&wattswarm_core::storage::Output::open(&at, &Default::default()).unwrap());
    assert_eq!(dfs.list("/rule/parquet").len(), 2, "what Hadoop's own client sees: {:?}", dfs.list("/rule/parquet"));
}

/// The master's merges read Parquet from HDFS: the same batches as from local disk, in a
/// few requests per window, not one per page header's read (that cost the 11 GB file's
/// household-day merge 5.5 s against 0.35 s locally); and a read past the end is an error.
fn parquet_is_read_from_hdfs_in_windows(dfs: &MiniDfs, dir: &Path) {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;
    use wattswarm_core::store::{HdfsOptions, Location, WINDOW};
    use wattswarm_core::storage::{Output, ParquetSource};

    // Small pages and row groups, uncompressed: many page headers in a file of several windows.
    let path = dir.join("pages.parquet");
    let props = WriterProperties::builder()
        .set_data_page_size_limit(4096)
        .set_max_row_group_row_count(Some(50_000))
        .set_dictionary_enabled(false)
        .build();
    let rows = 200_000i64;
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("MAC{:06}", i / 700))));
    let ns: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 7919 % 1_000_003)));
    let batch = RecordBatch::try_from_iter([("id", ids), ("n", ns)]).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 4 * WINDOW as u64, "a file of several windows: {len} bytes");
    dfs.put(&path, "/windows/pages.parquet");

    let read = |src: ParquetSource| -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(src).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
    };
    let local = read(Output::local(dir).open_parquet("pages.parquet").unwrap());
    let at = Location::parse(&format!("{}/windows", dfs.url)).unwrap();
    let out = Output::open(&at, &HdfsOptions::default()).unwrap();
    let src = out.open_parquet("pages.parquet").unwrap();
    let reader = src.clone();
    assert_eq!(read(src), local, "the same batches from HDFS as from local disk");
    let pages = rows as u64 * 2 * 8 / 4096;
    assert!(
        reader.requests() < len / WINDOW as u64 * 4 + 16 && reader.requests() < pages / 4,
        "{} requests to HDFS for {len} bytes in about {pages} pages",
        reader.requests()
    );
    let past = reader.bytes(len - 2, 5).unwrap_err().to_string();
    assert!(past.contains("past the end"), "{past}");
}

/// A file's last bytes go to the DataNode after `close` has returned, with the close (so a
/// worker parses its next chunk meanwhile): a failure there must fail the commit, name the
/// file, and publish nothing.
fn a_write_that_fails_after_close_returned_fails_its_commit(dfs: &MiniDfs) {
    use std::io::Write;
    use wattswarm_core::storage::Output;
    use wattswarm_core::store::Location;

    let out = Output::open(&Location::parse(&format!("{}/lost", dfs.url)).unwrap(), &Default::default()).unwrap();
    out.prepare().unwrap();
    let rel = "parquet/part-00000.parquet";
    let mut w = out.create(rel, "w1.a0").unwrap();
    w.write_all(&vec![7u8; 300_000]).unwrap();
    // The file goes away while its bytes are still in the writer (Hadoop's own client).
    dfs.fs(&["-rm", "-r", "-skipTrash", &format!("{}/lost/parquet", dfs.url)]);
    let e = match w.close() {
        Err(e) => e.to_string(),
        Ok(written) => out.commit(written, rel).expect_err("a commit of a file whose bytes were never stored").to_string(),
    };
    assert!(e.contains("/lost/parquet/") && e.contains("cannot"), "the error names the file: {e}");
    assert!(!out.exists(rel).unwrap(), "nothing published");
}

#[test]
fn a_namenode_that_is_down_gets_retries_then_one_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("hdfs://127.0.0.1:{port}");
    let st = common::bin()
        .args(["run", "--output", &format!("{url}/out"), "--quiet"])
        .env("WATTSWARM_HDFS_CONNECT_SECONDS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success());
    assert!(err.contains(&url) && err.contains("is HDFS running"), "{err}");
    assert!(err.matches("retrying").count() >= 2, "it retried with backoff: {err}");

    // A NameNode that comes up while the run waits: the run completes.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    run_ok(&["--output", local.to_str().unwrap(), "--quiet"]);
    let run = common::bin()
        .args(["run", "--output", &format!("{url}/late"), "--quiet"])
        .env("WATTSWARM_HDFS_CONNECT_SECONDS", "120")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let dfs = MiniDfs::start(1, port);
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("does not answer") && err.contains("retrying"), "the run waited for the NameNode: {err}");
    let back = dir.path().join("back");
    dfs.get("/late", &back);
    assert_eq!(comparable_results(&back), comparable_results(&local));
}

/// A file of 1 MiB blocks read through `src`: the whole of it read ahead in pieces that
/// cross blocks, then ranges at odd offsets, each compared with `want`.
fn read_back(src: &dyn wattswarm_core::store::Source, want: &[u8]) -> Vec<u8> {
    let mut got = vec![0u8; want.len()];
    let mut pos = 0;
    while pos < got.len() {
        let n = (got.len() - pos).min(300_007);
        src.read_ahead(pos as u64, n);
        assert_eq!(src.read_at(&mut got[pos..pos + n], pos as u64).unwrap(), n);
        pos += n;
    }
    for (at, n) in [(1, 513), (1_048_575, 2), (1_048_000, 1_048_576 + 999), (want.len() - 7, 7)] {
        assert_eq!(&src.read_range(at as u64, n).unwrap()[..], &want[at..at + n], "{n} bytes at {at}");
    }
    got
}

/// Reads over TCP (replication 2): the direct reader (the default, the patch in
/// vendor/hdfs-native) and the client's stream give the file's bytes at any offset. A
/// replica changed on one DataNode's disk is passed over for the other; with both
/// changed, the read is an error, never other bytes.
fn tcp_reads_are_direct_and_pass_over_a_corrupt_replica(dfs: &MiniDfs, dir: &Path) {
    use wattswarm_core::store::hdfs::{connect, direct_read_bytes};
    use wattswarm_core::store::{HdfsOptions, Store};
    let csv = dir.join("tcp.csv");
    common::generate(&csv, 30, 60, 12, "six");
    let want = std::fs::read(&csv).unwrap();
    assert!(want.len() > 3 << 20, "several 1 MiB blocks: {} bytes", want.len());
    dfs.fs(&["-mkdir", "-p", &format!("{}/tcp", dfs.url)]);
    dfs.fs(&["-D", "dfs.blocksize=1048576", "-D", "dfs.replication=2", "-put", csv.to_str().unwrap(), &format!("{}/tcp/in.csv", dfs.url)]);
    let direct = connect(&dfs.url, &HdfsOptions::default()).unwrap();
    let stream = connect(&dfs.url, &HdfsOptions { direct_read: false, ..Default::default() }).unwrap();

    let before = direct_read_bytes();
    assert!(read_back(&*direct.open("/tcp/in.csv").unwrap(), &want) == want, "the same bytes, direct");
    let read = direct_read_bytes() - before;
    assert!(read >= want.len() as u64, "{read} bytes read by the direct reader, of {}", want.len());
    assert!(read_back(&*stream.open("/tcp/in.csv").unwrap(), &want) == want, "the same bytes, streamed");

    // The second block's replicas: the DataNodes' files that hold its bytes.
    let second = &want[1 << 20..2 << 20];
    let replicas: Vec<_> = files_under(dfs.dir())
        .into_iter()
        .map(|f| dfs.dir().join(f))
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("blk_") && std::fs::read(p).ok().as_deref() == Some(second))
        .collect();
    assert_eq!(replicas.len(), 2, "one replica per DataNode: {replicas:?}");
    let corrupt = |p: &Path| {
        let mut bytes = std::fs::read(p).unwrap();
        bytes[4321] ^= 0x20;
        std::fs::write(p, bytes).unwrap();
    };
    corrupt(&replicas[0]);
    // Whichever replica the NameNode lists first, each read gives the file's bytes.
    for _ in 0..4 {
        assert!(read_back(&*direct.open("/tcp/in.csv").unwrap(), &want) == want, "one corrupt replica, direct");
    }
    corrupt(&replicas[1]);
    for store in [&direct, &stream] {
        let mut all = vec![0u8; want.len()];
        let err = store.open("/tcp/in.csv").unwrap().read_at(&mut all, 0).unwrap_err().to_string();
        assert!(err.to_lowercase().contains("checksum") || err.contains("All DataNodes failed"), "{err}");
        assert!(err.contains("/tcp/in.csv"), "the error names the file: {err}");
    }
}

/// HDFS's legacy short-circuit reads (the patch in vendor/hdfs-native): with
/// `hdfs_short_circuit`, the blocks of a DataNode on this machine are read from its disk, the
/// same bytes at any offset, with their checksums verified. A DataNode that does not allow
/// it costs a fall back to TCP; a corrupt replica is an error, never other bytes.
#[test]
fn short_circuit_reads_give_the_same_bytes_and_fall_back_to_tcp() {
    use wattswarm_core::store::hdfs::{connect, short_circuit_read_bytes};
    use wattswarm_core::store::{HdfsOptions, Source, Store};
    let user = std::env::var("HADOOP_USER_NAME").unwrap_or_else(|_| {
        String::from_utf8(std::process::Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_owned()
    });
    let access = format!("dfs.block.local-path-access.user={user}");
    let allowing = MiniDfs::start_with(1, 0, &[&access]);
    let refusing = MiniDfs::start(1, 0);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    common::generate(&csv, 30, 60, 11, "six");
    let want = std::fs::read(&csv).unwrap();
    assert!(want.len() > 3 << 20, "several 1 MiB blocks: {} bytes", want.len());
    for dfs in [&allowing, &refusing] {
        dfs.fs(&["-mkdir", "-p", &format!("{}/sc", dfs.url)]);
        dfs.fs(&["-D", "dfs.blocksize=1048576", "-put", csv.to_str().unwrap(), &format!("{}/sc/in.csv", dfs.url)]);
    }
    let options = HdfsOptions { short_circuit: true, ..Default::default() };
    let read_back = |src: &dyn Source| read_back(src, &want);

    let before = short_circuit_read_bytes();
    let store = connect(&allowing.url, &options).unwrap();
    let src = store.open("/sc/in.csv").unwrap();
    assert!(read_back(&*src) == want, "the same bytes from the DataNode's disk");
    let read = short_circuit_read_bytes() - before;
    assert!(read >= want.len() as u64, "{read} bytes read by short-circuit, of {}", want.len());

    // A DataNode that does not name the user: the same bytes, over TCP.
    let before = short_circuit_read_bytes();
    let src = connect(&refusing.url, &options).unwrap().open("/sc/in.csv").unwrap();
    assert!(read_back(&*src) == want, "the same bytes over TCP");
    assert_eq!(short_circuit_read_bytes(), before, "nothing read from the refusing DataNode's disk");

    // The embedded job, as a user runs it: the same answers and Parquet as from local disk.
    let args = ["--chunk-size", "700KiB", "--workers", "2", "--quiet"];
    let local = dir.path().join("local");
    run_ok(&[&["--input", csv.to_str().unwrap(), "--output", local.to_str().unwrap()][..], &args].concat());
    let from = dir.path().join("from-hdfs");
    let input = format!("{}/sc/in.csv", allowing.url);
    let st = common::bin()
        .args(["run", "--input", &input, "--output", from.to_str().unwrap()])
        .args(args)
        .env("WATTSWARM_HDFS_SHORT_CIRCUIT", "true")
        // The client logs each replica's paths it is given (and a warning if it gives up).
        .env("RUST_LOG", "hdfs_native::hdfs::short_circuit=debug")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{log}");
    assert!(log.contains("getBlockLocalPathInfo") && !log.contains("are off"), "the job read by short-circuit: {log}");
    let parts = common::assert_same_parquet(&from, &local);
    assert!(parts > 3, "{parts} Parquet files");
    let (mut got, mut want_results) = (comparable_results(&from), comparable_results(&local));
    got.remove("rejects");
    want_results.remove("rejects");
    assert_eq!(got, want_results);

    // One byte changed in a full block's file on the DataNode's disk: an error that says
    // so, from the disk and then over TCP, not the changed bytes.
    let block = files_under(allowing.dir())
        .into_iter()
        .map(|f| allowing.dir().join(f))
        .find(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("blk_") && !name.ends_with(".meta") && std::fs::metadata(p).unwrap().len() == 1 << 20
        })
        .expect("a full block's file");
    let mut bytes = std::fs::read(&block).unwrap();
    bytes[4321] ^= 0x20;
    std::fs::write(&block, bytes).unwrap();
    let src = store.open("/sc/in.csv").unwrap();
    let mut all = vec![0u8; want.len()];
    let err = src.read_at(&mut all, 0).unwrap_err().to_string();
    assert!(err.to_lowercase().contains("checksum") || err.contains("All DataNodes failed"), "{err}");
}
