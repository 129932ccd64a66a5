//! Generation settings as people type them: one symbol written with escapes,
//! a decimal number, and the ranges every front end accepts.
//!
//! Shared by `host-trainer sample`'s flags, the firmware's build script
//! (`LSTM_*` variables) and the firmware's serial console, so the three
//! accept exactly the same values. No allocation, no panic on any input.

use crate::Error;

/// Largest `length` (symbols generated per sample).
pub const MAX_LENGTH: usize = 100_000_000;
/// Largest `count` (samples per run); the smallest is 1.
pub const MAX_COUNT: usize = 1_000_000;
/// Largest `top_k` (0 keeps all symbols).
pub const MAX_TOP_K: usize = 1 << 20;
/// Largest temperature (0 is greedy).
pub const MAX_TEMPERATURE: f32 = 100.0;

/// Parses one symbol: a single character, or an escape.
///
/// | written | symbol |
/// |---|---|
/// | any one character (`a`, ` `, `\`, `é`) | itself |
/// | `\n`, `\t`, `\r`, `\0` | newline, tab, carriage return, NUL |
/// | `\\` | backslash |
/// | `\u{1F600}` | the Unicode scalar value with that hex code (1 to 6 digits) |
///
/// ```
/// use lstm_core::text::parse_symbol;
/// assert_eq!(parse_symbol("\\n"), Ok('\n'));
/// assert_eq!(parse_symbol("x"), Ok('x'));
/// assert_eq!(parse_symbol("\\u{e9}"), Ok('é'));
/// assert!(parse_symbol("ab").is_err());
/// ```
///
/// # Errors
/// [`Error::BadSymbol`] for anything else (empty, two characters, an unknown
/// escape, a code that is not a Unicode scalar value).
pub fn parse_symbol(s: &str) -> Result<char, Error> {
    let mut it = s.chars();
    let first = it.next().ok_or(Error::BadSymbol {
        reason: "empty: expected one character or an escape",
    })?;
    let Some(second) = it.next() else {
        return Ok(first);
    };
    if first != '\\' {
        return Err(Error::BadSymbol {
            reason: "expected one character or an escape (\\n \\t \\r \\0 \\\\ \\u{hex})",
        });
    }
    let simple = match second {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '0' => Some('\0'),
        '\\' => Some('\\'),
        _ => None,
    };
    if let Some(c) = simple {
        return if it.next().is_none() {
            Ok(c)
        } else {
            Err(Error::BadSymbol {
                reason: "expected one character or an escape (\\n \\t \\r \\0 \\\\ \\u{hex})",
            })
        };
    }
    if second == 'u' {
        return parse_unicode_escape(it.as_str());
    }
    Err(Error::BadSymbol {
        reason: "unknown escape (known: \\n \\t \\r \\0 \\\\ \\u{hex})",
    })
}

/// The `{hex}` part of `\u{hex}`.
fn parse_unicode_escape(rest: &str) -> Result<char, Error> {
    let bad = Error::BadSymbol {
        reason: "\\u needs 1 to 6 hex digits in braces, e.g. \\u{e9}",
    };
    let hex = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or(bad)?;
    if hex.is_empty() || hex.len() > 6 {
        return Err(bad);
    }
    let mut code = 0u32;
    for b in hex.bytes() {
        let d = (b as char).to_digit(16).ok_or(bad)?;
        code = code * 16 + d;
    }
    char::from_u32(code).ok_or(Error::BadSymbol {
        reason: "\\u{..} is not a Unicode scalar value (a surrogate or above 10FFFF)",
    })
}

/// Writes `c` the way [`parse_symbol`] reads it back (`\n`, `\t`, `\r`,
/// `\0`, `\\`, other control characters as `\u{hex}`), into `out`;
/// returns the written part.
///
/// ```
/// let mut buf = [0u8; 12];
/// assert_eq!(lstm_core::text::escape_symbol('\n', &mut buf), "\\n");
/// assert_eq!(lstm_core::text::escape_symbol('\u{7f}', &mut buf), "\\u{7f}");
/// ```
pub fn escape_symbol(c: char, out: &mut [u8; 12]) -> &str {
    let escaped = match c {
        '\n' => "\\n",
        '\t' => "\\t",
        '\r' => "\\r",
        '\0' => "\\0",
        '\\' => "\\\\",
        c if c.is_control() => {
            // `\u{` + up to 6 hex digits + `}`: at most 10 bytes.
            let mut n = 0;
            for &b in b"\\u{" {
                out[n] = b;
                n += 1;
            }
            let code = u32::from(c);
            let mut started = false;
            for shift in (0..6).rev() {
                let d = (code >> (4 * shift)) & 0xf;
                if d != 0 || started || shift == 0 {
                    started = true;
                    out[n] = b"0123456789abcdef"[d as usize];
                    n += 1;
                }
            }
            out[n] = b'}';
            return core::str::from_utf8(&out[..=n]).unwrap_or("");
        }
        c => return c.encode_utf8(out),
    };
    let (dst, _) = out.split_at_mut(escaped.len());
    dst.copy_from_slice(escaped.as_bytes());
    core::str::from_utf8(dst).unwrap_or("")
}

/// Parses a decimal number such as `0.7`, `1`, `.95` or `2.5e-1` into the
/// `f32` that `str::parse::<f32>` gives, with a few instructions of code
/// instead of a general float parser.
///
/// Accepted: an optional `+`/`-`, digits with at most one `.`, an optional
/// exponent `e`/`E` with an optional sign, at most 7 significant digits
/// (the first non-zero digit and those after it, trailing zeros after the
/// point excepted). Then the value is `m · 10^e` with `m < 2^24` and the
/// result is correctly rounded: one exact `f32` product or quotient by a
/// power of ten that `f32` holds exactly (10^0 to 10^10).
///
/// ```
/// use lstm_core::text::parse_decimal;
/// assert_eq!(parse_decimal("0.7"), Ok(0.7f32));
/// assert_eq!(parse_decimal("1e-3"), Ok(0.001f32));
/// assert!(parse_decimal("0.12345678").is_err()); // 8 significant digits
/// ```
///
/// # Errors
/// [`Error::BadNumber`] for anything else, including `nan` and `inf`.
pub fn parse_decimal(s: &str) -> Result<f32, Error> {
    const MAX_DIGITS: u32 = 7;
    let malformed = Error::BadNumber {
        reason: "not a decimal number (e.g. 0.7, 1, 2.5e-1)",
    };
    let b = s.as_bytes();
    let mut i = 0;
    let negative = sign(b, &mut i);
    // Mantissa digits, as an integer `m` and a decimal exponent `exp`.
    let mut m: u32 = 0;
    let mut digits = 0u32; // significant digits kept in m
    let mut pending_zeros = 0u32; // zeros after the point not yet put into m
    let mut exp: i32 = 0;
    let mut any_digit = false;
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                any_digit = true;
                let d = u32::from(c - b'0');
                if seen_point {
                    if d == 0 {
                        pending_zeros += 1;
                    } else {
                        // Earlier zeros after the point are significant now.
                        for _ in 0..pending_zeros {
                            if m != 0 {
                                digits += 1;
                            }
                            m *= 10;
                            exp -= 1;
                            if digits > MAX_DIGITS {
                                return Err(too_many_digits());
                            }
                        }
                        pending_zeros = 0;
                        if m != 0 || d != 0 {
                            digits += 1;
                        }
                        if digits > MAX_DIGITS {
                            return Err(too_many_digits());
                        }
                        m = m * 10 + d;
                        exp -= 1;
                    }
                } else {
                    if m != 0 || d != 0 {
                        digits += 1;
                    }
                    if digits > MAX_DIGITS {
                        return Err(too_many_digits());
                    }
                    m = m * 10 + d;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(malformed),
        }
        i += 1;
    }
    if !any_digit {
        return Err(malformed);
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let neg_e = sign(b, &mut i);
        let mut e: i32 = 0;
        let mut any = false;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                return Err(malformed);
            }
            any = true;
            e = (e * 10 + i32::from(c - b'0')).min(1000);
            i += 1;
        }
        if !any {
            return Err(malformed);
        }
        exp += if neg_e { -e } else { e };
    }
    let magnitude = if m == 0 {
        0.0
    } else {
        // Bring the exponent into 10^-10..=10^10 by moving factors of ten into m,
        // which stays exact while below 2^24.
        while exp > 10 && m <= (1 << 24) / 10 {
            m *= 10;
            exp -= 1;
        }
        if !(-10..=10).contains(&exp) {
            return Err(Error::BadNumber {
                reason: "out of range (exponent too large or too small)",
            });
        }
        let p = POW10[exp.unsigned_abs() as usize];
        // m < 2^24 and p are exact in f32: one correctly rounded operation.
        #[allow(clippy::cast_precision_loss)]
        let mf = m as f32;
        if exp < 0 { mf / p } else { mf * p }
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// Skips an optional `+` or `-` at `b[*i]`; true for `-`.
fn sign(b: &[u8], i: &mut usize) -> bool {
    match b.get(*i) {
        Some(b'-') => {
            *i += 1;
            true
        }
        Some(b'+') => {
            *i += 1;
            false
        }
        _ => false,
    }
}

fn too_many_digits() -> Error {
    Error::BadNumber {
        reason: "too many significant digits (at most 7)",
    }
}

/// 10^0 ..= 10^10, each exact in `f32` (5^10 < 2^24).
const POW10: [f32; 11] = [
    1.0,
    10.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
    1_000_000_000.0,
    10_000_000_000.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_escapes() {
        for (s, c) in [
            ("a", 'a'),
            (" ", ' '),
            ("\\", '\\'),
            ("é", 'é'),
            ("\\n", '\n'),
            ("\\t", '\t'),
            ("\\r", '\r'),
            ("\\0", '\0'),
            ("\\\\", '\\'),
            ("\\u{41}", 'A'),
            ("\\u{1F600}", '😀'),
            ("\\u{10FFFF}", '\u{10FFFF}'),
            ("\\u{7f}", '\u{7f}'),
            ("\\u{85}", '\u{85}'),
        ] {
            assert_eq!(parse_symbol(s), Ok(c), "{s:?}");
            let mut buf = [0u8; 12];
            assert_eq!(parse_symbol(escape_symbol(c, &mut buf)), Ok(c), "{c:?}");
        }
    }

    #[test]
    fn rejects_bad_symbols() {
        for s in [
            "",
            "ab",
            "\\x",
            "\\nn",
            "\\u",
            "\\u{}",
            "\\u{D800}",
            "\\u{110000}",
            "\\u{1234567}",
            "\\u{zz}",
            "\\u41",
            "a\\",
        ] {
            assert!(
                matches!(parse_symbol(s), Err(Error::BadSymbol { .. })),
                "{s:?}"
            );
        }
    }

    #[test]
    fn decimals_equal_core_parse() {
        for s in [
            "0",
            "0.7",
            ".7",
            "7.",
            "1",
            "+1",
            "-0.25",
            "0.9",
            "0.95",
            "100",
            "0.0001",
            "1e-3",
            "2.5E-1",
            "0.8000000",
            "1234567",
            "0.1234567",
            "0.0000001",
            "1e10",
            "000.5",
            "1.000000000000",
        ] {
            assert_eq!(
                parse_decimal(s),
                Ok(s.parse::<f32>().expect("valid")),
                "{s:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_decimals() {
        for s in [
            "",
            ".",
            "-",
            "e5",
            "1e",
            "1e+",
            "nan",
            "inf",
            "1.2.3",
            "0x10",
            "1 ",
            " 1",
            "12345678",
            "0.12345678",
            "1e40",
            "1e-40",
        ] {
            assert!(
                matches!(parse_decimal(s), Err(Error::BadNumber { .. })),
                "{s:?}"
            );
        }
    }
}
