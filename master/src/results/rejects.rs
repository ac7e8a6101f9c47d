//! `results/rejects.csv`: every rejected line with its file and line number.
//!
//! A module of its own because line numbers need a step no other result has: a worker
//! numbers its rejects inside its chunk, and only the master, knowing how many lines each
//! earlier chunk of the file held, turns them into the file's line numbers.
use std::io::Write;

use wattswarm_core::chunk::ChunkSpec;
use wattswarm_core::csv::split_csv;
use wattswarm_core::process::csv_field;
use wattswarm_core::storage::{rejects_partial_name, Output, RESULTS_DIR};
use wattswarm_core::{Error, Result};

use super::report::{RejectSample, REJECTS_SHOWN};

/// The reason of a rejects partial's `reason,raw` (the raw text may be cut mid-quote, so a
/// line core's splitter refuses keeps all of it as its reason).
fn reject_reason(rest: &str) -> String {
    let mut fields = Vec::new();
    match split_csv(rest.as_bytes(), &mut fields) {
        Ok(()) => fields.first().map(|f| String::from_utf8_lossy(f).into_owned()).unwrap_or_default(),
        Err(_) => rest.to_owned(),
    }
}

/// Gathers the chunks' rejects into `results/rejects.csv` with file line numbers; returns
/// the first [`REJECTS_SHOWN`] for the report.
pub(super) fn merge_rejects(out: &Output, chunks: &[ChunkSpec], lines: &[u64]) -> Result<Vec<RejectSample>> {
    let mut shown_rejects = Vec::new();
    let rel = format!("{RESULTS_DIR}/rejects.csv");
    let mut w = out.create(&rel, "master")?;
    let shown = w.shown().to_owned();
    let werr = |e| Error::io("write", &shown, e);
    writeln!(w, "file,line,reason,raw").map_err(werr)?;
    // Lines before each chunk, per file: the sum over the file's earlier chunks.
    let mut before = 0u64;
    let mut file = u32::MAX;
    for (c, &n) in chunks.iter().zip(lines) {
        if c.file_index != file {
            file = c.file_index;
            before = 0;
        }
        let partial = rejects_partial_name(c.id);
        if let Some(bytes) = out.read(&partial)? {
            let p = std::path::PathBuf::from(out.shown(&partial));
            let text = String::from_utf8_lossy(&bytes);
            let name = c.path.to_string();
            for line in text.lines() {
                let (index, rest) = line.split_once(',').ok_or_else(|| Error::Corrupt {
                    path: p.clone(),
                    reason: "not a rejects partial".into(),
                })?;
                let index: u64 = index.parse().map_err(|_| Error::Corrupt {
                    path: p.clone(),
                    reason: format!("bad line index {index:?}"),
                })?;
                writeln!(w, "{},{},{}", csv_field(&name), before + index + 1, rest).map_err(werr)?;
                if shown_rejects.len() < REJECTS_SHOWN {
                    shown_rejects.push(RejectSample { file: name.clone(), line: before + index + 1, reason: reject_reason(rest) });
                }
            }
        }
        before += n;
    }
    out.replace(w.close()?, &rel)?;
    Ok(shown_rejects)
}
