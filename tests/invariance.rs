//! Results do not depend on the number of workers, the chunk size, or the order chunks
//! finish in: a property test over all three, in one process (master + worker actors).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use wattswarm_core::generate::{generate, Spec};
use wattswarm_core::input;
use wattswarm_core::layout::Layout;
use wattswarm_core::process::Settings;
use wattswarm::run_standalone;
use wattswarm_master::{report, results as job_results, CoordinatorConfig, JobOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    baseline: BTreeMap<String, Vec<u8>>,
    root: PathBuf,
}

fn results(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out.join("results")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "summary.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            for k in ["seconds", "workers", "chunks", "parquet_bytes"] {
                v.as_object_mut().unwrap().remove(k);
            }
            bytes = serde_json::to_vec(&v).unwrap();
        }
        if name == job_results::REPORT_FILE {
            // Workers, chunks and seconds are in its run section only.
            bytes = report::answers_part(&String::from_utf8(bytes).unwrap()).into_bytes();
        }
        m.insert(name, bytes);
    }
    m
}

fn run(data: &Path, out: &Path, workers: usize, chunk_size: u64, batch_rows: usize) {
    let input = input::resolve(data.to_str().unwrap(), None).unwrap();
    let opts = JobOptions {
        output: out.into(),
        mongo: None,
        mongo_readings: false,
        public_config: serde_json::Value::Null,
        workers,
        chunk_size,
        settings: Settings {
            batch_rows,
            ..Settings::default()
        },
        coordinator: CoordinatorConfig {
            lease_timeout: Duration::from_secs(30),
            max_attempts: 3,
        },
    };
    actix_rt::System::new().block_on(async move {
        run_standalone(&input, &opts).unwrap().wait().await.unwrap();
    });
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("lcl.csv");
        let spec = Spec {
            households: 25,
            days: 70,
            seed: 21,
            layout: Layout::Six,
        };
        generate(&spec, &data).unwrap();
        let out = dir.path().join("baseline");
        run(&data, &out, 1, 1 << 40, 128 * 1024);
        Fixture {
            baseline: results(&out),
            root: dir.path().to_owned(),
            data,
            _dir: dir,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn any_workers_and_chunk_size_give_identical_results(workers in 1usize..6, chunk_size in 1_000u64..400_000, batch in 1024usize..20_000) {
        let f = fixture();
        let out = f.root.join(format!("run-{workers}-{chunk_size}-{batch}"));
        run(&f.data, &out, workers, chunk_size, batch);
        let got = results(&out);
        prop_assert_eq!(got.keys().collect::<Vec<_>>(), f.baseline.keys().collect::<Vec<_>>());
        for (k, v) in &f.baseline {
            prop_assert!(&got[k] == v, "{} differs with {} workers, chunks of {} bytes", k, workers, chunk_size);
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
