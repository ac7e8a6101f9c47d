//! kWh values as exact integers.
//!
//! Sums are kept in micro-kWh (`i64`) so that adding partials in any order, from any number
//! of workers and chunk sizes, gives bit-identical results. The published values have at
//! most three decimals; up to six are decoded exactly without touching floating point.

/// What a kWh field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kwh {
    /// A reading, in micro-kWh.
    Value(i64),
    /// `Null` or an empty field: a missing reading (the row is still a row).
    Missing,
}

pub const MICRO: i64 = 1_000_000;

/// Decodes a kWh field. Padding spaces are ignored; `Null` (any case) or nothing is a
/// missing reading. Returns `None` when the field is neither a number nor missing.
#[inline]
pub fn parse(field: &[u8]) -> Option<Kwh> {
    if let Some(v) = published(field) {
        return Some(Kwh::Value(v));
    }
    let f = trim(field);
    if f.is_empty() || f.eq_ignore_ascii_case(b"null") {
        return Some(Kwh::Missing);
    }
    exact(f).or_else(|| general(f)).map(Kwh::Value)
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

/// Anything else Rust reads as a finite float (`1e-3`, more than six decimals), rounded
/// to the micro-kWh. Deterministic per value, so still exact across chunkings.
#[cold]
fn general(f: &[u8]) -> Option<i64> {
    let x: f64 = std::str::from_utf8(f).ok()?.parse().ok()?;
    let micros = (x * MICRO as f64).round();
    (x.is_finite() && micros.abs() < 9.0e15).then_some(micros as i64)
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
        assert_eq!(parse(b" 0 "), Some(Kwh::Value(0)));
        assert_eq!(parse(b"0.143 "), Some(Kwh::Value(143_000)));
        assert_eq!(parse(b"1.5"), Some(Kwh::Value(1_500_000)));
        assert_eq!(parse(b".5"), Some(Kwh::Value(500_000)));
        assert_eq!(parse(b"2."), Some(Kwh::Value(2_000_000)));
        assert_eq!(parse(b"-0.25"), Some(Kwh::Value(-250_000)));
        assert_eq!(parse(b"Null"), Some(Kwh::Missing));
        assert_eq!(parse(b"NULL "), Some(Kwh::Missing));
        assert_eq!(parse(b""), Some(Kwh::Missing));
        assert_eq!(parse(b"   "), Some(Kwh::Missing));
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
        assert_eq!(parse(b"1e-3"), Some(Kwh::Value(1_000)));
        assert_eq!(parse(b"0.1234567"), Some(Kwh::Value(123_457)));
    }

    #[test]
    fn garbage_is_not_a_number() {
        for bad in [&b"abc"[..], b"0.1.2", b"1,5", b".", b"-", b"NaN", b"inf", b"0x10", b"1 2"] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn f64_matches_decimal_parse() {
        for s in ["0.143", "0.001", "1.234", "12.345", "0.999", "3.5"] {
            let Some(Kwh::Value(m)) = parse(s.as_bytes()) else { panic!() };
            assert_eq!(to_f64(m), s.parse::<f64>().unwrap());
        }
    }
}
