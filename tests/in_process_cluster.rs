//! The master's HTTP server and two HTTP workers in one process (one actix system, on
//! 127.0.0.1): the same results as the in-process actor job.
use std::net::TcpListener;
use std::time::Duration;

use wattswarm_core::generate::{generate, Spec};
use wattswarm_core::input;
use wattswarm_core::layout::Layout;
use wattswarm_core::process::Settings;
use wattswarm_master::http::Token;
use wattswarm_master::server::{serve, MasterEnd, MasterOptions};
use wattswarm::run_standalone;
use wattswarm_master::{CoordinatorConfig, JobOptions};
use wattswarm_worker::remote::{run, RemoteOptions};

fn options(out: &std::path::Path) -> JobOptions {
    JobOptions {
        output: out.into(),
        mongo: None,
        mongo_readings: false,
        public_config: serde_json::Value::Null,
        workers: 2,
        chunk_size: 300_000,
        settings: Settings::default(),
        coordinator: CoordinatorConfig {
            lease_timeout: Duration::from_secs(10),
            max_attempts: 3,
        },
    }
}

fn results(out: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    ["by_acorn_grouped_month.json", "by_tariff_month.json", "by_acorn_month.json", "by_tariff_halfhour.json", "household_day.parquet"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(out.join("results").join(f)).unwrap()))
        .collect()
}

#[test]
fn http_master_and_workers_in_one_process_match_the_actor_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lcl.csv");
    generate(&Spec { households: 12, days: 60, seed: 4, layout: Layout::Six }, &data).unwrap();
    let input = input::resolve(data.to_str().unwrap(), None).unwrap();

    let local = dir.path().join("local");
    let (i2, o2) = (input.clone(), options(&local));
    actix_rt::System::new().block_on(async move { run_standalone(&i2, &o2).unwrap().wait().await.unwrap() });

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let remote = dir.path().join("remote");
    let opts = MasterOptions {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        advertise: None,
        token: Token::new("in-process"),
        job: options(&remote),
        exit_when_done: true,
        autoscale: None,
        worker_service: "worker".into(),
    };
    let end = actix_rt::System::new().block_on(async move {
        for id in ["http-1", "http-2"] {
            actix_rt::spawn(run(RemoteOptions {
                master: format!("http://127.0.0.1:{port}"),
                token: "in-process".into(),
                id: Some(id.into()),
                metrics_listen: None,
                advertise: None,
                heartbeat: Duration::from_secs(1),
                mongo: None,
            }));
        }
        serve(&input, opts, |_, _| {}).await.unwrap()
    });
    let MasterEnd::Finished(outcome) = end else { panic!("the master stopped before the end") };
    assert_eq!(outcome.summary.workers, 2, "both HTTP workers took part");
    assert_eq!(results(&local), results(&remote));
}
