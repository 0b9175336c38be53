//! Differential test against a real PostgreSQL 15: every statement of
//! `tests/corpus/differential/*.sql` runs on meshgate (as the admin, over TCP) and on the
//! reference server holding the same TPC-H tables (see `reference.rs`), and the answers are
//! compared:
//!
//! - rows as PostgreSQL text (simple query protocol, so both sides print their own text form);
//!   as multisets, unless the statement has a top-level `ORDER BY`, then in order;
//! - result column types (from `prepare`, i.e. the extended protocol's row description);
//! - the SQLSTATE when PostgreSQL rejects the statement.
//!
//! Column names are shown in the report but not compared. A statement that appears in two
//! files runs once, at its first place.
//!
//! Every statement gets one classification (see [`Class`]). The known deviations are listed in
//! `tests/corpus/differential/deviations.txt`, one per line as `<class><TAB><statement>`, the
//! statement's text with its whitespace collapsed (an id that survives edits elsewhere in the
//! corpus). The test fails on a deviation that is not listed (a regression) and on a listed one
//! that no longer happens or changed class (record the progress). `MESHGATE_DIFF_BLESS=1`
//! rewrites the list from the current run. The full report goes to
//! `$CARGO_TARGET_TMPDIR/differential-report.txt`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::harness::{code, TestServer};
use crate::reference::reference;

/// Longest a statement may run on either side; a runaway recursive CTE must not hang the suite.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

pub type Rows = Vec<Vec<Option<String>>>;

/// The code recorded for a statement that did not finish within [`STATEMENT_TIMEOUT`].
const TIMEOUT: &str = "timeout";

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Rows {
        names: Vec<String>,
        types: Vec<String>,
        rows: Rows,
    },
    Error {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Identical,
    /// Same rows, other result column types.
    Types,
    /// Both answered, with other rows.
    Answer,
    /// PostgreSQL answered, meshgate failed.
    MeshgateError,
    /// PostgreSQL failed, meshgate answered.
    PostgresError,
    /// Both failed, with other SQLSTATEs.
    Sqlstate,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Identical => "identical",
            Class::Types => "types",
            Class::Answer => "answer",
            Class::MeshgateError => "meshgate-error",
            Class::PostgresError => "postgres-error",
            Class::Sqlstate => "sqlstate",
        }
    }

    fn parse(s: &str) -> Option<Class> {
        [
            Class::Identical,
            Class::Types,
            Class::Answer,
            Class::MeshgateError,
            Class::PostgresError,
            Class::Sqlstate,
        ]
        .into_iter()
        .find(|c| c.label() == s)
    }
}

/// One statement of the corpus.
pub struct Statement {
    pub area: String,
    pub line: usize,
    pub sql: String,
}

impl Statement {
    /// The statement's id in deviations.txt.
    pub fn id(&self) -> String {
        normalise(&self.sql)
    }
}

pub fn normalise(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Statements of a corpus file: separated by `;` outside quotes and comments; `--` comments are
/// dropped. Returns (line of the statement's first token, statement).
pub fn split_statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        current.push('\n');
                        break;
                    }
                }
            }
            '\'' | '"' => {
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == '\n' {
                        line += 1;
                    }
                    // A doubled quote closes and reopens: the same as staying inside.
                    if q == c {
                        break;
                    }
                }
            }
            ';' => {
                if !current.trim().is_empty() {
                    out.push((start_line, current.trim().to_string()));
                }
                current.clear();
            }
            c => {
                if current.trim().is_empty() && !c.is_whitespace() {
                    start_line = line;
                }
                if c == '\n' {
                    line += 1;
                }
                current.push(c);
            }
        }
    }
    if !current.trim().is_empty() {
        out.push((start_line, current.trim().to_string()));
    }
    out
}

/// Whether the statement orders its result: an `ORDER BY` outside parentheses and quotes
/// (the ones inside belong to windows, aggregates and subqueries).
pub fn has_top_level_order_by(sql: &str) -> bool {
    let mut top = String::new();
    let mut depth = 0usize;
    let mut chars = sql.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                }
                top.push(' ');
            }
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => top.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    let words: Vec<&str> = top.split_whitespace().collect();
    words.windows(2).any(|w| w == ["order", "by"])
}

pub fn corpus() -> Vec<Statement> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus/differential exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let area = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).expect("corpus file is UTF-8");
        let statements = split_statements(&text);
        assert!(!statements.is_empty(), "{}: no statements", file.display());
        for (line, sql) in statements {
            out.push(Statement {
                area: area.clone(),
                line,
                sql,
            });
        }
    }
    out
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/differential")
}

/// Column names and rows (as text) of a simple-query answer.
pub fn rows_of(msgs: &[SimpleQueryMessage]) -> (Vec<String>, Rows) {
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for m in msgs {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                names = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(r) => {
                rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
            }
            _ => {}
        }
    }
    (names, rows)
}

fn error_answer(e: &tokio_postgres::Error) -> Answer {
    Answer::Error {
        code: code(e),
        message: e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    }
}

/// Runs `sql` as a simple query (rows as text), then prepares it for its column types.
pub async fn answer(client: &Client, sql: &str) -> Answer {
    let msgs = match tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query(sql)).await {
        Err(_) => {
            // Stop the runaway statement; the caller replaces the connection.
            let _ = client
                .cancel_token()
                .cancel_query(tokio_postgres::NoTls)
                .await;
            return Answer::Error {
                code: TIMEOUT.into(),
                message: format!("no answer within {STATEMENT_TIMEOUT:?}"),
            };
        }
        Ok(Err(e)) => return error_answer(&e),
        Ok(Ok(m)) => m,
    };
    let (names, rows) = rows_of(&msgs);
    let types = match tokio::time::timeout(STATEMENT_TIMEOUT, client.prepare(sql)).await {
        Ok(Ok(st)) => st
            .columns()
            .iter()
            .map(|c| c.type_().name().to_string())
            .collect(),
        Ok(Err(e)) => vec![format!("<prepare failed: {}>", code(&e))],
        Err(_) => vec!["<prepare timed out>".to_string()],
    };
    Answer::Rows { names, types, rows }
}

pub fn classify(sql: &str, meshgate: &Answer, postgres: &Answer) -> Class {
    match (meshgate, postgres) {
        (Answer::Error { code: a, .. }, Answer::Error { code: b, .. }) => {
            if a == b {
                Class::Identical
            } else {
                Class::Sqlstate
            }
        }
        (Answer::Error { .. }, Answer::Rows { .. }) => Class::MeshgateError,
        (Answer::Rows { .. }, Answer::Error { .. }) => Class::PostgresError,
        (
            Answer::Rows {
                types: ta,
                rows: ra,
                ..
            },
            Answer::Rows {
                types: tb,
                rows: rb,
                ..
            },
        ) => {
            let same_rows = if has_top_level_order_by(sql) {
                ra == rb
            } else {
                let (mut a, mut b) = (ra.clone(), rb.clone());
                a.sort();
                b.sort();
                a == b
            };
            match (same_rows, ta == tb) {
                (true, true) => Class::Identical,
                (true, false) => Class::Types,
                (false, _) => Class::Answer,
            }
        }
    }
}

fn names_differ(meshgate: &Answer, postgres: &Answer) -> bool {
    matches!(
        (meshgate, postgres),
        (Answer::Rows { names: a, .. }, Answer::Rows { names: b, .. }) if a != b
    )
}

fn describe(a: &Answer) -> String {
    match a {
        Answer::Error { code, message } => format!("  ERROR {code}: {message}\n"),
        Answer::Rows { names, types, rows } => {
            let mut s = String::new();
            let cols = names
                .iter()
                .zip(types.iter().chain(std::iter::repeat(&String::new())))
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>();
            let _ = writeln!(s, "  columns: {}", cols.join(" | "));
            if types.len() != names.len() {
                let _ = writeln!(s, "  types: {}", types.join(" | "));
            }
            const SHOWN: usize = 12;
            for r in rows.iter().take(SHOWN) {
                let vals = r
                    .iter()
                    .map(|v| match v {
                        // Control characters escaped, so the report stays a text file.
                        Some(v) => v
                            .chars()
                            .map(|c| {
                                if c.is_control() {
                                    c.escape_default().to_string()
                                } else {
                                    c.to_string()
                                }
                            })
                            .collect(),
                        None => "NULL".to_string(),
                    })
                    .collect::<Vec<_>>();
                let _ = writeln!(s, "  {}", vals.join(" | "));
            }
            if rows.len() > SHOWN {
                let _ = writeln!(s, "  … {} rows in all", rows.len());
            } else {
                let _ = writeln!(s, "  ({} rows)", rows.len());
            }
            s
        }
    }
}

/// deviations.txt: statement id → class.
fn read_deviations(path: &Path) -> BTreeMap<String, Class> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (class, statement) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("deviations.txt:{}: no TAB after the class", i + 1));
        let class = Class::parse(class)
            .filter(|c| *c != Class::Identical)
            .unwrap_or_else(|| panic!("deviations.txt:{}: unknown class {class:?}", i + 1));
        assert!(
            out.insert(statement.to_string(), class).is_none(),
            "deviations.txt:{}: listed twice",
            i + 1
        );
    }
    out
}

const DEVIATIONS_HEADER: &str = "\
# Statements of tests/corpus/differential/*.sql where meshgate's answer differs from
# PostgreSQL 15's: <class><TAB><statement, whitespace collapsed>. Classes: types (same rows,
# other column types), answer (other rows), meshgate-error (PostgreSQL answers, meshgate fails),
# postgres-error (PostgreSQL fails, meshgate answers), sqlstate (both fail, other SQLSTATE).
# Checked by tests/it/differential.rs; regenerate with
#   MESHGATE_DIFF_BLESS=1 cargo test --test it differential
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_corpus_matches_postgres_or_is_listed() {
    // A statement written in two files (areas are written independently) runs once, at its
    // first place: its id, and so its line in deviations.txt, is one.
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut repeats = Vec::new();
    let statements: Vec<Statement> = corpus()
        .into_iter()
        .filter(|st| match seen.get(&st.id()) {
            Some(first) => {
                repeats.push(format!("{}:{} repeats {first}", st.area, st.line));
                false
            }
            None => {
                seen.insert(st.id(), format!("{}:{}", st.area, st.line));
                true
            }
        })
        .collect();
    let pg = reference();
    let s = TestServer::tpch().await;
    let mut mesh = s.admin().await;
    let pgc = pg.connect().await;
    pgc.batch_execute(&format!(
        "SET statement_timeout = {}",
        STATEMENT_TIMEOUT.as_millis()
    ))
    .await
    .expect("statement_timeout on the reference");

    let mut results = Vec::with_capacity(statements.len());
    for st in &statements {
        if mesh.is_closed() {
            mesh = s.admin().await;
        }
        let m = answer(&mesh, &st.sql).await;
        if matches!(&m, Answer::Error { code, .. } if code == TIMEOUT) {
            mesh = s.admin().await;
        }
        let p = answer(&pgc, &st.sql).await;
        let class = classify(&st.sql, &m, &p);
        results.push((st, m, p, class));
    }

    // Summary: overall and per area.
    let count = |f: &dyn Fn(Class) -> bool| results.iter().filter(|r| f(r.3)).count();
    let identical = count(&|c| c == Class::Identical);
    let mesh_errors = count(&|c| c == Class::MeshgateError);
    let different = results.len() - identical - mesh_errors;
    let mut summary = format!(
        "differential: {identical} identical, {different} different, {mesh_errors} meshgate-only errors (of {})\n",
        results.len()
    );
    let _ = writeln!(
        summary,
        "  different = {} types, {} answer, {} postgres-only errors, {} other sqlstate",
        count(&|c| c == Class::Types),
        count(&|c| c == Class::Answer),
        count(&|c| c == Class::PostgresError),
        count(&|c| c == Class::Sqlstate),
    );
    // Column names are not part of the classification (DataFusion names unnamed expressions
    // after their text where PostgreSQL says ?column? or the function's name), but BI tools
    // show them, so the count stays visible.
    let renamed: Vec<_> = results
        .iter()
        .filter(|(_, m, p, _)| names_differ(m, p))
        .collect();
    let _ = writeln!(
        summary,
        "  column names differ in {} of the statements both answered (not classified)",
        renamed.len()
    );
    let mut areas: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for (st, _, _, class) in &results {
        let e = areas.entry(st.area.as_str()).or_default();
        match class {
            Class::Identical => e[0] += 1,
            Class::MeshgateError => e[2] += 1,
            _ => e[1] += 1,
        }
    }
    for (area, [i, d, m]) in &areas {
        let _ = writeln!(
            summary,
            "  {area}: {i} identical, {d} different, {m} meshgate-only errors (of {})",
            i + d + m
        );
    }

    // The report: every non-identical statement in full, then the identical ones by id.
    let mut report = summary.clone();
    for r in &repeats {
        let _ = writeln!(report, "(skipped: {r})");
    }
    for (st, m, p, class) in &results {
        if *class == Class::Identical {
            continue;
        }
        let _ = write!(
            report,
            "\n=== {}:{} [{}]\n{}\n--- meshgate\n{}--- postgres\n{}",
            st.area,
            st.line,
            class.label(),
            st.sql,
            describe(m),
            describe(p)
        );
    }
    let _ = writeln!(report, "\n=== identical answers under other column names");
    for (st, m, p, _) in renamed.iter().filter(|r| r.3 == Class::Identical) {
        if let (Answer::Rows { names: a, .. }, Answer::Rows { names: b, .. }) = (m, p) {
            let _ = writeln!(
                report,
                "{}:{} {}\n  meshgate: {}\n  postgres: {}",
                st.area,
                st.line,
                st.id(),
                a.join(" | "),
                b.join(" | ")
            );
        }
    }
    let _ = writeln!(report, "\n=== identical");
    for (st, _, _, _) in results.iter().filter(|r| r.3 == Class::Identical) {
        let _ = writeln!(report, "{}:{} {}", st.area, st.line, st.id());
    }
    let report_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-report.txt");
    std::fs::write(&report_path, &report).expect("write the report");
    // Straight to stderr: the test harness captures print! of passing tests, and the figures
    // must show in every CI log.
    let _ = writeln!(
        std::io::stderr(),
        "{summary}report: {}",
        report_path.display()
    );

    let deviations_path = corpus_dir().join("deviations.txt");
    if std::env::var("MESHGATE_DIFF_BLESS").is_ok_and(|v| v == "1") {
        let mut text = DEVIATIONS_HEADER.to_string();
        for (st, _, _, class) in &results {
            if *class != Class::Identical {
                let _ = writeln!(text, "{}\t{}", class.label(), st.id());
            }
        }
        std::fs::write(&deviations_path, text).expect("write deviations.txt");
        let _ = writeln!(std::io::stderr(), "blessed {}", deviations_path.display());
        return;
    }

    let listed = read_deviations(&deviations_path);
    let mut problems = Vec::new();
    let mut found = std::collections::HashSet::new();
    for (st, _, _, class) in &results {
        let id = st.id();
        found.insert(id.clone());
        match (listed.get(&id), *class) {
            (None, Class::Identical) => {}
            (None, c) => problems.push(format!(
                "new deviation ({}) at {}:{}: {id}",
                c.label(),
                st.area,
                st.line
            )),
            (Some(_), Class::Identical) => problems.push(format!(
                "listed deviation is now identical at {}:{} (remove it): {id}",
                st.area, st.line
            )),
            (Some(was), c) if *was != c => problems.push(format!(
                "listed as {} but now {} at {}:{}: {id}",
                was.label(),
                c.label(),
                st.area,
                st.line
            )),
            _ => {}
        }
    }
    for id in listed.keys().filter(|id| !found.contains(*id)) {
        problems.push(format!("listed deviation is not in the corpus: {id}"));
    }
    assert!(
        problems.is_empty(),
        "{} problems with {} (see {}; MESHGATE_DIFF_BLESS=1 rewrites the list):\n{}",
        problems.len(),
        deviations_path.display(),
        report_path.display(),
        problems.join("\n")
    );
}

#[test]
fn differential_statement_splitting_and_ordering() {
    let text = "-- a comment; with a semicolon\nselect 'a;b'\n  from t;\n\n-- next\nselect \"x;\" ;select 1";
    let got = split_statements(text);
    assert_eq!(
        got,
        vec![
            (2, "select 'a;b'\n  from t".to_string()),
            (6, "select \"x;\"".to_string()),
            (6, "select 1".to_string()),
        ]
    );
    assert!(has_top_level_order_by(
        "select a from t union select b from u ORDER  BY 1"
    ));
    assert!(!has_top_level_order_by(
        "select rank() over (order by a), string_agg(b, ',' order by b) from t"
    ));
    assert!(!has_top_level_order_by("select 'order by' from t"));
    assert_eq!(normalise(" select\n  1,\t2 "), "select 1, 2");
}
