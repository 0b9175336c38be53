//! `to_char` of numbers and `to_number`, with PostgreSQL's numeric template patterns
//! (9, 0, '.', D, ',', G, S, MI, PL, SG, PR, L, V, TH, RN, EEEE, FM).
//!
//! The number is first rounded to the template's fraction digits and split into integer and
//! fraction digit strings; the template is then filled left to right. The sign sits right
//! before the first printed character of the number (PostgreSQL moves it over the leading
//! blanks), unless S, MI, SG or PR put it elsewhere.

use datafusion::error::Result;

use crate::error::{fail, FEATURE_NOT_SUPPORTED, INVALID_TEXT_REPRESENTATION};
use crate::template::ordinal;

/// A number as it arrives: exact (integers, numeric) or binary floating point.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Num {
    Exact(i128, u32),
    Float(f64),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    Nine,
    Zero,
    Point,
    Comma,
    S,
    Mi,
    Pl,
    Sg,
    Pr,
    L,
    V,
    Eeee,
    Th(bool),
    Rn(bool),
    Lit(char),
}

fn tokens(t: &str) -> (Vec<Tok>, bool) {
    const WORDS: &[(&str, Tok)] = &[
        ("EEEE", Tok::Eeee),
        ("eeee", Tok::Eeee),
        ("MI", Tok::Mi),
        ("mi", Tok::Mi),
        ("PL", Tok::Pl),
        ("pl", Tok::Pl),
        ("SG", Tok::Sg),
        ("sg", Tok::Sg),
        ("PR", Tok::Pr),
        ("pr", Tok::Pr),
        ("RN", Tok::Rn(false)),
        ("rn", Tok::Rn(true)),
        ("TH", Tok::Th(true)),
        ("th", Tok::Th(false)),
        ("9", Tok::Nine),
        ("0", Tok::Zero),
        (".", Tok::Point),
        ("D", Tok::Point),
        ("d", Tok::Point),
        (",", Tok::Comma),
        ("G", Tok::Comma),
        ("g", Tok::Comma),
        ("S", Tok::S),
        ("s", Tok::S),
        ("L", Tok::L),
        ("l", Tok::L),
        ("V", Tok::V),
        ("v", Tok::V),
    ];
    let mut out = Vec::new();
    let mut fm = false;
    let mut rest = t;
    let mut seen_point = false;
    'outer: while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            fm = true;
            rest = r;
            continue;
        }
        for (w, tok) in WORDS {
            if let Some(r) = rest.strip_prefix(w) {
                // Only the first decimal point is one; PostgreSQL rejects a second, here it is text.
                if *tok == Tok::Point {
                    if seen_point {
                        break;
                    }
                    seen_point = true;
                }
                out.push(*tok);
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        rest = chars.as_str();
        if c == '"' {
            let mut escaped = false;
            let mut it = rest.char_indices();
            let mut end = rest.len();
            for (i, q) in it.by_ref() {
                if escaped {
                    out.push(Tok::Lit(q));
                    escaped = false;
                } else if q == '\\' {
                    escaped = true;
                } else if q == '"' {
                    end = i + 1;
                    break;
                } else {
                    out.push(Tok::Lit(q));
                }
            }
            rest = &rest[end.min(rest.len())..];
        } else {
            out.push(Tok::Lit(c));
        }
    }
    (out, fm)
}

/// Digits of `|n|` rounded half away from zero to `places` fraction digits: (negative,
/// integer digits without leading zeros, fraction digits).
fn split(n: Num, places: usize) -> Option<(bool, String, String)> {
    match n {
        Num::Float(f) => {
            if !f.is_finite() {
                return None;
            }
            // PostgreSQL prints a double with at most 15 significant digits (DBL_DIG);
            // template positions beyond them print zeros.
            let int_len = format!("{:.0}", f.abs()).len();
            let shown = places.min(15usize.saturating_sub(int_len));
            let s = format!("{:.*}", shown, f.abs());
            let (i, fr) = s.split_once('.').unwrap_or((&s, ""));
            let i = i.trim_start_matches('0').to_string();
            let neg = f.is_sign_negative() && (!i.is_empty() || fr.bytes().any(|b| b != b'0'));
            let fr = format!("{fr:0<places$}");
            Some((neg, i, fr))
        }
        Num::Exact(v, scale) => {
            let scale = scale as usize;
            let mut digits = v.unsigned_abs().to_string();
            if digits.len() <= scale {
                digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
            }
            let (i, fr) = digits.split_at(digits.len() - scale);
            let mut kept = format!("{i}{}", &fr[..places.min(fr.len())]);
            let round_up = fr.len() > places && fr.as_bytes()[places] >= b'5';
            if fr.len() < places {
                kept.push_str(&"0".repeat(places - fr.len()));
            }
            if round_up {
                kept = increment(&kept);
            }
            let (i, fr) = kept.split_at(kept.len() - places);
            let i = i.trim_start_matches('0').to_string();
            let neg = v < 0 && (!i.is_empty() || fr.bytes().any(|b| b != b'0'));
            Some((neg, i, fr.to_string()))
        }
    }
}

/// A decimal digit string plus one.
fn increment(d: &str) -> String {
    let mut b = d.as_bytes().to_vec();
    let mut i = b.len();
    loop {
        if i == 0 {
            b.insert(0, b'1');
            break;
        }
        i -= 1;
        if b[i] == b'9' {
            b[i] = b'0';
        } else {
            b[i] += 1;
            break;
        }
    }
    String::from_utf8(b).unwrap_or_default()
}

fn roman(n: i64) -> Option<String> {
    if !(1..=3999).contains(&n) {
        return None;
    }
    const R: [(i64, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut n = n;
    let mut s = String::new();
    for (v, r) in R {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    Some(s)
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Float(f) => f,
        Num::Exact(v, s) => v as f64 / 10f64.powi(s as i32),
    }
}

pub(crate) fn to_char(n: Num, template: &str) -> Result<String> {
    let (toks, fm) = tokens(template);
    if let Some(lower) = toks.iter().find_map(|t| match t {
        Tok::Rn(l) => Some(*l),
        _ => None,
    }) {
        let r = split(n, 0)
            .and_then(|(neg, i, _)| if neg { None } else { i.parse::<i64>().ok() })
            .and_then(roman);
        let r = r.unwrap_or_else(|| "#".repeat(15));
        let r = if lower { r.to_ascii_lowercase() } else { r };
        return Ok(if fm { r } else { format!("{r:>15}") });
    }
    let digit = |t: &Tok| matches!(t, Tok::Nine | Tok::Zero);
    let point_at = toks.iter().position(|t| *t == Tok::Point);
    let v_at = toks.iter().position(|t| *t == Tok::V);
    let frac_toks: Vec<Tok> = match point_at {
        Some(p) => toks[p..].iter().copied().filter(digit).collect(),
        None => vec![],
    };
    if toks.contains(&Tok::Eeee) {
        if fm
            || toks
                .iter()
                .any(|t| !matches!(t, Tok::Nine | Tok::Zero | Tok::Point | Tok::Eeee))
        {
            return fail(
                crate::error::SYNTAX_ERROR,
                "\"EEEE\" is incompatible with other formats",
            );
        }
        let f = as_f64(n);
        let s = format!("{:.*e}", frac_toks.len(), f.abs());
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if f < 0.0 { "-" } else { " " };
        let sign = if fm && f >= 0.0 { "" } else { sign };
        let es = if exp < 0 { '-' } else { '+' };
        return Ok(format!("{sign}{mant}e{es}{:02}", exp.unsigned_abs()));
    }
    // V shifts the value left by the digits after it; they print as integer digits.
    let (n, frac_len) = match v_at {
        Some(v) => {
            let shift = toks[v..].iter().filter(|t| digit(t)).count() as i32;
            let scaled = match n {
                Num::Exact(x, s) => {
                    let s = s as i32 - shift;
                    if s >= 0 {
                        Num::Exact(x, s as u32)
                    } else {
                        let factor = 10i128.checked_pow((-s) as u32).unwrap_or(i128::MAX);
                        Num::Exact(x.saturating_mul(factor), 0)
                    }
                }
                Num::Float(f) => Num::Float(f * 10f64.powi(shift)),
            };
            (scaled, 0)
        }
        None => (n, frac_toks.len()),
    };
    let int_toks: Vec<Tok> = match point_at {
        Some(p) if v_at.is_none() => toks[..p].iter().copied().filter(digit).collect(),
        _ => toks.iter().copied().filter(digit).collect(),
    };
    let pre = int_toks.len();
    let zero_start = int_toks.iter().position(|t| *t == Tok::Zero).unwrap_or(pre);
    let split = split(n, frac_len);
    let (neg, mut ip, mut fp) = split
        .clone()
        .unwrap_or((false, String::new(), String::new()));
    let overflow = split.is_none() || ip.len() > pre;
    if fm && !overflow {
        // FM drops trailing zeros the template marks with 9, not those marked with 0.
        let keep = frac_toks
            .iter()
            .rposition(|t| *t == Tok::Zero)
            .map_or(0, |p| p + 1);
        while fp.len() > keep && fp.ends_with('0') {
            fp.pop();
        }
    }
    if ip.is_empty() && fp.is_empty() && pre > 0 && zero_start == pre {
        // Nothing at all would print: the last integer position shows the zero.
        ip = "0".to_string();
    }
    let first_digit = toks.iter().position(|t| digit(t) || *t == Tok::Point);
    let last_digit = toks.iter().rposition(|t| digit(t) || *t == Tok::Point);
    let (Some(first), Some(last)) = (first_digit, last_digit) else {
        // No digit positions: only the literal and sign parts print.
        return Ok(toks
            .iter()
            .filter_map(|t| match t {
                Tok::Lit(c) => Some(*c),
                _ => None,
            })
            .collect());
    };
    let sign_at = |range: &[Tok], t: Tok| range.contains(&t);
    let (before, body, after) = (&toks[..first], &toks[first..=last], &toks[last + 1..]);
    let anchored = sign_at(before, Tok::S) || sign_at(after, Tok::S);
    let explicit = anchored
        || toks
            .iter()
            .any(|t| matches!(t, Tok::Mi | Tok::Sg | Tok::Pr));

    // The number's own characters, leading blanks included.
    let mut num = String::new();
    let mut k = 0; // integer digit position
    let mut f = 0; // fraction digit position
    let mut in_frac = false;
    let mut started = false;
    let lead = pre.saturating_sub(ip.len());
    let ipb = ip.as_bytes();
    for t in body {
        match t {
            Tok::Nine | Tok::Zero if !in_frac => {
                let c = if overflow {
                    '#'
                } else if k < lead {
                    if k >= zero_start {
                        '0'
                    } else {
                        ' '
                    }
                } else {
                    ipb[k - lead] as char
                };
                if c != ' ' {
                    started = true;
                }
                num.push(c);
                k += 1;
            }
            Tok::Nine | Tok::Zero => {
                if overflow {
                    num.push('#');
                } else if let Some(c) = fp.as_bytes().get(f) {
                    num.push(*c as char);
                }
                f += 1;
            }
            Tok::Point => {
                num.push('.');
                in_frac = true;
                started = true;
            }
            Tok::Comma => num.push(if started { ',' } else { ' ' }),
            Tok::Lit(c) => num.push(*c),
            _ => {}
        }
    }
    let trimmed = num.trim_start_matches(' ').to_string();
    let blanks = if fm { 0 } else { num.len() - trimmed.len() };
    let pad = |n: usize| " ".repeat(n);
    let number = if toks.contains(&Tok::Pr) {
        if neg {
            format!("{}<{trimmed}>", pad(blanks))
        } else if fm {
            trimmed
        } else {
            // PR keeps a sign position before the number; '<' takes it when negative.
            format!("{} {trimmed} ", pad(blanks))
        }
    } else if sign_at(before, Tok::S) {
        format!("{}{}{trimmed}", pad(blanks), if neg { '-' } else { '+' })
    } else if explicit {
        format!("{}{trimmed}", pad(blanks))
    } else {
        let sign = if neg {
            "-"
        } else if fm {
            ""
        } else {
            " "
        };
        format!("{}{sign}{trimmed}", pad(blanks))
    };
    let mut out = String::new();
    let side = |out: &mut String, part: &[Tok]| {
        for t in part {
            match t {
                Tok::Lit(c) => out.push(*c),
                Tok::L => out.push(' '),
                Tok::Sg => out.push(if neg { '-' } else { '+' }),
                Tok::Pl => out.push(if neg { ' ' } else { '+' }),
                Tok::Mi => {
                    if neg {
                        out.push('-')
                    } else if !fm {
                        out.push(' ')
                    }
                }
                Tok::S if !sign_at(before, Tok::S) => out.push(if neg { '-' } else { '+' }),
                Tok::Th(upper) if !neg && !overflow => {
                    out.push_str(ordinal(ip.parse::<i64>().unwrap_or(0), *upper));
                }
                _ => {}
            }
        }
    };
    side(&mut out, before);
    out.push_str(&number);
    side(&mut out, after);
    ip.clear();
    Ok(out)
}

/// `to_number(text, template)`: the digits the template's digit positions read, with the
/// sign and decimal point it places; group separators and literal text are skipped.
pub(crate) fn to_number(input: &str, template: &str) -> Result<(i128, u32)> {
    let (toks, _) = tokens(template);
    if toks
        .iter()
        .any(|t| matches!(t, Tok::Rn(_) | Tok::Eeee | Tok::V))
    {
        return fail(
            FEATURE_NOT_SUPPORTED,
            "this to_number format is not supported",
        );
    }
    let mut digits = String::new();
    let mut scale: u32 = 0;
    let mut in_frac = false;
    let mut neg = false;
    let mut chars = input.chars().peekable();
    for t in &toks {
        // Blanks the output would have padded with are skipped before any position.
        while chars.peek() == Some(&' ') && !matches!(t, Tok::Lit(' ')) {
            chars.next();
        }
        match t {
            Tok::Nine | Tok::Zero => match chars.peek() {
                Some(c) if c.is_ascii_digit() => {
                    digits.push(*c);
                    if in_frac {
                        scale += 1;
                    }
                    chars.next();
                }
                Some('-' | '<') if digits.is_empty() => {
                    neg = true;
                    chars.next();
                    if let Some(c) = chars.peek().copied().filter(char::is_ascii_digit) {
                        digits.push(c);
                        chars.next();
                    }
                }
                _ => {}
            },
            Tok::Point => {
                if chars.peek() == Some(&'.') {
                    chars.next();
                }
                in_frac = true;
            }
            Tok::Comma if chars.peek() == Some(&',') => {
                chars.next();
            }
            Tok::S | Tok::Mi | Tok::Sg | Tok::Pl => match chars.peek() {
                Some('-') => {
                    neg = true;
                    chars.next();
                }
                Some('+') => {
                    chars.next();
                }
                _ => {}
            },
            Tok::Pr => {
                if chars.peek() == Some(&'<') {
                    neg = true;
                    chars.next();
                } else if chars.peek() == Some(&'>') {
                    chars.next();
                }
            }
            Tok::Lit(_) | Tok::L | Tok::Th(_) => {
                chars.next();
            }
            _ => {}
        }
    }
    if digits.is_empty() {
        return fail(
            INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type numeric: \" \"",
        );
    }
    let v: i128 = digits.parse().map_err(|_| {
        crate::error::FunctionError::new(
            crate::error::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range",
        )
    })?;
    Ok((if neg { -v } else { v }, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: Num, t: &str) -> String {
        format!("[{}]", to_char(n, t).unwrap())
    }
    fn i(v: i128) -> Num {
        Num::Exact(v, 0)
    }
    fn d(s: &str) -> Num {
        let (a, b) = s.split_once('.').unwrap_or((s, ""));
        Num::Exact(format!("{a}{b}").parse().unwrap(), b.len() as u32)
    }

    // Expected values from PostgreSQL 15.
    #[test]
    fn digits_and_padding() {
        assert_eq!(c(i(5), "999"), "[   5]");
        assert_eq!(c(i(-5), "999"), "[  -5]");
        assert_eq!(c(d("0.5"), "9.99"), "[  .50]");
        assert_eq!(c(d("0.5"), "0.99"), "[ 0.50]");
        assert_eq!(c(d("5.1"), "FM999.99"), "[5.1]");
        assert_eq!(c(i(5), "FM999.99"), "[5.]");
        assert_eq!(c(d("1234567.891"), "9G999G999D99"), "[ 1,234,567.89]");
        assert_eq!(c(i(1234), "99"), "[ ##]");
        assert_eq!(c(d("-1234.5"), "FM9,999.00"), "[-1,234.50]");
        assert_eq!(c(i(0), "999"), "[   0]");
        assert_eq!(c(i(0), "9.99"), "[  .00]");
        assert_eq!(c(d("0.0"), "FM990.99"), "[0.]");
        assert_eq!(c(i(0), "FM999"), "[0]");
        assert_eq!(c(i(0), "FM9.99"), "[0.]");
        assert_eq!(c(d("-0.5"), "9.99"), "[ -.50]");
        assert_eq!(c(d("-0.5"), "FM9.99"), "[-.5]");
        assert_eq!(c(i(5), "009"), "[ 005]");
        assert_eq!(c(i(-5), "009"), "[-005]");
        assert_eq!(c(i(5), "909"), "[  05]");
        assert_eq!(c(i(5), "9099"), "[  005]");
        assert_eq!(c(i(1234), "9,999"), "[ 1,234]");
        assert_eq!(c(i(12), "9,999"), "[    12]");
        assert_eq!(c(i(12), "FM9,999"), "[12]");
        assert_eq!(c(d("1234.5"), "FM9G999D00"), "[1,234.50]");
        assert_eq!(c(i(12), "0,000"), "[ 0,012]");
        assert_eq!(c(i(1234567), "999,999,999"), "[   1,234,567]");
        assert_eq!(c(d("100"), "FM999.99"), "[100.]");
        assert_eq!(c(i(3), "FM000"), "[003]");
        assert_eq!(c(i(123), "FM9,999.00"), "[123.00]");
    }

    #[test]
    fn rounding_exact_and_binary() {
        assert_eq!(c(d("1.005"), "9.99"), "[ 1.01]");
        assert_eq!(c(Num::Float(1.005), "9.99"), "[ 1.00]");
        assert_eq!(c(Num::Float(2.5), "9"), "[ 2]");
        assert_eq!(c(d("5.5"), "9"), "[ 6]");
        assert_eq!(c(d("1234.5678"), "99999.9"), "[  1234.6]");
        assert_eq!(c(d("123.45"), "99.9"), "[ ##.#]");
        assert_eq!(c(Num::Float(1e20), "999"), "[ ###]");
        assert_eq!(c(Num::Float(12.5), "FM99.00"), "[12.50]");
        assert_eq!(c(Num::Float(0.125), "FM0.00"), "[0.12]");
        assert_eq!(c(Num::Float(0.1 + 0.2), "FM9.99999999999999999"), "[.3]");
    }

    #[test]
    fn signs() {
        assert_eq!(c(i(5), "S999"), "[  +5]");
        assert_eq!(c(i(5), "999MI"), "[  5 ]");
        assert_eq!(c(i(-5), "999PR"), "[  <5>]");
        assert_eq!(c(i(-123), "999PR"), "[<123>]");
        assert_eq!(c(i(-123), "S999"), "[-123]");
        assert_eq!(c(i(123), "999S"), "[123+]");
        assert_eq!(c(i(-123), "999MI"), "[123-]");
        assert_eq!(c(i(5), "FMS999"), "[+5]");
        assert_eq!(c(i(5), "FM999MI"), "[5]");
        assert_eq!(c(i(-5), "FM999PR"), "[<5>]");
        assert_eq!(c(i(5), "999PR"), "[   5 ]");
        assert_eq!(c(i(123), "999PR"), "[ 123 ]");
        assert_eq!(c(i(1234), "999PR"), "[ ### ]");
        assert_eq!(c(i(1234), "999th"), "[ ###]");
        assert_eq!(c(i(-5), "SG999"), "[-  5]");
        assert_eq!(c(i(5), "PL999"), "[+   5]");
    }

    #[test]
    fn other_patterns() {
        assert_eq!(c(d("12345.678"), "9.99EEEE"), "[ 1.23e+04]");
        assert_eq!(c(d("-0.00012"), "9.9EEEE"), "[-1.2e-04]");
        assert_eq!(c(i(0), "9.99EEEE"), "[ 0.00e+00]");
        let e = to_char(i(5), "FM9.99EEEE").unwrap_err();
        assert_eq!(
            crate::error::FunctionError::find(&e).unwrap().sqlstate,
            "42601"
        );
        assert_eq!(c(i(485), "RN"), "[        CDLXXXV]");
        assert_eq!(c(i(485), "FMRN"), "[CDLXXXV]");
        assert_eq!(c(i(485), "rn"), "[        cdlxxxv]");
        assert_eq!(c(i(1), "999th"), "[   1st]");
        assert_eq!(c(i(22), "FM999TH"), "[22ND]");
        assert_eq!(c(i(5), "L999"), "[    5]");
        assert_eq!(c(i(5), "FML999"), "[ 5]");
        assert_eq!(c(i(12), "99V9"), "[ 120]");
        assert_eq!(c(i(5), "\"$\"999"), "[$   5]");
        assert_eq!(c(i(5), "$999"), "[$   5]");
        assert_eq!(c(i(5), "X9a"), "[X 5a]");
    }

    #[test]
    fn reads_numbers() {
        assert_eq!(to_number("12,454.8-", "99G999D9S").unwrap(), (-124548, 1));
        assert_eq!(to_number("$1,234.50", "L9,999.99").unwrap(), (123450, 2));
        assert_eq!(to_number(" 42", "999").unwrap(), (42, 0));
        assert_eq!(to_number("-42", "999").unwrap(), (-42, 0));
        assert_eq!(to_number("<42>", "999PR").unwrap(), (-42, 0));
    }
}

#[cfg(test)]
mod differential {
    /// Compares with cases PostgreSQL printed (value, template, [result] per line, tab
    /// separated) in cases/ (see cases/README.md).
    #[test]
    fn against_postgres_cases() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/cases/to_char_numeric.tsv"
        ));
        let mut bad = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 3 {
                continue;
            }
            let (a, b) = f[0].split_once('.').unwrap_or((f[0], ""));
            let n = super::Num::Exact(format!("{a}{b}").parse().unwrap(), b.len() as u32);
            let got = super::to_char(n, f[1]).map(|s| format!("[{s}]"));
            if got.as_deref().ok() != Some(f[2]) {
                bad += 1;
                println!("{}\t{}\tpg {}\tours {:?}", f[0], f[1], f[2], got);
            }
        }
        assert_eq!(bad, 0, "{bad} cases differ from PostgreSQL's");
    }
}
