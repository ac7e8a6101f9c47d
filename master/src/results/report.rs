//! `results/report.html`: a job's answers as pictures, in one self-contained page.
//!
//! The page is plain HTML with inline CSS and inline SVG: no script, no font, no image,
//! nothing fetched, so it opens offline, from HDFS or a mail attachment, and on a phone
//! (the charts scale to the screen's width). It draws the same numbers as `results/*.json`
//! (the page is rendered from the same tables, after they are final):
//!
//! * mean consumption per household-day by Acorn group and month (one line per group);
//! * Std against ToU by month, with 2013 (the year ToU paid dynamic prices) shaded, and a
//!   like-for-like table: each year over the months both tariffs have data;
//! * the daily load profile (48 half-hours), Std against ToU;
//! * the summary counts and the first rejected lines.
//!
//! Each plotted point carries its value in `data-` attributes and every chart has its
//! figures in a table beneath it, so tests (and readers) check the picture against the
//! JSON. A household-day's kWh is the mean half-hourly reading × 48.
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::results::{GroupMonthRow, JobSummary, Tables};

/// Rejected lines the report lists; the rest are in `rejects.csv`.
pub const REJECTS_SHOWN: usize = 20;

/// A rejected line as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectSample {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// Half-hours in a day: a household-day's kWh is the mean half-hourly reading × this.
const SLOTS: f64 = 48.0;

/// Okabe–Ito: distinguishable with every common colour-vision deficiency.
const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

/// One line of a chart: a value (and households, where known) per x position.
struct Series {
    name: String,
    values: Vec<Option<f64>>,
    households: Vec<Option<u64>>,
}

/// A chart's data: x labels in order and the lines over them.
struct Lines {
    x: Vec<String>,
    series: Vec<Series>,
}

/// One point of a chart: its line, its x label, its value and its households (where known).
type Point<'a> = (&'a str, &'a str, Option<f64>, Option<u64>);

/// Points pivoted: line × x → value.
fn pivot<'a>(points: impl Iterator<Item = Point<'a>> + Clone) -> Lines {
    let mut xs: Vec<String> = points.clone().map(|(_, x, _, _)| x.to_owned()).collect();
    xs.sort();
    xs.dedup();
    let at: BTreeMap<&str, usize> = xs.iter().enumerate().map(|(i, x)| (x.as_str(), i)).collect();
    let mut by: BTreeMap<String, Series> = BTreeMap::new();
    for (g, xv, value, households) in points {
        let s = by.entry(g.to_owned()).or_insert_with(|| Series {
            name: g.to_owned(),
            values: vec![None; xs.len()],
            households: vec![None; xs.len()],
        });
        s.values[at[xv]] = value;
        s.households[at[xv]] = households;
    }
    Lines { x: xs, series: by.into_values().collect() }
}

/// A month grouping's lines: kWh per household-day (the mean half-hourly reading × 48).
fn month_lines(rows: &[GroupMonthRow]) -> Lines {
    pivot(rows.iter().map(|r| (r.group.name(), r.month.as_str(), r.kwh_mean.map(|m| m * SLOTS), Some(r.households))))
}

/// Like for like: per year, each tariff's kWh per household-day over only the months in
/// which both tariffs have readings (so a year's mix of seasons is the same for both).
fn like_for_like(rows: &[GroupMonthRow]) -> Vec<(i32, usize, f64, f64)> {
    // month → tariff → (readings, kWh)
    let mut months: BTreeMap<&str, BTreeMap<&str, (u64, f64)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.readings > 0) {
        months.entry(&r.month).or_default().insert(r.group.name(), (r.readings, r.kwh_sum));
    }
    let mut years: BTreeMap<i32, (usize, [(u64, f64); 2])> = BTreeMap::new();
    for (m, by) in &months {
        let (Some(std), Some(tou)) = (by.get("Std"), by.get("ToU")) else { continue };
        let Some(y) = m.get(..4).and_then(|y| y.parse().ok()) else { continue };
        let e = years.entry(y).or_default();
        e.0 += 1;
        for (acc, v) in e.1.iter_mut().zip([std, tou]) {
            acc.0 += v.0;
            acc.1 += v.1;
        }
    }
    years
        .into_iter()
        .map(|(y, (n, [s, t]))| (y, n, s.1 / s.0 as f64 * SLOTS, t.1 / t.0 as f64 * SLOTS))
        .collect()
}

/// HTML-escapes text and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A round step for about five gridlines up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|f| f * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

// Small enough that the labels stay legible when a phone scales the chart down.
const W: f64 = 480.0;
const H: f64 = 250.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 44.0;

/// An SVG line chart. `shade` is `(prefix, caption)`: the x labels starting with `prefix`
/// are shaded; `unit` labels the y axis; at most `max_labels` x labels are written.
fn svg_chart(id: &str, lines: &Lines, unit: &str, shade: Option<(&str, &str)>, max_labels: usize) -> String {
    let n = lines.x.len();
    let max = lines.series.iter().flat_map(|s| s.values.iter().flatten()).fold(0.0f64, |a, &b| a.max(b));
    let step = nice_step(if max > 0.0 { max } else { 1.0 });
    let top = (max / step).ceil().max(1.0) * step;
    let px = |i: usize| LEFT + if n > 1 { i as f64 * (W - LEFT - RIGHT) / (n - 1) as f64 } else { (W - LEFT - RIGHT) / 2.0 };
    let py = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / top);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        esc(unit)
    );
    if let Some((prefix, caption)) = shade {
        let idx: Vec<usize> = (0..n).filter(|&i| lines.x[i].starts_with(prefix)).collect();
        if let (Some(&a), Some(&b)) = (idx.first(), idx.last()) {
            let half = if n > 1 { (W - LEFT - RIGHT) / (n - 1) as f64 / 2.0 } else { 10.0 };
            let (x0, x1) = ((px(a) - half).max(LEFT), (px(b) + half).min(W - RIGHT));
            let _ = write!(
                s,
                r##"<rect class="shade" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f6e8c3"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#7a5c00">{}</text>"##,
                x1 - x0,
                H - TOP - BOTTOM,
                (x0 + x1) / 2.0,
                TOP + 12.0,
                esc(caption)
            );
        }
    }
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = py(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim_float(v)
        );
        v += step;
    }
    let every = n.div_ceil(max_labels.max(1)).max(1);
    for (i, x) in lines.x.iter().enumerate().filter(|(i, _)| i % every == 0) {
        // The edge labels hang inwards, so none is cut off.
        let anchor = match i {
            0 if n > 1 => "start",
            i if i + 1 == n && n > 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="{anchor}" fill="#555">{}</text>"##,
            px(i),
            H - BOTTOM + 16.0,
            esc(x)
        );
    }
    let _ = write!(
        s,
        r##"<text x="14" y="{:.1}" font-size="12" fill="#555" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"##,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        esc(unit)
    );
    for (k, ser) in lines.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in ser.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, px(i), py(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            s,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" data-series="{}"/>"#,
            d.trim_end(),
            esc(&ser.name)
        );
        for (i, v) in ser.values.iter().enumerate() {
            if let Some(v) = v {
                let hh = ser.households[i].map(|h| format!(", {h} households")).unwrap_or_default();
                let _ = write!(
                    s,
                    r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}" data-series="{}" data-x="{}" data-y="{v}"><title>{} {}: {:.3}{hh}</title></circle>"#,
                    px(i),
                    py(*v),
                    esc(&ser.name),
                    esc(&lines.x[i]),
                    esc(&ser.name),
                    esc(&lines.x[i]),
                    v
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn trim_float(v: f64) -> String {
    let t = format!("{v:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn legend(lines: &Lines) -> String {
    let mut s = String::from(r#"<ul class="legend">"#);
    for (k, ser) in lines.series.iter().enumerate() {
        let most = ser.households.iter().flatten().max();
        let hh = most.map(|h| format!(" <small>(up to {h} households)</small>")).unwrap_or_default();
        let _ = write!(s, r#"<li><span class="swatch" style="background:{}"></span>{}{hh}</li>"#, PALETTE[k % PALETTE.len()], esc(&ser.name));
    }
    s.push_str("</ul>");
    s
}

/// The chart's figures as a table: x down, one column per series, households beside.
fn figures(lines: &Lines, x_name: &str) -> String {
    let with_hh = lines.series.iter().any(|s| s.households.iter().any(Option::is_some));
    let mut s = format!(r#"<details><summary>The figures</summary><div class="scroll"><table><tr><th>{}</th>"#, esc(x_name));
    for ser in &lines.series {
        let _ = write!(s, "<th>{}</th>", esc(&ser.name));
        if with_hh {
            let _ = write!(s, "<th>households</th>");
        }
    }
    s.push_str("</tr>");
    for (i, x) in lines.x.iter().enumerate() {
        let _ = write!(s, "<tr><td>{}</td>", esc(x));
        for ser in &lines.series {
            match ser.values[i] {
                Some(v) => {
                    let _ = write!(s, "<td>{v:.3}</td>");
                }
                None => s.push_str("<td>–</td>"),
            }
            if with_hh {
                let _ = write!(s, "<td>{}</td>", ser.households[i].map(|h| h.to_string()).unwrap_or_default());
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></div></details>");
    s
}

/// The page without its `run` section: what must be identical for any number of workers,
/// any chunk size and any retry of the same input.
pub fn answers_part(html: &str) -> String {
    let Some(a) = html.find(RUN_OPEN) else { return html.to_string() };
    match html[a..].find(RUN_CLOSE) {
        Some(len) => format!("{}{}", &html[..a], &html[a + len + RUN_CLOSE.len()..]),
        None => html.to_string(),
    }
}

const RUN_OPEN: &str = "<section id=\"run\">";
const RUN_CLOSE: &str = "</section>";

fn count(label: &str, key: &str, value: impl std::fmt::Display) -> String {
    format!(r#"<div><dt>{}</dt><dd data-key="{key}">{}</dd></div>"#, esc(label), esc(&value.to_string()))
}

/// `1234567.5` as `1,234,567.5`: the integer part's digits in threes.
fn thousands(v: impl std::fmt::Display) -> String {
    let t = v.to_string();
    let (int, frac) = t.split_at(t.find('.').unwrap_or(t.len()));
    let (sign, digits) = int.split_at(usize::from(int.starts_with('-')));
    let mut o = String::from(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o + frac
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:960px;padding:12px;color:#222}\
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .3em}p.note{color:#555;font-size:.9em;margin:.2em 0}\
svg.chart{width:100%;max-width:720px;height:auto;display:block}\
dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px;margin:0}\
dl div{background:#f4f6f8;border-radius:6px;padding:6px 8px}dt{font-size:.8em;color:#555}dd{margin:0;font-weight:600;overflow-wrap:anywhere}\
ul.legend{list-style:none;padding:0;margin:.3em 0;display:flex;flex-wrap:wrap;gap:4px 14px}\
.swatch{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}\
th:first-child,td:first-child,td.l{text-align:left}tr.dynamic td{background:#f6e8c3}";

/// The page for a finished job. `rejects` holds the first [`REJECTS_SHOWN`] rejected lines.
pub fn render(summary: &JobSummary, tables: &Tables, rejects: &[RejectSample]) -> String {
    let acorn = month_lines(&tables.by_acorn_grouped_month);
    let tariff = month_lines(&tables.by_tariff_month);
    let profile = pivot(tables.by_tariff_halfhour.iter().map(|r| (r.tariff.as_str(), r.halfhour.as_str(), r.kwh_mean, None)));
    let day_unit = "kWh per household-day";

    let mut s = String::with_capacity(64 * 1024);
    s.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    s.push_str("<title>wattswarm job report</title><style>");
    s.push_str(STYLE);
    s.push_str("</style></head><body>");
    let period = match (&summary.first_reading, &summary.last_reading) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no readings".into(),
    };
    let _ = write!(
        s,
        "<h1>wattswarm job report</h1><p class=\"note\">{}, {}; {} of input in {}.</p>",
        plural(summary.households, "household", "households"),
        esc(&period),
        plural(summary.input_bytes, "byte", "bytes"),
        plural(summary.files as u64, "file", "files"),
    );
    // How this run went: the only part of the page that depends on workers, chunking and
    // time (see `answers_part`).
    let _ = write!(
        s,
        "<section id=\"run\"><p class=\"note\">Read by {} in {:.1} s.</p><dl>{}{}</dl></section>",
        plural(summary.workers as u64, "worker", "workers"),
        summary.seconds,
        count("chunks", "chunks", thousands(summary.chunks)),
        count("Parquet bytes", "parquet_bytes", thousands(summary.parquet_bytes)),
    );

    s.push_str("<h2>Counts</h2><dl>");
    for c in [
        count("rows accepted", "rows", thousands(summary.rows)),
        count("readings (kWh present)", "readings", thousands(summary.readings)),
        count("Null readings", "nulls", thousands(summary.nulls)),
        count("lines rejected", "rejected", thousands(summary.rejected)),
        count("households", "households", thousands(summary.households)),
        count("kWh in all", "kwh_sum", thousands(format!("{:.3}", summary.kwh_sum))),
        count("first reading", "first_reading", summary.first_reading.as_deref().unwrap_or("–")),
        count("last reading", "last_reading", summary.last_reading.as_deref().unwrap_or("–")),
    ] {
        s.push_str(&c);
    }
    s.push_str("</dl>");

    let _ = write!(s, "<h2>Consumption by Acorn group and month</h2><p class=\"note\">Mean {day_unit} (the mean half-hourly reading × 48); one line per group.</p>");
    s.push_str(&legend(&acorn));
    s.push_str(&svg_chart("acorn-month", &acorn, day_unit, None, 7));
    s.push_str(&figures(&acorn, "month"));

    let _ = write!(s, "<h2>Std against ToU by month</h2><p class=\"note\">Mean {day_unit}. ToU households paid dynamic prices (High, Normal, Low) in 2013 only, shaded; before and after, both groups paid the flat Std rate.</p>");
    s.push_str(&legend(&tariff));
    s.push_str(&svg_chart("tariff-month", &tariff, day_unit, Some(("2013-", "2013: dynamic prices")), 7));
    s.push_str(&figures(&tariff, "month"));
    s.push_str("<p class=\"note\">Like for like: each year over only the months in which both tariffs have readings.</p>");
    s.push_str("<div class=\"scroll\"><table id=\"like-for-like\"><tr><th>year</th><th>months</th><th>Std</th><th>ToU</th><th>ToU / Std</th></tr>");
    for (y, months, std, tou) in like_for_like(&tables.by_tariff_month) {
        let _ = write!(
            s,
            r#"<tr{} data-year="{y}" data-std="{std}" data-tou="{tou}"><td>{y}{}</td><td>{months}</td><td>{std:.3}</td><td>{tou:.3}</td><td>{:.3}</td></tr>"#,
            if y == 2013 { r#" class="dynamic""# } else { "" },
            if y == 2013 { " (dynamic)" } else { "" },
            tou / std
        );
    }
    s.push_str("</table></div>");

    s.push_str("<h2>Daily load profile</h2><p class=\"note\">Mean kWh per half-hour reading, by the half-hour of its DateTime, Std against ToU, over the whole period.</p>");
    s.push_str(&legend(&profile));
    s.push_str(&svg_chart("profile", &profile, "kWh per half hour", None, 8));
    s.push_str(&figures(&profile, "half-hour"));

    s.push_str("<h2>Rejected lines</h2>");
    if summary.rejected == 0 {
        s.push_str("<p id=\"rejects\" data-rejected=\"0\">No line was rejected.</p>");
    } else {
        let _ = write!(
            s,
            "<p id=\"rejects\" data-rejected=\"{0}\">{2} rejected; every one, with its file and line, is in <code>results/rejects.csv</code>.{1}</p>",
            summary.rejected,
            if summary.rejected as usize > rejects.len() { format!(" The first {}:", rejects.len()) } else { String::new() },
            plural(summary.rejected, "line was", "lines were")
        );
        s.push_str("<div class=\"scroll\"><table><tr><th>file</th><th>line</th><th>reason</th></tr>");
        for r in rejects {
            let _ = write!(
                s,
                r#"<tr class="reject" data-file="{0}" data-line="{1}"><td>{0}</td><td>{1}</td><td class="l">{2}</td></tr>"#,
                esc(&r.file),
                r.line,
                esc(&r.reason)
            );
        }
        s.push_str("</table></div>");
    }
    s.push_str("<p class=\"note\">Written by wattswarm from the same tables as <code>results/*.json</code>; the page needs no network.</p></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Group;

    fn summary(rejected: u64) -> JobSummary {
        JobSummary {
            rows: 10,
            readings: 9,
            nulls: 1,
            rejected,
            households: 2,
            first_reading: Some("2012-12-01 00:30:00".into()),
            last_reading: Some("2013-02-01 00:00:00".into()),
            input_bytes: 1000,
            seconds: 1.5,
            workers: 2,
            chunks: 3,
            files: 1,
            lines: 12,
            blank_lines: 0,
            header_lines: 1,
            kwh_sum: 3.25,
            parquet_bytes: 999,
        }
    }

    fn row(tariff: &str, month: &str, n: u64, kwh: f64) -> GroupMonthRow {
        GroupMonthRow {
            group: Group::Tariff(tariff.into()),
            month: month.into(),
            rows: n,
            readings: n,
            kwh_sum: kwh,
            kwh_mean: Some(kwh / n as f64),
            kwh_min: None,
            kwh_max: None,
            households: 1,
        }
    }

    fn tariff_rows() -> Tables {
        Tables {
            by_tariff_month: vec![
                row("Std", "2012-12", 10, 2.0),
                row("Std", "2013-01", 10, 3.0),
                row("Std", "2013-02", 10, 5.0),
                row("ToU", "2013-01", 20, 2.0),
                row("ToU", "2013-02", 20, 6.0),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn like_for_like_takes_only_months_both_tariffs_have() {
        let t = tariff_rows();
        let got = like_for_like(&t.by_tariff_month);
        // 2012-12 has Std only: left out. 2013: Std (3+5)/20, ToU (2+6)/40, × 48.
        assert_eq!(got, vec![(2013, 2, 8.0 / 20.0 * 48.0, 8.0 / 40.0 * 48.0)]);
    }

    #[test]
    fn points_carry_the_tables_values_and_names_are_escaped() {
        let mut t = tariff_rows();
        t.by_tariff_month.push(row("<b>&", "2013-01", 1, 1.0));
        let page = render(&summary(0), &t, &[]);
        assert!(page.contains(r#"data-series="Std" data-x="2013-02" data-y="24""#), "5.0/10 × 48 = 24");
        assert!(page.contains(&format!(r#"data-series="ToU" data-x="2013-01" data-y="{}""#, 2.0 / 20.0 * 48.0)));
        assert!(page.contains("&lt;b&gt;&amp;") && !page.contains("<b>&"), "names are escaped");
        assert!(page.contains("No line was rejected"));
        // 2013 is shaded in the tariff chart.
        assert_eq!(page.matches(r#"class="shade""#).count(), 1);
    }

    #[test]
    fn rejects_are_listed_and_counted() {
        let r = vec![RejectSample { file: "a.csv".into(), line: 7, reason: "bad kWh".into() }];
        let page = render(&summary(3), &Tables::default(), &r);
        assert!(page.contains(r#"data-rejected="3""#));
        assert!(page.contains(r#"data-file="a.csv" data-line="7""#));
        assert!(page.contains("The first 1:"));
    }

    #[test]
    fn only_the_run_section_depends_on_workers_chunks_and_time() {
        let a = summary(3);
        let b = JobSummary { workers: a.workers + 4, chunks: a.chunks + 9, parquet_bytes: a.parquet_bytes + 1, seconds: a.seconds * 3.0, ..a.clone() };
        let (pa, pb) = (render(&a, &tariff_rows(), &[]), render(&b, &tariff_rows(), &[]));
        assert_ne!(pa, pb);
        assert_eq!(answers_part(&pa), answers_part(&pb));
        assert!(!answers_part(&pa).contains("id=\"run\"") && answers_part(&pa).contains("<h2>Counts</h2>"));
        let c = JobSummary { rows: a.rows + 1, ..a.clone() };
        assert_ne!(answers_part(&pa), answers_part(&render(&c, &tariff_rows(), &[])), "an answer is not in the run section");
    }

    #[test]
    fn nothing_is_fetched() {
        let page = render(&summary(0), &tariff_rows(), &[]);
        for bad in ["<script", "<link", "<img", "src=", "url(", "http://", "https://", "@import"] {
            assert!(!page.contains(bad), "the page holds {bad}");
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(167_434_977u64), "167,434,977");
        assert_eq!(thousands("-1234567.125"), "-1,234,567.125");
        assert_eq!(plural(1u64, "file", "files"), "1 file");
    }

    #[test]
    fn gridlines_are_round() {
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(nice_step(12.0), 2.5);
        assert_eq!(nice_step(0.4), 0.1);
    }
}
