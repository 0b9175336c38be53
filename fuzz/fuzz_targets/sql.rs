//! Any text through the SQL front end's tree steps as a session runs them: respell, parse
//! (PostgreSQL's dialect, meshgate's nesting bound), then the PostgreSQL-dialect rewrites with
//! a resolver that knows a few relations. Errors are answers; only a panic, a stack overflow or
//! a hang is a finding.
#![no_main]

use meshgate_sqlfront::{parse, respell, rewrite};

use libfuzzer_sys::fuzz_target;

/// `'…'::regclass` finds these, so both the OID and the 42P01 branches run.
struct Tables;

impl rewrite::RelationResolver for Tables {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32> {
        match (schema.unwrap_or("public"), name) {
            ("public", "t") => Some(16384),
            ("public", "orders") => Some(16385),
            ("sales", "orders") => Some(16386),
            ("pg_catalog", "pg_class") => Some(1259),
            ("pg_catalog", "pg_type") => Some(1247),
            _ => None,
        }
    }

    fn namespace_oid(&self, name: &str) -> Option<i32> {
        match name {
            "public" => Some(2200),
            "pg_catalog" => Some(11),
            "sales" => Some(16400),
            _ => None,
        }
    }
}

/// The server parses and rewrites on tokio's worker threads, whose stacks are 2 MiB: a tree
/// deep enough to overflow one there must overflow here too.
const STACK: usize = 2 * 1024 * 1024;

fn front_end(sql: &str) {
    let respelled = respell::respell(sql);
    let Ok(statements) = parse::statements(&respelled.text) else {
        return;
    };
    for mut stmt in statements {
        let _ = rewrite::rewrite(&mut stmt, &Tables);
        // The audit log and DataFusion's error messages print the rewritten tree.
        let _ = stmt.to_string();
    }
}

/// sqlparser 0.61 re-parses after a failed alternative inside a bracket, so its cost grows
/// exponentially with bracket nesting (fuzz/README.md, "Known"). The server refuses statements
/// nested past `parse::NESTING_LIMIT` brackets (or `parse::CALL_NESTING_LIMIT` calls and
/// subqueries) before parsing them; this target stays a little shallower still, so that a run is
/// not spent on inputs that take a large part of a second each.
const MAX_BRACKET_DEPTH: usize = 16;

fn bracket_depth(sql: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in sql.bytes() {
        match b {
            b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if bracket_depth(sql) > MAX_BRACKET_DEPTH {
        return;
    }
    let sql = sql.to_owned();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || front_end(&sql))
        .expect("spawn")
        .join()
        .expect("the front end panicked");
});
