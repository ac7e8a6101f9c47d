//! The hot paths on one file, one thread, for instruction counts under callgrind
//! (`bench/parser-instructions`). Instruction counts do not depend on what else the machine
//! is doing, so they show a regression or a gain that wall time on a shared machine hides.
//!
//! usage: instructions FILE read|parse|chunk
//!
//! * `read`: read the lines the whole file owns (the baseline the others include);
//! * `parse`: read, and parse every line;
//! * `chunk`: the whole chunk pipeline (parse, aggregate, Parquet part and household-day
//!   partial, zstd), as a worker runs it, into a temporary folder.

use wattswarm_core::chunk::{read_lines, ChunkSpec, LineEvent};
use wattswarm_core::input::resolve;
use wattswarm_core::parse::{Line, Parser};
use wattswarm_core::process::{process_chunk, JobSpec, Settings};
use wattswarm_core::storage::Output;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, mode] = args.as_slice() else {
        eprintln!("usage: instructions FILE read|parse|chunk");
        std::process::exit(2);
    };
    let input = resolve(file, None).expect("an LCL file");
    let f = &input.files[0];
    let chunk = ChunkSpec {
        id: 0,
        file_index: 0,
        path: f.path.clone(),
        layout: f.layout,
        start: 0,
        end: f.len,
        file: f.identity(),
    };
    let settings = Settings::default();
    let mut lines = 0u64;
    let mut rows = 0u64;
    match mode.as_str() {
        "read" | "parse" => {
            let mut parser = Parser::new(f.layout, input.households.clone());
            let parse = mode == "parse";
            read_lines(
                &chunk,
                settings.read_block,
                &settings.hdfs,
                |_, _, e| {
                    lines += 1;
                    if let (true, LineEvent::Text(l)) = (parse, e) {
                        if let Line::Row(r) = std::hint::black_box(parser.parse_line(l)) {
                            std::hint::black_box(r);
                            rows += 1;
                        }
                    }
                },
                |_| {},
            )
            .expect("read");
        }
        "chunk" => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let output = Output::local(dir.path());
            output.prepare().expect("output folders");
            let job = JobSpec {
                output,
                households: input.households.clone(),
                settings,
                rows: None,
            };
            let report = process_chunk(&job, &chunk, 1, "bench", &mut |_| {}).expect("the chunk");
            lines = report.aggregate.totals.lines;
            rows = report.aggregate.totals.rows;
        }
        other => {
            eprintln!("unknown mode {other}: read, parse or chunk");
            std::process::exit(2);
        }
    }
    println!("{mode}: {lines} lines, {rows} rows");
}
