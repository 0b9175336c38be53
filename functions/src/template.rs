//! PostgreSQL's date/time template patterns (`to_char`, `to_date`, `to_timestamp`): the
//! template is split into fields and literal text once, then either printed from a value or
//! matched against input.
//!
//! Matching follows PostgreSQL's rules: at each position the longest keyword wins; keywords
//! whose output has a case (Month, Day, AM…) exist in upper, capitalised and lower spellings,
//! the others in all-upper or all-lower spelling only (`Yyyy` is `Y` then `yyy`). `FM` before a
//! field drops its padding, `TH`/`th` after it adds an ordinal suffix. Text in double quotes is
//! literal (a backslash there takes the next character as is); outside quotes only `\"` is
//! special.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Case {
    Upper,
    Capital,
    Lower,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Key {
    Hh,
    Hh12,
    Hh24,
    Mi,
    Ss,
    Ms,
    Us,
    Ff(u8),
    Ssss,
    /// AM/PM marker: (lower case, with dots)
    Meridiem(bool, bool),
    /// AD/BC marker: (lower case, with dots)
    Era(bool, bool),
    YCommaYyy,
    Yyyy,
    Yyy,
    Yy,
    Y,
    Iyyy,
    Iyy,
    Iy,
    I,
    Month(Case),
    Mon(Case),
    Mm,
    Day(Case),
    Dy(Case),
    Ddd,
    Iddd,
    Dd,
    D,
    Id,
    W,
    Ww,
    Iw,
    Cc,
    J,
    Q,
    Rm(bool),
    Tz(bool),
    Tzh,
    Tzm,
    Of,
}

/// Keywords spelt only in upper case here; their all-lower spelling matches too.
const PLAIN: &[(&str, Key)] = &[
    ("HH24", Key::Hh24),
    ("HH12", Key::Hh12),
    ("HH", Key::Hh),
    ("MI", Key::Mi),
    ("SSSSS", Key::Ssss),
    ("SSSS", Key::Ssss),
    ("SS", Key::Ss),
    ("MS", Key::Ms),
    ("US", Key::Us),
    ("FF1", Key::Ff(1)),
    ("FF2", Key::Ff(2)),
    ("FF3", Key::Ff(3)),
    ("FF4", Key::Ff(4)),
    ("FF5", Key::Ff(5)),
    ("FF6", Key::Ff(6)),
    ("Y,YYY", Key::YCommaYyy),
    ("YYYY", Key::Yyyy),
    ("YYY", Key::Yyy),
    ("YY", Key::Yy),
    ("Y", Key::Y),
    ("IYYY", Key::Iyyy),
    ("IYY", Key::Iyy),
    ("IY", Key::Iy),
    ("IDDD", Key::Iddd),
    ("ID", Key::Id),
    ("IW", Key::Iw),
    ("I", Key::I),
    ("MM", Key::Mm),
    ("DDD", Key::Ddd),
    ("DD", Key::Dd),
    ("D", Key::D),
    ("WW", Key::Ww),
    ("W", Key::W),
    ("CC", Key::Cc),
    ("J", Key::J),
    ("Q", Key::Q),
    ("TZH", Key::Tzh),
    ("TZM", Key::Tzm),
    ("OF", Key::Of),
];

/// Keywords whose spelling sets the case of what they print.
const CASED: &[(&str, Key)] = &[
    ("MONTH", Key::Month(Case::Upper)),
    ("Month", Key::Month(Case::Capital)),
    ("month", Key::Month(Case::Lower)),
    ("MON", Key::Mon(Case::Upper)),
    ("Mon", Key::Mon(Case::Capital)),
    ("mon", Key::Mon(Case::Lower)),
    ("DAY", Key::Day(Case::Upper)),
    ("Day", Key::Day(Case::Capital)),
    ("day", Key::Day(Case::Lower)),
    ("DY", Key::Dy(Case::Upper)),
    ("Dy", Key::Dy(Case::Capital)),
    ("dy", Key::Dy(Case::Lower)),
    ("AM", Key::Meridiem(false, false)),
    ("PM", Key::Meridiem(false, false)),
    ("am", Key::Meridiem(true, false)),
    ("pm", Key::Meridiem(true, false)),
    ("A.M.", Key::Meridiem(false, true)),
    ("P.M.", Key::Meridiem(false, true)),
    ("a.m.", Key::Meridiem(true, true)),
    ("p.m.", Key::Meridiem(true, true)),
    ("AD", Key::Era(false, false)),
    ("BC", Key::Era(false, false)),
    ("ad", Key::Era(true, false)),
    ("bc", Key::Era(true, false)),
    ("A.D.", Key::Era(false, true)),
    ("B.C.", Key::Era(false, true)),
    ("a.d.", Key::Era(true, true)),
    ("b.c.", Key::Era(true, true)),
    ("RM", Key::Rm(false)),
    ("rm", Key::Rm(true)),
    ("TZ", Key::Tz(false)),
    ("tz", Key::Tz(true)),
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Literal(char),
    Field {
        key: Key,
        fm: bool,
        /// Ordinal suffix: Some(upper case)
        th: Option<bool>,
    },
}

fn keyword(s: &str) -> Option<(usize, Key)> {
    let mut best: Option<(usize, Key)> = None;
    let mut consider = |len: usize, key: Key| {
        if best.is_none_or(|(l, _)| len > l) {
            best = Some((len, key));
        }
    };
    for (kw, key) in PLAIN {
        let n = kw.len();
        if let Some(head) = s.get(..n) {
            if head == *kw || head == kw.to_ascii_lowercase() {
                consider(n, *key);
            }
        }
    }
    for (kw, key) in CASED {
        if s.starts_with(kw) {
            consider(kw.len(), *key);
        }
    }
    best
}

/// The template's fields and literal characters; the last template parsed on this thread is
/// kept, since a column is formatted with one template row after row.
pub(crate) fn parse(template: &str) -> std::rc::Rc<Vec<Node>> {
    use std::cell::RefCell;
    use std::rc::Rc;
    thread_local! {
        static LAST: RefCell<Option<(String, Rc<Vec<Node>>)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((t, nodes)) = last.as_ref() {
            if t == template {
                return nodes.clone();
            }
        }
        let nodes = Rc::new(parse_uncached(template));
        *last = Some((template.to_string(), nodes.clone()));
        nodes
    })
}

fn parse_uncached(template: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < template.len() {
        let rest = &template[i..];
        let mut fm = false;
        let mut field_at = rest;
        for prefix in ["FM", "fm", "FX", "fx", "TM", "tm"] {
            if let Some(after) = field_at.strip_prefix(prefix) {
                if keyword(after).is_some() {
                    fm |= prefix.eq_ignore_ascii_case("FM");
                    field_at = after;
                }
            }
        }
        if let Some((len, key)) = keyword(field_at) {
            let consumed = rest.len() - field_at.len() + len;
            let after = &rest[consumed..];
            let th = if after.starts_with("TH") {
                Some(true)
            } else if after.starts_with("th") {
                Some(false)
            } else {
                None
            };
            out.push(Node::Field { key, fm, th });
            i += consumed + if th.is_some() { 2 } else { 0 };
            continue;
        }
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        i += c.len_utf8();
        match c {
            '"' => {
                // Quoted text to the closing quote (or the end: PostgreSQL forgives that).
                let mut escaped = false;
                for q in chars {
                    i += q.len_utf8();
                    if escaped {
                        out.push(Node::Literal(q));
                        escaped = false;
                    } else if q == '\\' {
                        escaped = true;
                    } else if q == '"' {
                        break;
                    } else {
                        out.push(Node::Literal(q));
                    }
                }
            }
            '\\' if rest[1..].starts_with('"') => {
                out.push(Node::Literal('"'));
                i += 1;
            }
            _ => out.push(Node::Literal(c)),
        }
    }
    out
}

/// The ordinal suffix of `n` (1st, 2nd, 3rd, 11th…).
pub(crate) fn ordinal(n: i64, upper: bool) -> &'static str {
    let n = n.unsigned_abs();
    let s = if (11..=13).contains(&(n % 100)) {
        "th"
    } else {
        match n % 10 {
            1 => "st",
            2 => "nd",
            3 => "rd",
            _ => "th",
        }
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub(crate) const ROMAN_MONTHS: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

pub(crate) fn cased(s: &str, case: Case) -> String {
    match case {
        Case::Upper => s.to_ascii_uppercase(),
        Case::Lower => s.to_ascii_lowercase(),
        Case::Capital => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_keyword_wins_and_case_rules_apply() {
        assert_eq!(keyword("HH24:MI"), Some((4, Key::Hh24)));
        assert_eq!(keyword("hh24"), Some((4, Key::Hh24)));
        assert_eq!(keyword("Yyyy"), Some((1, Key::Y)));
        assert_eq!(keyword("Month"), Some((5, Key::Month(Case::Capital))));
        assert_eq!(keyword("Mi"), None);
        assert_eq!(keyword("IDDD"), Some((4, Key::Iddd)));
    }

    #[test]
    fn quotes_and_backslashes() {
        let lits = |t: &str| -> String {
            parse(t)
                .iter()
                .map(|n| match n {
                    Node::Literal(c) => *c,
                    Node::Field { .. } => '#',
                })
                .collect()
        };
        assert_eq!(lits(r##""YYYY" \"YYYY\""##), r##"YYYY "#""##);
        assert_eq!(lits(r#""a\"b""#), r#"a"b"#);
        assert_eq!(lits(r"\YYYY"), r"\#");
        assert_eq!(lits(r#""x"#), "x");
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(1, false), "st");
        assert_eq!(ordinal(12, true), "TH");
        assert_eq!(ordinal(23, false), "rd");
        assert_eq!(ordinal(111, false), "th");
    }
}
