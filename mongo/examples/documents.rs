//! How fast this client builds reading documents, with no server: the client's own cost
//! per row, the ceiling of the readings' insert rate on one core.
//!
//! usage: cargo run --release -p wattswarm-mongo --example documents [ROWS (2000000)]
//! Prints one JSON line: rows, seconds, documents per second on one core and BSON MB/s.
use std::time::Instant;

use wattswarm_core::datetime::DateTime;
use wattswarm_core::kwh::Kwh;
use wattswarm_core::parse::{Dicts, Row};
use wattswarm_mongo::readings::document;

fn main() {
    let rows: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let mut d = Dicts::default();
    let lclids: Vec<u32> = (0..100).map(|i| d.lclid.key(format!("MAC{:06}", i + 2).as_bytes()).unwrap()).collect();
    let row = Row {
        lclid: lclids[0],
        tariff: d.tariff.key(b"Std").unwrap(),
        dt: DateTime {
            day: 15_300,
            month: 24_130,
            slot: 0,
            micros: 1_321_920_000_000_000,
        },
        kwh: Kwh::Value(123_000),
        acorn: d.acorn.key(b"ACORN-A").unwrap(),
        acorn_grouped: d.acorn_grouped.key(b"Affluent").unwrap(),
    };
    let started = Instant::now();
    let mut bytes = 0u64;
    for i in 0..rows {
        let r = Row {
            lclid: lclids[(i / 25_000) as usize % lclids.len()],
            dt: DateTime {
                micros: row.dt.micros + (i as i64 % 25_000) * 1_800_000_000,
                ..row.dt
            },
            ..row
        };
        bytes += std::hint::black_box(document(i as i64, &r, &d)).as_bytes().len() as u64;
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{{\"rows\": {rows}, \"seconds\": {s:.3}, \"docs_per_s_per_core\": {:.0}, \"bson_mb_per_s\": {:.1}}}",
        rows as f64 / s,
        bytes as f64 / 1e6 / s
    );
}
