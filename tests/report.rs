//! `results/report.html` in a real browser: Debian's Chromium, headless, opens the page a
//! job wrote (from a file URL, with the network unreachable to it), and what it renders
//! must agree with `results/*.json`: every plotted point, the counts, the like-for-like
//! table and the rejects; a phone-sized screenshot must show the charts' lines.
//!
//! Needs `chromium` (scripts/setup installs Debian's package) or `$CHROMIUM`.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::read_json;
use serde_json::Value;

fn chromium() -> String {
    let c = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&c).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "{c} not found: install Debian's chromium (scripts/setup does) or set CHROMIUM to a Chromium binary");
    c
}

/// Chromium, headless, with a throwaway profile and a proxy that goes nowhere: a page
/// that fetched anything would show it broken.
fn browser(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .args(["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"])
        .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// `name="value"` of one tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// Every `<tag` opening in `html`, up to its `>`.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    html.match_indices(&open).map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()]).collect()
}

/// Chart id → (series, x) → plotted value, from the rendered DOM.
fn points(dom: &str) -> BTreeMap<String, BTreeMap<(String, String), f64>> {
    let mut charts = BTreeMap::new();
    for part in dom.split("<svg ").skip(1) {
        let head = &part[..part.find('>').unwrap()];
        let id = attr(&format!(" {head}"), "id").unwrap().to_owned();
        let svg = &part[..part.find("</svg>").unwrap()];
        let mut pts = BTreeMap::new();
        for c in tags(svg, "circle") {
            let key = (unescape(attr(c, "data-series").unwrap()), unescape(attr(c, "data-x").unwrap()));
            let v: f64 = attr(c, "data-y").unwrap().parse().unwrap();
            assert!(pts.insert(key.clone(), v).is_none(), "{key:?} plotted twice in {id}");
        }
        charts.insert(id, pts);
    }
    charts
}

/// What the chart of `table` must plot: its rows' `kwh_mean` × `scale`.
fn expected(res: &Path, table: &str, group: &str, x: &str, scale: f64) -> BTreeMap<(String, String), f64> {
    let rows = read_json(&res.join(format!("{table}.json")));
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["kwh_mean"].is_null())
        .map(|r| ((r[group].as_str().unwrap().to_owned(), r[x].as_str().unwrap().to_owned()), r["kwh_mean"].as_f64().unwrap() * scale))
        .collect()
}

/// Like for like, computed here from `by_tariff_month.json`: per year, over the months with
/// readings of both tariffs, each tariff's kWh / readings × 48.
fn like_for_like(res: &Path) -> BTreeMap<i32, (f64, f64)> {
    let rows = read_json(&res.join("by_tariff_month.json"));
    let mut months: BTreeMap<String, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    for r in rows.as_array().unwrap() {
        if r["readings"].as_u64().unwrap() > 0 {
            months
                .entry(r["month"].as_str().unwrap().into())
                .or_default()
                .insert(r["tariff"].as_str().unwrap().into(), (r["readings"].as_f64().unwrap(), r["kwh_sum"].as_f64().unwrap()));
        }
    }
    let mut years: BTreeMap<i32, [(f64, f64); 2]> = BTreeMap::new();
    for (m, t) in months.iter().filter(|(_, t)| t.len() == 2) {
        let y = years.entry(m[..4].parse().unwrap()).or_default();
        for (i, tariff) in ["Std", "ToU"].iter().enumerate() {
            y[i].0 += t[*tariff].0;
            y[i].1 += t[*tariff].1;
        }
    }
    years.into_iter().map(|(y, [s, t])| (y, (s.1 / s.0 * 48.0, t.1 / t.0 * 48.0))).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Pixels within a small distance of `rgb` (a line's anti-aliased core) in an RGB(A) PNG.
fn pixels_of(png_path: &Path, rgb: [u8; 3]) -> (usize, usize, u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot, not {:?}", info.color_type);
    let px = buf[..info.buffer_size()].chunks(channels);
    let total = px.len();
    let near = |p: &[u8]| p[..3].iter().zip(rgb).map(|(&a, b)| (a as i32 - b as i32).abs()).sum::<i32>() < 48;
    let hits = px.filter(|p| near(p)).count();
    (hits, total, info.width, info.height)
}

#[test]
fn the_report_a_job_writes_renders_the_jsons_figures() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lcl.csv");
    // Long enough to hold 2013 and both tariffs; 12 households keep it small.
    common::generate(&input, 12, 829, 7, "six");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
        f.write_all(b"MAC000001,Std,2013-01-01 00:30:00.0000000,not-a-number ,ACORN-A,Affluent\r\n").unwrap();
        f.write_all(b"MAC000001,Std\r\n").unwrap();
    }
    let out = dir.path().join("out");
    let run = common::run_ok(&["--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--workers", "2", "--chunk-size", "4000000"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let res = out.join("results");
    let page = res.join("report.html");
    assert!(stdout.contains(&page.display().to_string()), "run prints the report's path:\n{stdout}");

    let html = std::fs::read_to_string(&page).unwrap();
    for bad in ["<script", "<link", "<img", "<iframe", "src=", "url(", "http://", "https://", "@import"] {
        assert!(!html.contains(bad), "the page must need nothing from outside, but it holds {bad}");
    }
    assert!(html.contains(r#"name="viewport" content="width=device-width"#), "the page sizes itself to a phone");

    let profile = dir.path().join("chromium");
    let url = format!("file://{}", page.display());
    let dump = browser(&profile).arg("--dump-dom").arg(&url).output().unwrap();
    assert!(dump.status.success(), "chromium --dump-dom: {}", String::from_utf8_lossy(&dump.stderr));
    let dom = String::from_utf8(dump.stdout).unwrap();
    assert!(dom.contains("wattswarm job report"), "the browser rendered the page: {}", &dom[..dom.len().min(500)]);

    // Every point of each chart is a row of its table, and every row is plotted.
    let charts = points(&dom);
    let want = [
        ("acorn-month", expected(&res, "by_acorn_grouped_month", "acorn_grouped", "month", 48.0)),
        ("tariff-month", expected(&res, "by_tariff_month", "tariff", "month", 48.0)),
        ("profile", expected(&res, "by_tariff_halfhour", "tariff", "halfhour", 1.0)),
    ];
    for (id, want) in &want {
        let got = &charts[*id];
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{id}: the points plotted");
        for (k, v) in want {
            assert!(close(got[k], *v), "{id} {k:?}: plotted {} where the JSON gives {v}", got[k]);
        }
    }
    assert_eq!(charts["profile"].len(), 96, "48 half-hours for each tariff");
    assert!(charts["tariff-month"].keys().any(|(_, m)| m.starts_with("2013-")), "the data holds 2013");
    assert_eq!(tags(&dom, "rect").iter().filter(|r| attr(r, "class") == Some("shade")).count(), 1, "2013 shaded once");

    // The counts are summary.json's.
    let summary = read_json(&res.join("summary.json"));
    for d in tags(&dom, "dd") {
        let key = attr(d, "data-key").unwrap();
        // Numbers are shown with thousands separators.
        let shown = dom[dom.find(d).unwrap() + d.len() + 1..].split('<').next().unwrap().replace(',', "");
        let want = match &summary[key] {
            Value::String(s) => s.clone(),
            Value::Number(n) if key == "kwh_sum" => format!("{:.3}", n.as_f64().unwrap()),
            v => v.to_string(),
        };
        assert_eq!(shown, want, "count {key}");
    }
    assert_eq!(tags(&dom, "dd").len(), 10, "every count is shown");

    // Like for like, recomputed here.
    let lfl = like_for_like(&res);
    let rows: Vec<&str> = tags(&dom, "tr").into_iter().filter(|t| attr(t, "data-year").is_some()).collect();
    assert_eq!(rows.len(), lfl.len(), "a like-for-like row per year");
    for r in rows {
        let y: i32 = attr(r, "data-year").unwrap().parse().unwrap();
        let (std, tou) = lfl[&y];
        let (gs, gt): (f64, f64) = (attr(r, "data-std").unwrap().parse().unwrap(), attr(r, "data-tou").unwrap().parse().unwrap());
        assert!(close(gs, std) && close(gt, tou), "{y}: shown Std {gs} ToU {gt}, want {std} {tou}");
        assert_eq!(attr(r, "class") == Some("dynamic"), y == 2013, "{y} is marked as the dynamic year only if 2013");
    }
    assert!(lfl.contains_key(&2013));

    // The rejects: their count, and the first lines of rejects.csv with file and line.
    assert_eq!(summary["rejected"], 2);
    let p = tags(&dom, "p").into_iter().find(|t| attr(t, "id") == Some("rejects")).unwrap();
    assert_eq!(attr(p, "data-rejected"), Some("2"));
    let csv = std::fs::read_to_string(res.join("rejects.csv")).unwrap();
    let listed: Vec<(String, String)> = tags(&dom, "tr")
        .into_iter()
        .filter(|t| attr(t, "class") == Some("reject"))
        .map(|t| (unescape(attr(t, "data-file").unwrap()), attr(t, "data-line").unwrap().to_owned()))
        .collect();
    let in_csv: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut f = l.splitn(3, ',');
            (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(listed, in_csv, "the rejects listed are rejects.csv's");

    // A phone-sized screenshot shows the charts: the first two series' colours cover
    // whole lines, not a pixel or two.
    let shot: PathBuf = std::env::temp_dir().join(format!("wattswarm-report-{}.png", std::process::id()));
    let s = browser(&profile).arg("--window-size=412,2600").arg(format!("--screenshot={}", shot.display())).arg(&url).output().unwrap();
    assert!(s.status.success() && shot.exists(), "chromium --screenshot: {}", String::from_utf8_lossy(&s.stderr));
    for (colour, rgb) in [("#0072B2", [0x00, 0x72, 0xB2]), ("#E69F00", [0xE6, 0x9F, 0x00])] {
        let (hits, total, w, h) = pixels_of(&shot, rgb);
        assert_eq!((w, h), (412, 2600));
        assert!(hits > 1000, "{colour} covers {hits} of {total} pixels in {}: the lines are not drawn", shot.display());
    }
    eprintln!("screenshot: {}", shot.display());
}
