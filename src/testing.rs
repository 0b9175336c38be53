//! Sessions without a socket, for the unit tests of the session and the SQL front end: a small
//! mesh of one Parquet product written by DataFusion's Parquet writer into a temporary
//! directory, the services a server would lend, and a client that records what it is told.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;

use crate::audit::Auditor;
use crate::auth::AuthMethod;
use crate::catalog::MeshState;
use crate::config::Config;
use crate::error::UserError;
use crate::exec::Executor;
use crate::metrics::Metrics;
use crate::session::{
    Client, Control, Failure, Gone, Guard, Login, Pumped, Registry, Reply, RowSource, Services,
    Session,
};
use crate::sql::CopyFormat;

/// A mesh on disk: product `shop` with table `items (id bigint, name text, price double)` of 3
/// rows, readable by `reader`; `filtered` sees items with price under 10 only.
pub struct Mesh {
    /// Held for the life of the mesh: the data and configuration live in it.
    _dir: tempfile::TempDir,
    pub services: Services,
}

struct NoServer;

impl Control for NoServer {
    fn reload(&self) -> bool {
        false
    }
}

impl Mesh {
    pub async fn new() -> Mesh {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("shop").join("items");
        std::fs::create_dir_all(&data).expect("mkdir");
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql(
            "SELECT * FROM (VALUES (1, 'pen', 2.5), (2, 'book', 12.0), (3, 'cup', 7.25)) \
             AS t(id, name, price)",
        )
        .await
        .expect("rows")
        .write_parquet(
            data.join("part-0.parquet").to_str().expect("utf-8 path"),
            datafusion::dataframe::DataFrameWriteOptions::new(),
            None,
        )
        .await
        .expect("parquet written");
        let domains = dir.path().join("domains");
        std::fs::create_dir_all(&domains).expect("mkdir");
        std::fs::write(
            domains.join("retail.toml"),
            format!(
                r#"name = "retail"
[storage]
root = "{}"
[[products]]
name = "shop"
[[products.tables]]
name = "items"
format = "parquet"
location = "shop/items"
[[grants]]
product = "shop"
to = ["reader", "filtered"]
[[row_filters]]
name = "cheap"
product = "shop"
table = "items"
to = ["filtered"]
filter = "price < 10"
"#,
                dir.path().display()
            ),
        )
        .expect("domain file");
        let verifier = meshgate_protocol::scram::ScramVerifier::generate("pw", 4096);
        let users: String = ["reader", "filtered"]
            .iter()
            .map(|u| format!("[[users]]\nname = \"{u}\"\npassword = \"{verifier}\"\n"))
            .collect();
        let path = dir.path().join("meshgate.toml");
        std::fs::write(
            &path,
            format!("[server]\nmetadata_refresh_secs = 0\n{users}[domains]\ndir = \"domains\"\n"),
        )
        .expect("config");
        let config = Config::load(&path).expect("config loads");
        let executor =
            Arc::new(Executor::new(1, config.server.batch_size, &config.limits).expect("executor"));
        let metrics = Arc::new(Metrics::default());
        let auditor = Arc::new(Auditor::start(&config.audit, metrics, executor.clone()));
        let mesh = Arc::new(
            MeshState::new(
                config,
                executor.env.clone(),
                meshgate_connectors::registry(),
            )
            .expect("mesh"),
        );
        Mesh {
            _dir: dir,
            services: Services {
                mesh,
                executor,
                auditor,
                registry: Arc::new(Registry::default()),
                peers: Arc::new(crate::session::replicas::Peers::from_settings(
                    &Default::default(),
                )),
                control: Arc::new(NoServer),
                metrics: Arc::default(),
                template: Arc::default(),
            },
        }
    }

    pub fn session(&self, user: &str) -> Session {
        let login = Login {
            user: user.to_string(),
            admin: false,
            method: AuthMethod::Scram,
            roles: vec![],
            peer: "127.0.0.1:1".parse().expect("address"),
            gateway: None,
        };
        Session::start(self.services.clone(), login, &Default::default()).expect("session")
    }
}

/// What a session told its client.
#[derive(Default, Debug)]
pub struct Recorder {
    pub replies: Vec<Reply>,
    /// Every row sent, as text.
    pub rows: Vec<Vec<String>>,
}

impl Recorder {
    /// The command tags, in order.
    pub fn tags(&self) -> Vec<String> {
        self.replies
            .iter()
            .filter_map(|r| match r {
                Reply::Complete(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn take_rows(&mut self) -> Vec<Vec<String>> {
        std::mem::take(&mut self.rows)
    }
}

#[async_trait]
impl Client for Recorder {
    async fn reply(&mut self, reply: Reply) -> Result<(), Gone> {
        if let Reply::Row(_, values) = &reply {
            self.rows.push(values.clone());
        }
        self.replies.push(reply);
        Ok(())
    }

    async fn rows(
        &mut self,
        src: &mut RowSource,
        limit: usize,
        send: bool,
        guard: &Guard,
    ) -> Result<Pumped, Failure> {
        let mut budget = if limit == 0 { usize::MAX } else { limit };
        loop {
            if let Some(now) = src.take(budget) {
                budget -= now.num_rows();
                if send {
                    let options = FormatOptions::default();
                    let columns: Vec<ArrayFormatter> = now
                        .columns()
                        .iter()
                        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                        .collect::<Result<_, _>>()
                        .map_err(|e| UserError::internal("test rows", &e))?;
                    for row in 0..now.num_rows() {
                        self.rows
                            .push(columns.iter().map(|c| c.value(row).to_string()).collect());
                    }
                }
            }
            if budget == 0 {
                return Ok(Pumped::Suspended);
            }
            let next = tokio::select! {
                biased;
                e = guard.stopped() => return Err(e.into()),
                b = src.stream.next() => b,
            };
            match next {
                None => return Ok(Pumped::Done),
                Some(Err(e)) => return Err(src.error(&e).into()),
                Some(Ok(b)) => src.pending = Some(b),
            }
        }
    }

    async fn copy_out(
        &mut self,
        src: &mut RowSource,
        _format: &CopyFormat,
        guard: &Guard,
    ) -> Result<u64, Failure> {
        self.rows(src, 0, true, guard).await?;
        Ok(src.sent as u64)
    }
}
