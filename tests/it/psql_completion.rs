//! psql's tab completion against meshgate. Completion needs a terminal, so the real psql runs in
//! a tmux pane: keys are typed with `send-keys`, the screen is read with `capture-pane`. What
//! psql offers comes from the catalog queries it sends (recorded in
//! tests/corpus/psql-15-tab-completion.sql), answered for the user who is connected.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::{TestServer, ANALYST, SALES_ANALYST};

const PROMPT: &str = "mesh=> ";
/// Typed after the Tabs: readline handles keys in order, so once it is on screen every
/// completion before it (query, insertion, listing) has finished.
const MARK: &str = "~~";
const WITHIN: Duration = Duration::from_secs(20);

/// A psql session in a tmux server of its own: its socket is in a temporary directory (not
/// $TMUX_TMPDIR), so parallel tests and the user's tmux are not touched and no socket file is
/// left behind. Dropping it kills that server, also when an assertion failed.
struct Terminal {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// The result of one completion: the input line afterwards and the candidates readline listed.
#[derive(Debug)]
struct Completion {
    line: String,
    listed: Vec<String>,
}

impl Terminal {
    async fn start(s: &TestServer, (user, password): (&str, &str)) -> Terminal {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("tmux.conf");
        // remain-on-exit keeps the pane, so a psql that could not connect leaves its error on
        // the screen for the failure message instead of taking the session down with it.
        std::fs::write(&conf, "set -g remain-on-exit on\n").expect("write tmux.conf");
        let t = Terminal {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        // INPUTRC and -X: the user's readline and psql settings must not change what Tab does.
        let psql = format!(
            "INPUTRC=/dev/null PGCONNECT_TIMEOUT=10 exec psql -X -v HISTFILE=/dev/null '{}'",
            s.conn_string(user, password)
        );
        let out = tokio::process::Command::new("tmux")
            .arg("-S")
            .arg(&t.socket)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "psql",
                "-x",
                "200",
                "-y",
                "50",
                &psql,
            ])
            .output()
            .await
            .expect("tmux is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.screen_until("psql's first prompt", |lines| {
            lines.last().is_some_and(|l| l == PROMPT.trim_end())
        })
        .await;
        t
    }

    async fn tmux(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .await
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "psql"];
        args.extend_from_slice(keys);
        self.tmux(&args).await;
    }

    async fn text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "psql", "-l", text]).await;
    }

    /// The screen's non-empty lines, trailing blanks removed.
    async fn screen(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-J", "-t", "psql"])
            .await
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Polls the screen until `done` holds on it, for at most WITHIN.
    async fn screen_until(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + WITHIN;
        loop {
            let lines = self.screen().await;
            if done(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{}",
                lines.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Types `input` on an empty line, presses Tab `tabs` times and reads what readline made of it.
    async fn complete(&self, input: &str, tabs: usize) -> Completion {
        // Empty line (C-u) and an empty screen (C-l) so no earlier listing is read again.
        self.keys(&["C-u", "C-l"]).await;
        self.screen_until("an empty prompt", |lines| {
            lines.len() == 1 && lines[0] == PROMPT.trim_end()
        })
        .await;
        self.text(input).await;
        self.keys(&vec!["Tab"; tabs]).await;
        self.text(MARK).await;
        let lines = self
            .screen_until(&format!("the completion of {input:?}"), |lines| {
                lines
                    .last()
                    .is_some_and(|l| l.starts_with(PROMPT) && l.ends_with(MARK))
            })
            .await;
        let (last, before) = lines.split_last().expect("screen has the prompt line");
        let line = last[PROMPT.len()..last.len() - MARK.len()]
            .trim_end()
            .to_string();
        // A listing is printed under the typed line, then the prompt is drawn again.
        let mut listed: Vec<String> = before
            .iter()
            .filter(|l| !l.starts_with(PROMPT.trim_end()))
            .flat_map(|l| l.split_whitespace().map(str::to_string))
            .collect();
        listed.sort();
        Completion { line, listed }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Synchronous: Drop cannot await, and the tmux server (with psql in it) must not outlive
        // the test even when the test is unwinding.
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_tab_completes_schemas_tables_and_columns() {
    let s = TestServer::tpch().await;
    let t = Terminal::start(&s, ANALYST).await;

    // A data product is a schema: its name is completed with the dot.
    let c = t.complete("SELECT * FROM sal", 1).await;
    assert_eq!(c.line, "SELECT * FROM sales.", "{c:?}");
    assert!(c.listed.is_empty(), "{c:?}");

    // The second Tab lists the product's tables, qualified as typed.
    let c = t.complete("SELECT * FROM sales.", 2).await;
    assert_eq!(c.line, "SELECT * FROM sales.", "{c:?}");
    assert_eq!(
        c.listed,
        strings(&["sales.customer", "sales.lineitem", "sales.orders"])
    );

    // Columns after WHERE come from pg_attribute for the qualified table.
    let c = t.complete("SELECT * FROM sales.orders WHERE o_", 2).await;
    assert_eq!(c.line, "SELECT * FROM sales.orders WHERE o_", "{c:?}");
    assert_eq!(
        c.listed,
        strings(&[
            "o_clerk",
            "o_comment",
            "o_custkey",
            "o_orderdate",
            "o_orderkey",
            "o_orderpriority",
            "o_orderstatus",
            "o_shippriority",
            "o_totalprice",
        ])
    );
    let c = t.complete("SELECT * FROM geo.nation WHERE n_nam", 1).await;
    assert_eq!(c.line, "SELECT * FROM geo.nation WHERE n_name", "{c:?}");

    // Backslash commands: \d completes relations, \dn schemas, \c databases, \df functions.
    let c = t.complete("\\d geo.n", 1).await;
    assert_eq!(c.line, "\\d geo.nation", "{c:?}");
    let c = t.complete("\\dn ge", 1).await;
    assert_eq!(c.line, "\\dn geo", "{c:?}");
    let c = t.complete("\\c m", 1).await;
    assert_eq!(c.line, "\\c mesh", "{c:?}");
    let c = t.complete("\\df pg_catalog.format_t", 1).await;
    assert_eq!(c.line, "\\df pg_catalog.format_type", "{c:?}");

    // bob holds `buyer`, which reads the supply product.
    let c = t.complete("SELECT * FROM sup", 1).await;
    assert_eq!(c.line, "SELECT * FROM supply.", "{c:?}");
    let c = t.complete("SELECT * FROM supply.", 2).await;
    assert_eq!(
        c.listed,
        strings(&["supply.part", "supply.partsupp", "supply.supplier"]),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_tab_completion_offers_only_what_the_user_may_read() {
    let s = TestServer::tpch().await;
    let t = Terminal::start(&s, SALES_ANALYST).await;

    // Completion works for dave: what follows is not a completion that failed.
    let c = t.complete("SELECT * FROM sal", 1).await;
    assert_eq!(c.line, "SELECT * FROM sales.", "{c:?}");

    // No grant on supply: neither the product nor its tables are offered, even when named.
    let c = t.complete("SELECT * FROM sup", 2).await;
    assert_eq!(c.line, "SELECT * FROM sup", "{c:?}");
    assert!(c.listed.is_empty(), "{c:?}");
    let c = t.complete("SELECT * FROM supply.", 2).await;
    assert_eq!(c.line, "SELECT * FROM supply.", "{c:?}");
    assert!(c.listed.is_empty(), "{c:?}");
    let c = t.complete("\\d supply.p", 2).await;
    assert_eq!(c.line, "\\d supply.p", "{c:?}");
    assert!(c.listed.is_empty(), "{c:?}");
}
