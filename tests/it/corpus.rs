//! Replays the recorded client corpora (tests/corpus/<tool>-<version>.sql): every statement a
//! tool sent by itself must still succeed. A new tool release is one more file.

use crate::harness::{TestServer, ANALYST};

/// Entries of a corpus file: statements separated by a line `-- next`.
pub(crate) fn entries(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in text.lines() {
        if line.trim() == "-- next" {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    out.into_iter().filter(|e| !e.trim().is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_corpora_replay_without_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "corpus files missing: {files:?}");
    let s = TestServer::tpch().await;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("corpus file is UTF-8");
        let statements = entries(&text);
        assert!(!statements.is_empty(), "{}: no statements", file.display());
        // One session per file: the statements of a tool depend on each other (BEGIN, DECLARE,
        // FETCH …, CLOSE), as they did when recorded.
        let c = s
            .connect_as(ANALYST.0, ANALYST.1)
            .await
            .expect("analyst connects");
        for (i, sql) in statements.iter().enumerate() {
            if let Err(e) = c.simple_query(sql).await {
                panic!("{} entry {}: {e:?}\n{sql}", file.display(), i + 1);
            }
        }
    }
}
