//! Turning the bytes of one field into a contract value: decoding (UTF-8 or Windows-1252),
//! dates in the layout's format, Db2's signed and padded numbers, booleans. And the reverse,
//! for writing an export. Each parser says what it expected, for the rejects file.

use super::layout::{DateFormat, DatePart, Encoding};
use fjq_contract::calendar::{civil_from_days, days_from_civil};
use std::borrow::Cow;

/// Windows-1252's characters for the bytes 0x80 to 0x9F (the rest of the code page is Latin-1);
/// the five bytes it leaves undefined are refused.
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The text of a field's bytes in the file's encoding.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, String> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
            format!(
                "invalid UTF-8 at byte {} of the value (is the file Windows-1252? say `encoding = \"windows-1252\"` in the layout)",
                e.valid_up_to() + 1
            )
        }),
        Encoding::Windows1252 => {
            if bytes.is_ascii() {
                // ASCII is the same in both: no copy.
                return Ok(Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default()));
            }
            let mut s = String::with_capacity(bytes.len() + 8);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    0x80..=0x9F => match CP1252_HIGH[(b - 0x80) as usize] {
                        Some(c) => s.push(c),
                        None => {
                            return Err(format!(
                                "byte 0x{b:02X} at byte {} of the value is not a Windows-1252 character",
                                i + 1
                            ));
                        }
                    },
                    _ => s.push(b as char),
                }
            }
            Ok(Cow::Owned(s))
        }
    }
}

/// The bytes of text in the encoding (for writing an export).
pub fn encode(text: &str, encoding: Encoding) -> Result<Cow<'_, [u8]>, String> {
    match encoding {
        Encoding::Utf8 => Ok(Cow::Borrowed(text.as_bytes())),
        Encoding::Windows1252 => {
            if text.is_ascii() {
                return Ok(Cow::Borrowed(text.as_bytes()));
            }
            let mut out = Vec::with_capacity(text.len());
            for c in text.chars() {
                let code = c as u32;
                if code < 0x80 || (0xA0..=0xFF).contains(&code) {
                    out.push(code as u8);
                } else if let Some(i) = CP1252_HIGH.iter().position(|h| *h == Some(c)) {
                    out.push(0x80 + i as u8);
                } else {
                    return Err(format!("{c:?} has no Windows-1252 byte"));
                }
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// A date written in `format`, as days since 1970-01-01.
pub fn parse_date(s: &str, format: &DateFormat) -> Result<i32, String> {
    let b = s.as_bytes();
    let (mut y, mut m, mut d) = (0i32, 0u32, 0u32);
    let mut i = 0;
    let bad = || format!("{s:?} is not a date written {}", format.text);
    for part in &format.parts {
        let digits = |n: usize, i: usize| -> Option<u32> {
            let field = b.get(i..i + n)?;
            field.iter().try_fold(0u32, |acc, c| {
                c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
            })
        };
        match part {
            DatePart::Year => {
                y = digits(4, i).ok_or_else(bad)? as i32;
                i += 4;
            }
            DatePart::Month => {
                m = digits(2, i).ok_or_else(bad)?;
                i += 2;
            }
            DatePart::Day => {
                d = digits(2, i).ok_or_else(bad)?;
                i += 2;
            }
            DatePart::Literal(c) => {
                if b.get(i) != Some(c) {
                    return Err(bad());
                }
                i += 1;
            }
        }
    }
    if i != b.len() {
        return Err(bad());
    }
    // The ranges first: the day arithmetic assumes a month and a day of the month.
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(format!("{s:?} is not a day of the calendar"));
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(format!("{s:?} is not a day of the calendar"));
    }
    Ok(days)
}

/// A date in `format` (for writing an export).
pub fn format_date(days: i32, format: &DateFormat, out: &mut String) {
    use std::fmt::Write;
    let (y, m, d) = civil_from_days(days);
    for part in &format.parts {
        let _ = match part {
            DatePart::Year => write!(out, "{y:04}"),
            DatePart::Month => write!(out, "{m:02}"),
            DatePart::Day => write!(out, "{d:02}"),
            DatePart::Literal(c) => {
                out.push(*c as char);
                Ok(())
            }
        };
    }
}

/// A whole number as Db2 writes it: an optional sign, leading zeros, and for DECIMAL(n,0) a
/// trailing point (`+00000012.`), with zeros only after it.
pub fn parse_integer(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a whole number");
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    if whole.is_empty() || !whole.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    if !fraction.bytes().all(|c| c == b'0') {
        return Err(format!("{s:?} is not a whole number (it has a fraction)"));
    }
    let mut v: i64 = 0;
    for c in whole.bytes() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as i64))
            .ok_or_else(|| format!("{s:?} is too large"))?;
    }
    Ok(if negative { -v } else { v })
}

pub fn parse_int32(s: &str) -> Result<i32, String> {
    let v = parse_integer(s)?;
    i32::try_from(v).map_err(|_| format!("{s:?} is out of range for a 32-bit integer"))
}

/// A decimal number (`+0.912345`, `-12.5`, `1e-3`); must be finite.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let bad = || format!("{s:?} is not a number");
    let body = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return Err(bad()),
        Some(rest) => rest,
        None => s,
    };
    match body.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(bad()),
    }
}

/// true/false, t/f, yes/no, y/n, 1/0 in any case, or the layout's own pair.
pub fn parse_bool(s: &str, own: Option<&[String; 2]>) -> Result<bool, String> {
    if let Some([t, f]) = own {
        if s == t {
            return Ok(true);
        }
        if s == f {
            return Ok(false);
        }
    }
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("{s:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_round_trips_and_refuses_holes() {
        let bytes = [b'G', 0xE9, b'r', 0x80, 0x92];
        let text = decode(&bytes, Encoding::Windows1252).unwrap();
        assert_eq!(text, "Gér€’");
        assert_eq!(
            encode(&text, Encoding::Windows1252).unwrap().as_ref(),
            &bytes
        );
        assert!(
            decode(&[0x81], Encoding::Windows1252)
                .unwrap_err()
                .contains("0x81")
        );
        assert!(
            decode(&[b'a', 0xE9], Encoding::Utf8)
                .unwrap_err()
                .contains("byte 2")
        );
    }

    #[test]
    fn dates_in_local_formats() {
        let uk = DateFormat::parse("DD/MM/YYYY").unwrap();
        let iso = DateFormat::parse("YYYY-MM-DD").unwrap();
        let day = parse_date("31/01/2021", &uk).unwrap();
        assert_eq!(day, days_from_civil(2021, 1, 31));
        assert_eq!(parse_date("2021-01-31", &iso).unwrap(), day);
        assert!(
            parse_date("2021-02-30", &iso)
                .unwrap_err()
                .contains("not a day")
        );
        assert!(
            parse_date("2021-1-31", &iso)
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(parse_date("2021-01-31x", &iso).is_err());
        let mut s = String::new();
        format_date(day, &uk, &mut s);
        assert_eq!(s, "31/01/2021");
    }

    #[test]
    fn db2_numbers() {
        assert_eq!(parse_integer("+00000012.").unwrap(), 12);
        assert_eq!(parse_integer("-3").unwrap(), -3);
        assert_eq!(parse_integer("7.000").unwrap(), 7);
        assert!(parse_integer("7.5").unwrap_err().contains("fraction"));
        assert!(parse_integer("x7").is_err());
        assert!(parse_int32("99999999999").unwrap_err().contains("32-bit"));
        assert_eq!(parse_float("+0.912345").unwrap(), 0.912345);
        assert_eq!(parse_float("-1.5").unwrap(), -1.5);
        assert!(parse_float("NaN").is_err());
        assert!(parse_float("+-1").is_err());
        assert!(parse_float("abc").is_err());
    }

    #[test]
    fn booleans() {
        assert!(parse_bool("Y", None).unwrap());
        assert!(!parse_bool("false", None).unwrap());
        let own = ["J".to_string(), "X".to_string()];
        assert!(!parse_bool("X", Some(&own)).unwrap());
        assert!(parse_bool("maybe", None).is_err());
    }
}
