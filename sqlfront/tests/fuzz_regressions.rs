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
