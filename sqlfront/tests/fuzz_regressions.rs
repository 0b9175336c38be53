//! The inputs that once made the `sql` fuzz target fail (fuzz/regressions/sql/), through the
//! same steps in an ordinary test run: respell, parse, rewrite, print. Errors are fine.

use std::path::Path;

use meshgate_sqlfront::{parse, respell, rewrite};

struct Tables;

impl rewrite::RelationResolver for Tables {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32> {
        (schema.unwrap_or("public") == "public" && name == "t").then_some(16384)
    }
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/sql");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let bytes = std::fs::read(&path).expect("readable");
        let Ok(sql) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let sql = sql.to_owned();
        // The server's worker stacks are 2 MiB: the fuzz target runs on one that size too.
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let respelled = respell::respell(&sql);
                if let Ok(statements) = parse::statements(&respelled.text) {
                    for mut stmt in statements {
                        let _ = rewrite::rewrite(&mut stmt, &Tables);
                        let _ = stmt.to_string();
                    }
                }
            })
            .expect("spawn")
            .join()
            .unwrap_or_else(|_| panic!("{} panics", path.display()));
    }
}

/// The `sql` fuzz target skips inputs nested deeper than 16 brackets (sqlparser's backtracking,
/// fuzz/README.md), so the depths between that and the parse bound are checked here: statements
/// nested to the bound and past it parse or are refused, and rewrite, without overflowing the
/// server's 2 MiB worker stack. Unoptimised builds have frames several times larger (a
/// 16-deep subquery overflows 2 MiB in sqlparser's parse there), so a test build gets 16 MiB.
#[test]
fn nesting_up_to_the_parse_bound_fits_a_worker_stack() {
    let stack = if cfg!(debug_assertions) {
        16 << 20
    } else {
        2 << 20
    };
    let deep = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    // Shapes sqlparser 0.61 parses in linear time, as deep as `parse::NESTING_LIMIT` lets
    // them; deeper ones are refused before the parse (see `parse::NESTING_LIMIT`).
    let mut statements = Vec::new();
    for n in [16, parse::NESTING_LIMIT] {
        statements.push(format!("SELECT {}", deep("(", "1", ")", n)));
        statements.push(format!("SELECT {}", deep("-(", "1", ")", n)));
        statements.push(format!(
            "SELECT * FROM {}",
            deep("(SELECT * FROM ", "t", ") s", n)
        ));
        statements.push(format!(
            "SELECT {}",
            deep("(SELECT ", "'t'::regclass", ")", n)
        ));
    }
    statements.push(format!(
        "SELECT {}",
        deep("ARRAY[", "1", "]", parse::NESTING_LIMIT)
    ));
    statements.push(format!("SELECT {}", deep("f(", "1::oid", ")", 8)));
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            for sql in statements {
                if let Ok(parsed) = parse::statements(&sql) {
                    for mut stmt in parsed {
                        let _ = rewrite::rewrite(&mut stmt, &Tables);
                        let _ = stmt.to_string();
                    }
                }
            }
        })
        .expect("spawn")
        .join()
        .expect("no panic, no overflow");
}
