//! PostgreSQL spellings our parser does not take, put in the spelling it does, on tokens (never
//! on raw text, so a string literal or a quoted name is never touched):
//!
//! - `ALTER VIEW … RENAME TO` and `COMMENT ON VIEW` are their TABLE forms (PostgreSQL takes
//!   the TABLE forms for views too).
//! - `COMMENT ON … IS $tag$…$tag$` (dbt's persist_docs quoting) is a plain string literal.
//! - `MOVE` is FETCH's syntax with the rows skipped: it is read as FETCH, and remembered.
//! - `x BETWEEN SYMMETRIC a AND b` is `x BETWEEN meshgate_symmetric(a) AND b`, which the dialect
//!   rewrite turns into PostgreSQL's meaning (the parser has no SYMMETRIC).
//! - `GROUPING SETS (a, (b, c), ())`: a set of one expression may go without brackets in
//!   PostgreSQL; the parser wants them (`(a)`).

use std::borrow::Cow;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer, Word};

/// A message's text as the parser should read it.
#[derive(Debug)]
pub struct Respelled<'a> {
    pub text: Cow<'a, str>,
    /// For each statement that begins with FETCH or MOVE, in order: whether it was a MOVE.
    pub moves: Vec<bool>,
}

fn kw(t: &Token, k: Keyword) -> bool {
    matches!(t, Token::Word(Word { keyword, quote_style: None, .. }) if *keyword == k)
}

fn word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(w))
}

pub fn respell(sql: &str) -> Respelled<'_> {
    let unchanged = |sql| Respelled {
        text: Cow::Borrowed(sql),
        moves: Vec::new(),
    };
    let lower = sql.to_ascii_lowercase();
    if !(lower.contains("comment")
        || lower.contains("symmetric")
        || lower.contains("move")
        || lower.contains("fetch")
        || lower.contains("grouping")
        || (lower.contains("view") && lower.contains("rename")))
    {
        return unchanged(sql);
    }
    // Raw tokens (no unescaping), so printing them again gives back the text as written.
    let Ok(mut tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize()
    else {
        // The parser reports what is wrong with the text.
        return unchanged(sql);
    };
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let mut changed = false;
    // Text to print after a token (the call around a SYMMETRIC low bound).
    let mut after: std::collections::BTreeMap<usize, &str> = Default::default();
    // (the SYMMETRIC token, the low bound's last token) of each BETWEEN SYMMETRIC.
    let mut symmetric = Vec::new();
    let mut moves = Vec::new();
    let mut starts = true;
    for w in 0..words.len() {
        let at = |k: usize| words.get(w + k).map(|&i| &tokens[i]);
        let Some(first) = at(0) else { break };
        if matches!(first, Token::SemiColon) {
            starts = true;
            continue;
        }
        let statement_start = std::mem::replace(&mut starts, false);
        if statement_start && (kw(first, Keyword::FETCH) || word(first, "move")) {
            let is_move = word(first, "move");
            if is_move {
                tokens[words[w]] = Token::make_keyword("FETCH");
                changed = true;
            }
            moves.push(is_move);
            continue;
        }
        let view_at = match (at(0), at(1), at(2)) {
            (Some(a), Some(b), Some(c))
                if kw(a, Keyword::COMMENT) && kw(b, Keyword::ON) && kw(c, Keyword::VIEW) =>
            {
                Some(words[w + 2])
            }
            (Some(a), Some(b), _) if kw(a, Keyword::ALTER) && kw(b, Keyword::VIEW) => {
                // Only the RENAME form: ALTER VIEW … AS is the parser's own.
                let renames = words[w + 2..]
                    .iter()
                    .map(|&i| &tokens[i])
                    .take_while(|t| !matches!(t, Token::SemiColon))
                    .any(|t| kw(t, Keyword::RENAME));
                renames.then_some(words[w + 1])
            }
            _ => None,
        };
        if matches!((at(0), at(1)), (Some(a), Some(b)) if kw(a, Keyword::BETWEEN) && word(b, "symmetric"))
        {
            if let Some(last) = low_bound_end(&tokens, &words[w + 2..]) {
                symmetric.push((words[w + 1], last));
            }
        }
        if matches!((at(0), at(1), at(2)), (Some(a), Some(b), Some(Token::LParen)) if word(a, "grouping") && word(b, "sets"))
        {
            for (open, close) in bare_grouping_sets(&tokens, &words[w + 2..]) {
                after.insert(open, "(");
                after.insert(close, ")");
                changed = true;
            }
        }
        let comment_on = matches!((at(0), at(1)), (Some(a), Some(b)) if kw(a, Keyword::COMMENT) && kw(b, Keyword::ON));
        if let Some(i) = view_at {
            tokens[i] = Token::make_keyword("TABLE");
            changed = true;
        }
        if comment_on {
            for &i in &words[w + 2..] {
                match &tokens[i] {
                    Token::SemiColon => break,
                    Token::DollarQuotedString(d) => {
                        tokens[i] = Token::SingleQuotedString(d.value.replace('\'', "''"));
                        changed = true;
                    }
                    _ => {}
                }
            }
        }
    }
    for (word, last) in symmetric {
        tokens[word] = Token::Whitespace(sqlparser::tokenizer::Whitespace::Space);
        after.insert(word, "meshgate_symmetric(");
        after.insert(last, ")");
        changed = true;
    }
    Respelled {
        text: if changed {
            let mut out = String::with_capacity(sql.len() + 32);
            for (i, t) in tokens.iter().enumerate() {
                out.push_str(&t.to_string());
                if let Some(extra) = after.get(&i) {
                    out.push_str(extra);
                }
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(sql)
        },
        moves,
    }
}

/// The sets of a GROUPING SETS list (word positions from its opening bracket) written without
/// brackets: for each, the token before it (the bracket or comma) and its last token.
fn bare_grouping_sets(tokens: &[Token], words: &[usize]) -> Vec<(usize, usize)> {
    let mut sets = Vec::new();
    let mut depth = 0i32;
    // The token before the current set, and the set's last token so far.
    let mut current: Option<(usize, Option<usize>)> = None;
    let mut bare = false;
    for &i in words {
        let t = &tokens[i];
        if depth == 1 {
            if let Some((before, last)) = current {
                if matches!(t, Token::Comma | Token::RParen) {
                    if let (true, Some(last)) = (bare, last) {
                        sets.push((before, last));
                    }
                    current = None;
                } else if last.is_none() {
                    bare = !matches!(t, Token::LParen) && !word(t, "rollup") && !word(t, "cube");
                }
            }
        }
        match t {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon => break,
            _ => {}
        }
        if depth == 0 {
            break;
        }
        match (&mut current, t) {
            (None, Token::LParen | Token::Comma) if depth == 1 => current = Some((i, None)),
            (Some((_, last)), _) => *last = Some(i),
            _ => {}
        }
    }
    sets
}

/// The last token of a BETWEEN's low bound (given the word positions after BETWEEN
/// SYMMETRIC): the one before the AND outside any brackets; None when there is none.
fn low_bound_end(tokens: &[Token], words: &[usize]) -> Option<usize> {
    let mut depth = 0i32;
    let mut last = None;
    for &i in words {
        match &tokens[i] {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon => return None,
            t if depth == 0 && kw(t, Keyword::AND) => return last,
            _ => {}
        }
        last = Some(i);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str) -> String {
        respell(sql).text.into_owned()
    }

    #[test]
    fn view_and_comment_forms_are_respelled() {
        assert_eq!(
            text("alter view \"a\".\"b\" rename to c"),
            "alter TABLE \"a\".\"b\" rename to c"
        );
        assert_eq!(
            text("select 'view''s'; comment on view x.y is $$it's a view$$"),
            "select 'view''s'; comment on TABLE x.y is 'it''s a view'"
        );
        assert_eq!(text("select 1"), "select 1");
        assert_eq!(text("alter view v as select 1"), "alter view v as select 1");
    }

    #[test]
    fn between_symmetric_marks_its_low_bound() {
        assert_eq!(
            text("select 1 where x between symmetric f(1, 2) + 3 and 4"),
            "select 1 where x between  meshgate_symmetric( f(1, 2) + 3) and 4"
        );
        assert_eq!(
            text("select 'between symmetric'"),
            "select 'between symmetric'"
        );
    }

    #[test]
    fn bare_grouping_sets_get_brackets() {
        assert_eq!(
            text("select 1 from t group by grouping sets (a, (b, c), (), f(x, y))"),
            "select 1 from t group by grouping sets ((a), (b, c), (),( f(x, y)))"
        );
        assert_eq!(
            text("select 1 from t group by grouping sets ((a), rollup(b))"),
            "select 1 from t group by grouping sets ((a), rollup(b))"
        );
    }

    #[test]
    fn moves_are_fetches_that_remember() {
        let r = respell("MOVE 10 IN c; FETCH 2 FROM c; SELECT 'move'; move all in d");
        assert_eq!(
            r.text,
            "FETCH 10 IN c; FETCH 2 FROM c; SELECT 'move'; FETCH all in d"
        );
        assert_eq!(r.moves, vec![true, false, true]);
        assert!(respell("SELECT removed FROM t").moves.is_empty());
    }
}
