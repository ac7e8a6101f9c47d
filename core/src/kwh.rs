//! kWh values as exact integers.
//!
//! Sums are kept in micro-kWh (`i64`) so that adding partials in any order, from any number
//! of workers and chunk sizes, gives bit-identical results. The published values have at
//! most three decimals; up to six are decoded exactly without touching floating point.
//!
//! One bound for every textual form: a value is decoded to micro-kWh (rounded to the
//! nearest where it has more decimals) and rejected as out of range when beyond
//! ±[`MAX_KWH`]. A half-hourly household reading is small (the release's mean is about
//! 0.2 kWh; a 100 A domestic supply delivers at most 11.5 kWh in half an hour), so a larger
//! value is a corrupt one, and with the bound no sum over the data can overflow `i64`:
//! the whole release (168 M rows) at the bound sums to 1.7 × 10^17 micro-kWh, 55 times
//! below `i64::MAX` (sums are checked all the same: see `aggregate`).

/// What a kWh field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kwh {
    /// A reading, in micro-kWh.
    Value(i64),
    /// `Null` or an empty field: a missing reading (the row is still a row).
    Missing,
}

pub const MICRO: i64 = 1_000_000;

/// The largest kWh a reading may have, either sign.
pub const MAX_KWH: i64 = 1_000;

/// [`MAX_KWH`] in micro-kWh.
const MAX_MICRO: i64 = MAX_KWH * MICRO;

/// Why a kWh field is not a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKwh {
    /// Neither a number nor `Null`.
    NotANumber,
    /// A number beyond ±[`MAX_KWH`].
    OutOfRange,
}

/// Decodes a kWh field. Padding spaces are ignored; `Null` (any case) or nothing is a
/// missing reading.
#[inline]
pub fn parse(field: &[u8]) -> Result<Kwh, BadKwh> {
    match published(field) {
        Some(v) => Ok(Kwh::Value(v)),
        None => parse_other(field),
    }
}

/// Every shape but the published one; apart, so that the published one stays a few
/// instructions.
#[inline(never)]
fn parse_other(field: &[u8]) -> Result<Kwh, BadKwh> {
    let f = trim(field);
    if f.is_empty() || f.eq_ignore_ascii_case(b"null") {
        return Ok(Kwh::Missing);
    }
    let v = match exact(f) {
        Some(v) => v,
        None => general(f)?,
    };
    if v.abs() > MAX_MICRO {
        return Err(BadKwh::OutOfRange);
    }
    Ok(Kwh::Value(v))
}

/// The shape of nearly every published value, `0.143 `: one digit, three decimals and an
/// optional padding space, decoded without a scan. Anything else is `None` here and goes
/// to the general paths, which give the same value for this shape.
#[inline]
fn published(field: &[u8]) -> Option<i64> {
    let [i, b'.', a, b, c, rest @ ..] = field else {
        return None;
    };
    if !matches!(rest, [] | [b' ']) {
        return None;
    }
    let d = [*i, *a, *b, *c].map(|x| x.wrapping_sub(b'0'));
    if d.iter().any(|&x| x > 9) {
        return None;
    }
    let [i, a, b, c] = d.map(i64::from);
    Some(i * MICRO + (a * 100 + b * 10 + c) * 1000)
}

/// `[-+]digits[.digits]` with at most six decimals: exact integer arithmetic.
#[inline]
fn exact(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f[0] {
        b'-' => (true, &f[1..]),
        b'+' => (false, &f[1..]),
        _ => (false, f),
    };
    // A kWh field is a few bytes: a plain scan beats a memchr call.
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if (int.is_empty() && frac.is_empty()) || int.len() > 12 || frac.len() > 6 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in int {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    let mut fv: i64 = 0;
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        fv = fv * 10 + d as i64;
    }
    fv *= 10i64.pow(6 - frac.len() as u32);
    let v = v * MICRO + fv;
    Some(if neg { -v } else { v })
}

/// Any other number Rust reads as a float (`1e-3`, more than six decimals, more than 12
/// integer digits), rounded to the micro-kWh. Deterministic per value, so still exact
/// across chunkings. A number too large for the float is out of range; `inf` and `NaN`
/// are not numbers.
#[cold]
fn general(f: &[u8]) -> Result<i64, BadKwh> {
    let digits = f.strip_prefix(b"-").or_else(|| f.strip_prefix(b"+")).unwrap_or(f);
    if !digits.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
        return Err(BadKwh::NotANumber);
    }
    let x: f64 = std::str::from_utf8(f).ok().and_then(|s| s.parse().ok()).ok_or(BadKwh::NotANumber)?;
    let micros = (x * MICRO as f64).round();
    // Past the bound (or infinite) here means out of range; `parse` checks the bound exactly.
    if micros.is_nan() || micros.abs() > 2.0 * MAX_MICRO as f64 {
        return Err(BadKwh::OutOfRange);
    }
    Ok(micros as i64)
}

#[inline]
pub fn trim(mut f: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = f {
        f = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = f {
        f = rest;
    }
    f
}

/// micro-kWh as the `f64` kWh the Parquet column stores: the closest double to the
/// decimal (one correctly rounded division of two exact integers).
#[inline]
pub fn to_f64(micros: i64) -> f64 {
    micros as f64 / MICRO as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_values_and_missing() {
        assert_eq!(parse(b" 0 "), Ok(Kwh::Value(0)));
        assert_eq!(parse(b"0.143 "), Ok(Kwh::Value(143_000)));
        assert_eq!(parse(b"1.5"), Ok(Kwh::Value(1_500_000)));
        assert_eq!(parse(b".5"), Ok(Kwh::Value(500_000)));
        assert_eq!(parse(b"2."), Ok(Kwh::Value(2_000_000)));
        assert_eq!(parse(b"-0.25"), Ok(Kwh::Value(-250_000)));
        assert_eq!(parse(b"Null"), Ok(Kwh::Missing));
        assert_eq!(parse(b"NULL "), Ok(Kwh::Missing));
        assert_eq!(parse(b""), Ok(Kwh::Missing));
        assert_eq!(parse(b"   "), Ok(Kwh::Missing));
    }

    #[test]
    fn the_published_shape_decodes_as_the_general_path_does() {
        for v in 0..10_000 {
            let text = format!("{}.{:03}", v / 1000, v % 1000);
            for field in [text.clone(), format!("{text} ")] {
                let f = field.as_bytes();
                assert_eq!(published(f), Some(v * 1000), "{field:?}");
                assert_eq!(published(f), exact(trim(f)), "{field:?}");
            }
        }
        for other in [&b" 0.143"[..], b"0.143  ", b"0.14", b"0.1430", b"10.143", b"0.1a3 ", b"0,143", b"0.143\t", b"-.143"] {
            assert_eq!(published(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn general_numbers_round_to_micro() {
        assert_eq!(parse(b"1e-3"), Ok(Kwh::Value(1_000)));
        assert_eq!(parse(b"0.1234567"), Ok(Kwh::Value(123_457)));
        assert_eq!(parse(b"0000000000000001.5"), Ok(Kwh::Value(1_500_000)));
    }

    #[test]
    fn garbage_is_not_a_number() {
        for bad in [&b"abc"[..], b"0.1.2", b"1,5", b".", b"-", b"NaN", b"inf", b"-infinity", b"0x10", b"1 2", b"e5"] {
            assert_eq!(parse(bad), Err(BadKwh::NotANumber), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn one_bound_for_every_textual_form() {
        // The bound itself, in every form, is a reading; a micro-kWh more is not.
        for at in [&b"1000"[..], b"1000.", b"1000.000", b"1000.000000", b"1e3", b"1.0E+3", b"0001000", b"+1000", b"000000000001000.0"] {
            assert_eq!(parse(at), Ok(Kwh::Value(MAX_MICRO)), "{}", String::from_utf8_lossy(at));
        }
        assert_eq!(parse(b"-1e3"), Ok(Kwh::Value(-MAX_MICRO)));
        for over in [
            &b"1000.000001"[..],
            b"1000.0000006",
            b"1001",
            b"-1001",
            b"1.000001e3",
            b"9e9",
            b"1e10",
            b"999999999999",
            b"999999999999.999999",
            b"9999999999999999999999",
            b"1e400",
            b"-1e400",
        ] {
            assert_eq!(parse(over), Err(BadKwh::OutOfRange), "{}", String::from_utf8_lossy(over));
        }
    }

    #[test]
    fn f64_matches_decimal_parse() {
        for s in ["0.143", "0.001", "1.234", "12.345", "0.999", "3.5"] {
            let Ok(Kwh::Value(m)) = parse(s.as_bytes()) else { panic!() };
            assert_eq!(to_f64(m), s.parse::<f64>().unwrap());
        }
    }
}
