//! Decoding `DateTime` without allocation or a date library.
//!
//! The published files write `YYYY-MM-DD HH:MM:SS.fffffff` (London clock time, no zone);
//! one published sample writes `dd/mm/yyyy HH:MM`. Both are fixed-width, so the fast path
//! reads digits at known offsets. No time-zone conversion happens anywhere: month, day
//! and half hour are those written in the file.
//!
//! Years outside [`YEARS`] are refused: the trial ran from 2011-11-23 to 2014-02-28, so a
//! year such as 0000 or 9999 is a corrupt value, not a reading; the range leaves a wide
//! margin around the trial (and holds any period `generate` writes).

/// A decoded `DateTime`. `micros` is microseconds since 1970-01-01 00:00 of the written
/// clock time, which is what the Parquet `ts` column stores (a timestamp without zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Days since 1970-01-01.
    pub day: i32,
    /// `year * 12 + month - 1`: a dense month number for grouping.
    pub month: i32,
    /// Half-hour slot of the day, 0 (00:00) to 47 (23:30); a time between slots is floored.
    pub slot: u8,
    /// Microseconds since the epoch of the clock time.
    pub micros: i64,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The years a `DateTime` may have.
pub const YEARS: std::ops::RangeInclusive<u32> = 2000..=2030;

#[inline]
fn d2(b: &[u8], i: usize) -> Option<u32> {
    let (a, c) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    (a < 10 && c < 10).then(|| a as u32 * 10 + c as u32)
}

#[inline]
fn d4(b: &[u8], i: usize) -> Option<u32> {
    Some(d2(b, i)? * 100 + d2(b, i + 2)?)
}

/// Days in `month` (1-12) of `year`, Gregorian.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn build(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, frac_micros: u32) -> Option<DateTime> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y as i32, mo) {
        return None;
    }
    at(days_from_civil(y as i32, mo, d), y as i32 * 12 + mo as i32 - 1, h, mi, s, frac_micros)
}

/// The time of day on a valid date.
#[inline]
fn at(day: i32, month: i32, h: u32, mi: u32, s: u32, frac_micros: u32) -> Option<DateTime> {
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = (h * 3600 + mi * 60 + s) as i64;
    Some(DateTime {
        day,
        month,
        slot: (h * 2 + mi / 30) as u8,
        micros: day as i64 * MICROS_PER_DAY + secs * 1_000_000 + frac_micros as i64,
    })
}

/// Fractional seconds after the `.`: up to 9 digits, kept to the microsecond (truncated).
#[inline]
fn fraction(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if i < 6 {
            v = v * 10 + d as u32;
        }
    }
    Some(v * [100_000, 10_000, 1_000, 100, 10, 1][b.len().min(6) - 1])
}

/// Parses `YYYY-MM-DD HH:MM[:SS[.f…]]` (also with `T`) or `dd/mm/yyyy HH:MM[:SS]`.
/// Returns `None` for anything else, including impossible dates such as 2013-02-30 and
/// years outside [`YEARS`].
pub fn parse(b: &[u8]) -> Option<DateTime> {
    parse_with(b, false)
}

/// Whether `b` is a valid date and time but for its year, outside [`YEARS`] (to tell
/// that reason from a malformed value).
pub fn year_out_of_range(b: &[u8]) -> bool {
    parse(b).is_none() && parse_with(b, true).is_some()
}

fn parse_with(b: &[u8], any_year: bool) -> Option<DateTime> {
    if b.len() >= 16 && b[4] == b'-' && b[7] == b'-' && (b[10] == b' ' || b[10] == b'T') && b[13] == b':' {
        let (y, mo, d) = (d4(b, 0)?, d2(b, 5)?, d2(b, 8)?);
        let (h, mi) = (d2(b, 11)?, d2(b, 14)?);
        let (s, frac) = seconds_tail(&b[16..])?;
        return build(y, mo, d, h, mi, s, frac).filter(|_| any_year || YEARS.contains(&y));
    }
    if b.len() >= 16 && b[2] == b'/' && b[5] == b'/' && b[10] == b' ' && b[13] == b':' {
        let (d, mo, y) = (d2(b, 0)?, d2(b, 3)?, d4(b, 6)?);
        let (h, mi) = (d2(b, 11)?, d2(b, 14)?);
        let (s, frac) = seconds_tail(&b[16..])?;
        return build(y, mo, d, h, mi, s, frac).filter(|_| any_year || YEARS.contains(&y));
    }
    None
}

/// [`parse`] for the rows of a sorted file, where 48 readings in a row share their date:
/// the date of the last `YYYY-MM-DD` value is kept, and a value on the same date only has
/// its time decoded. Gives exactly what [`parse`] gives.
#[derive(Debug, Default)]
pub struct DayCache {
    /// The last ISO date seen (`YYYY-MM-DD`), with its day and month numbers.
    date: Option<([u8; 10], i32, i32)>,
}

impl DayCache {
    #[inline]
    pub fn parse(&mut self, b: &[u8]) -> Option<DateTime> {
        if let Some((date, day, month)) = &self.date {
            if b.len() >= 16 && b[..10] == *date && (b[10] == b' ' || b[10] == b'T') && b[13] == b':' {
                let (h, mi) = (d2(b, 11)?, d2(b, 14)?);
                let (s, frac) = seconds_tail(&b[16..])?;
                return at(*day, *month, h, mi, s, frac);
            }
        }
        let t = parse(b)?;
        if b[4] == b'-' {
            let date: [u8; 10] = b[..10].try_into().expect("an ISO value has 10 date bytes");
            self.date = Some((date, t.day, t.month));
        }
        Some(t)
    }
}

/// `""`, `":SS"` or `":SS.fff…"`.
#[inline]
fn seconds_tail(t: &[u8]) -> Option<(u32, u32)> {
    // What the published files write on every row.
    if t == b":00.0000000" {
        return Some((0, 0));
    }
    match t.len() {
        0 => Some((0, 0)),
        1 | 2 => None,
        _ if t[0] != b':' => None,
        3 => Some((d2(t, 1)?, 0)),
        _ if t[3] == b'.' => Some((d2(t, 1)?, fraction(&t[4..])?)),
        _ => None,
    }
}

/// Writes `YYYY-MM-DD` for a day number.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes `YYYY-MM` for a dense month number.
pub fn format_month(month: i32) -> String {
    format!("{:04}-{:02}", month.div_euclid(12), month.rem_euclid(12) + 1)
}

/// Writes `HH:MM` for a half-hour slot.
pub fn format_slot(slot: u8) -> String {
    format!("{:02}:{:02}", slot / 2, (slot % 2) * 30)
}

/// Writes `YYYY-MM-DD HH:MM:SS` for a timestamp in microseconds.
pub fn format_micros(micros: i64) -> String {
    let day = micros.div_euclid(MICROS_PER_DAY) as i32;
    let secs = micros.rem_euclid(MICROS_PER_DAY) / 1_000_000;
    format!(
        "{} {:02}:{:02}:{:02}",
        format_day(day),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_format() {
        let t = parse(b"2012-10-12 00:30:00.0000000").unwrap();
        assert_eq!(format_day(t.day), "2012-10-12");
        assert_eq!(format_month(t.month), "2012-10");
        assert_eq!(t.slot, 1);
        assert_eq!(format_micros(t.micros), "2012-10-12 00:30:00");
        assert_eq!(t.micros, 1_350_001_800_000_000);
    }

    #[test]
    fn sample_format_and_variants() {
        let a = parse(b"12/10/2012 00:30").unwrap();
        assert_eq!(a, parse(b"2012-10-12 00:30:00.0000000").unwrap());
        assert_eq!(a, parse(b"2012-10-12 00:30:00").unwrap());
        assert_eq!(a, parse(b"2012-10-12T00:30").unwrap());
        assert_eq!(parse(b"2012-10-12 00:30:00.25").unwrap().micros, a.micros + 250_000);
        assert_eq!(parse(b"2013-01-01 23:45:00.0000000").unwrap().slot, 47);
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for bad in [
            &b"2013-02-29 00:00:00.0000000"[..],
            b"2012-13-01 00:00:00.0000000",
            b"2012-00-10 00:00:00.0000000",
            b"2012-04-31 00:00:00.0000000",
            b"2012-04-30 24:00:00.0000000",
            b"2012-04-30 12:60:00.0000000",
            b"2012-04-30 12:00:61.0000000",
            b"2012-04-30 12:00:00.",
            b"2012-04-30 12:00:00.00000000000",
            b"2012-4-30 12:00:00",
            b"31/04/2012 00:30",
            b"yesterday",
            b"",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(b"2012-02-29 00:00:00.0000000").is_some());
    }

    #[test]
    fn years_outside_the_range_are_refused_in_both_formats() {
        for bad in [&b"0000-01-01 00:00:00.0000000"[..], b"9999-12-31 23:30:00.0000000", b"1999-12-31 23:30:00", b"2031-01-01 00:00", b"01/01/0000 00:00", b"31/12/9999 23:30"] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
            assert!(year_out_of_range(bad), "{}", String::from_utf8_lossy(bad));
            assert_eq!(DayCache::default().parse(bad), None);
        }
        for ok in [&b"2000-01-01 00:00:00.0000000"[..], b"2011-11-23 00:00:00.0000000", b"2014-02-28 23:30:00.0000000", b"31/12/2030 23:30"] {
            assert!(parse(ok).is_some(), "{}", String::from_utf8_lossy(ok));
        }
        assert!(!year_out_of_range(b"2013-02-30 00:00:00.0000000"), "an impossible date is another reason");
        assert!(!year_out_of_range(b"2013-02-28 00:00:00.0000000"));
    }

    #[test]
    fn day_cache_gives_what_parse_gives() {
        let values = [
            &b"2012-10-12 00:30:00.0000000"[..],
            b"2012-10-12 01:00:00.0000000",
            b"2012-10-12 24:00:00.0000000",
            b"2012-10-12 01:00",
            b"2012-10-12T01:30:15.25",
            b"2012-10-12 01:30:1",
            b"2012-10-12-01:30:00",
            b"2012-10-12 01:3x:00",
            b"12/10/2012 02:00",
            b"2012-10-12 23:30:00.0000000",
            b"2012-10-13 00:00:00.0000000",
            b"2013-02-30 00:00:00.0000000",
            b"2013-02-28 00:00:00.0000000",
            b"2013-02-28 12:60:00.0000000",
            b"2013-02-28",
            b"",
        ];
        let mut cache = DayCache::default();
        for _ in 0..2 {
            for v in values {
                assert_eq!(cache.parse(v), parse(v), "{}", String::from_utf8_lossy(v));
            }
        }
    }

    #[test]
    fn fractions_to_the_microsecond() {
        for (f, want) in [
            ("0", Some(0)),
            ("5", Some(500_000)),
            ("25", Some(250_000)),
            ("123456", Some(123_456)),
            ("1234567", Some(123_456)),
            ("999999999", Some(999_999)),
            ("0000000", Some(0)),
            ("", None),
            ("1234567890", None),
            ("12a", None),
            ("1 ", None),
        ] {
            assert_eq!(fraction(f.as_bytes()), want, "{f}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
