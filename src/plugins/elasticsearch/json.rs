//! JSON text the way Heka's ElasticSearch encoders wrote it (with the
//! string rules of Go's `encoding/json` of Heka's time), used by the
//! encoders for every name and value they put in a bulk line:
//! - strings: `"` and `\` escaped with a backslash, `\n` and `\r` as such,
//!   every other byte below 0x20 and `<`, `>`, `&` as `\u00XX` (lowercase
//!   hex, so `\t` is `\u0009`), U+2028 and U+2029 as `\u2028`/`\u2029`,
//!   and each byte of invalid UTF-8 as `\ufffd`;
//! - doubles: Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest
//!   digits that read back exactly, in exponent form (`1e+06`, `1.5e-07`)
//!   when the decimal exponent is below -4 or at least 6, as Go's `%g`
//!   decides for the shortest precision; NaN and infinities, which JSON
//!   cannot hold, become `null`.

use std::fmt::Write as _;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `text` as a quoted JSON string.
pub fn quote(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        let mut start = 0;
        for (i, c) in valid.char_indices() {
            let escape: Option<&[u8]> = match c {
                '"' => Some(b"\\\""),
                '\\' => Some(b"\\\\"),
                '\n' => Some(b"\\n"),
                '\r' => Some(b"\\r"),
                '\u{2028}' => Some(b"\\u2028"),
                '\u{2029}' => Some(b"\\u2029"),
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => None,
                _ => continue,
            };
            out.extend_from_slice(&valid.as_bytes()[start..i]);
            match escape {
                Some(seq) => out.extend_from_slice(seq),
                None => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
            }
            start = i + c.len_utf8();
        }
        out.extend_from_slice(&valid.as_bytes()[start..]);
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Appends `"name":` (with a leading comma unless `first`).
pub fn key(out: &mut Vec<u8>, first: &mut bool, name: &[u8]) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    quote(out, name);
    out.push(b':');
}

/// Appends an integer.
pub fn integer(out: &mut Vec<u8>, value: i64) {
    let mut s = String::new();
    let _ = write!(s, "{value}");
    out.extend_from_slice(s.as_bytes());
}

/// Appends a double as Go's `FormatFloat(v, 'g', -1, 64)` writes it
/// (`null` for NaN and infinities).
pub fn double(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    out.extend_from_slice(go_g(value).as_bytes());
}

/// Go's shortest `%g` text of a finite double.
pub fn go_g(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: d.ddde±x.
    let sci = format!("{:e}", value.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is a number");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &[u8]) -> String {
        let mut out = Vec::new();
        quote(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(quoted(b"plain"), r#""plain""#);
        assert_eq!(quoted(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted(b"l1\nl2\r\t"), r#""l1\nl2\r\u0009""#);
        assert_eq!(quoted(b"<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(quoted(b"\x01\x1f"), r#""\u0001\u001f""#);
        assert_eq!(quoted("é\u{2028}x".as_bytes()), "\"é\\u2028x\"");
        assert_eq!(quoted(b"a\xffb\xc3"), r#""a\ufffdb\ufffd""#);
        // What comes out is JSON that reads back to the (valid) text.
        let text = "tab\t<tag> \"q\" \u{2029} ünï";
        let back: String = serde_json::from_str(&quoted(text.as_bytes())).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn doubles_format_like_go_g() {
        let cases = [
            (1.0, "1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (0.1, "0.1"),
            (100.0, "100"),
            (0.0, "0"),
        ];
        for (value, want) in cases {
            assert_eq!(go_g(value), want, "{value}");
        }
        let mut out = Vec::new();
        double(&mut out, f64::NAN);
        assert_eq!(out, b"null");
    }
}
