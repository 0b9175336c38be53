//! The `meshgate` command: serve a mesh, check a configuration, make password verifiers,
//! generate and serve the TPC-H demo mesh, or run a member of its Ballista cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use meshgate::auth::{ScramVerifier, DEFAULT_ITERATIONS};
use meshgate::Config;

#[derive(Parser)]
#[command(
    name = "meshgate",
    version,
    about = "PostgreSQL-protocol gateway to a data mesh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a TPC-H mesh (Delta, Iceberg, Parquet domains) and serve it.
    Demo {
        /// Where the data and its configuration are written (reused when already generated).
        #[arg(long, default_value = "demo-mesh")]
        dir: PathBuf,
        /// TPC-H scale factor (0.1 ≈ 100 MB of raw data).
        #[arg(long, default_value_t = 0.1)]
        scale_factor: f64,
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: String,
        /// Where the web catalog (and /health, /metrics) is served.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_listen: String,
        /// Generate the data and configuration, then exit without serving (a container image
        /// does this at build time, so a container answers as soon as it starts).
        #[arg(long)]
        prepare_only: bool,
    },
    /// Serve the mesh described by a configuration file.
    Serve {
        #[arg(long, default_value = "conf/meshgate.toml")]
        config: PathBuf,
    },
    /// Validate a configuration and every domain file it names; exit non-zero on the first error.
    Check {
        #[arg(long, default_value = "conf/meshgate.toml")]
        config: PathBuf,
    },
    /// Run an Apache DataFusion Ballista scheduler, the one `[cluster] scheduler` names.
    Scheduler {
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: String,
        /// Executors poll for tasks (start them with --pull-tasks too); by default the
        /// scheduler sends them, which lets a cancel stop running tasks.
        #[arg(long)]
        pull_tasks: bool,
        /// Seconds without a heartbeat before an executor is counted lost and its running
        /// tasks are run again on the others (default: 30, or 180 with --pull-tasks, whose
        /// executors report only between tasks). Keep it several heartbeats long.
        #[arg(long)]
        executor_timeout: Option<u64>,
        /// `host:port` executors reach this scheduler by, to report their tasks (default: the
        /// --listen address, or this host's name when that is a wildcard such as 0.0.0.0).
        #[arg(long)]
        external_address: Option<String>,
    },
    /// Run a Ballista executor that reads the domains of this configuration with their
    /// credentials; it registers with the scheduler and runs the tasks it is given.
    Executor {
        #[arg(long, default_value = "conf/meshgate.toml")]
        config: PathBuf,
        /// The scheduler, `host:port` (default: `[cluster] scheduler` of the configuration).
        #[arg(long)]
        scheduler: Option<String>,
        /// Address the executor's services bind to.
        #[arg(long, default_value = "127.0.0.1")]
        bind_host: String,
        /// The host name others reach it by (default: the bind address).
        #[arg(long)]
        external_host: Option<String>,
        /// Its Flight port: result partitions and shuffles are read from it.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (0: one per core).
        #[arg(long, default_value_t = 0)]
        concurrent_tasks: usize,
        /// Where shuffle files go (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Poll the scheduler for tasks (a scheduler started with --pull-tasks).
        #[arg(long)]
        pull_tasks: bool,
        /// Seconds between heartbeats to the scheduler (pushed tasks).
        #[arg(long, default_value_t = meshgate::cluster::DEFAULT_HEARTBEAT_SECS)]
        heartbeat_interval: u64,
    },
    /// Read a password on standard input and print its SCRAM-SHA-256 verifier for `users.password`.
    Passwd {
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
}

/// What the log shows unless `MESHGATE_LOG` says otherwise.
const DEFAULT_LOG_FILTER: &str = "info,buoyant_kernel=warn,buoyant_kernel::log_segment=off,\
     buoyant_kernel::snapshot=off,deltalake=warn,deltalake_core=warn,iceberg=warn";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MESHGATE_LOG")
        // Library chatter (delta-kernel scan events…) stays out of an operator's log by default.
        // The kernel's log-segment and snapshot builders log every error they return at ERROR,
        // including the expected "No files in log segment" when delta-rs asks whether a table a
        // write is about to create exists; errors that matter reach meshgate as results and are
        // logged here.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let json = std::env::var("MESHGATE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a terminal: a log file or collector gets plain lines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Passwd { iterations } => {
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_err()
                || line.trim_end_matches(['\r', '\n']).is_empty()
            {
                eprintln!("meshgate passwd: give the password on standard input");
                return ExitCode::FAILURE;
            }
            println!(
                "{}",
                ScramVerifier::generate(line.trim_end_matches(['\r', '\n']), iterations.max(4096))
            );
            ExitCode::SUCCESS
        }
        // Plain validation, then what the server would build from it (TLS material, JWT keys).
        Command::Check { config } => match Config::load(&config).and_then(|c| {
            meshgate::tls::install_crypto_provider();
            meshgate::auth::Credentials::build(&c).map(|_| c)
        }) {
            Ok(c) => {
                let tables: usize = c
                    .domains
                    .iter()
                    .flat_map(|d| &d.products)
                    .map(|p| p.tables.len())
                    .sum();
                let products: usize = c.domains.iter().map(|d| d.products.len()).sum();
                println!(
                    "{}: ok ({} domains, {products} data products, {tables} tables, {} users)",
                    config.display(),
                    c.domains.len(),
                    c.users.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => {
            init_logging();
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            run_server(config, None)
        }
        Command::Scheduler {
            listen,
            pull_tasks,
            executor_timeout,
            external_address,
        } => {
            init_logging();
            run_until_signal(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                let opts = meshgate::cluster::SchedulerOptions {
                    tasks: tasks(pull_tasks),
                    executor_timeout_secs: executor_timeout,
                    external_address,
                };
                meshgate::cluster::start_scheduler_with(listener, opts).await?;
                shutdown_signal().await;
                Ok(())
            })
        }
        Command::Executor {
            config,
            scheduler,
            bind_host,
            external_host,
            port,
            grpc_port,
            concurrent_tasks,
            work_dir,
            pull_tasks,
            heartbeat_interval,
        } => {
            init_logging();
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let Some(scheduler) = scheduler.or_else(|| config.cluster.scheduler.clone()) else {
                eprintln!("meshgate executor: give --scheduler or [cluster] scheduler in the configuration");
                return ExitCode::FAILURE;
            };
            let opts = meshgate::cluster::ExecutorOptions {
                scheduler,
                bind_host,
                external_host,
                port,
                grpc_port,
                concurrent_tasks,
                work_dir,
                tasks: tasks(pull_tasks),
                heartbeat_secs: heartbeat_interval,
            };
            run_until_signal(async move { meshgate::cluster::run_executor(&config, opts).await })
        }
        Command::Demo {
            dir,
            scale_factor,
            listen,
            http_listen,
            prepare_only,
        } => {
            init_logging();
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let prepared = rt.block_on(prepare_demo(&dir, scale_factor, &listen, &http_listen));
            drop(rt);
            match prepared {
                Ok(_) if prepare_only => {
                    eprintln!("demo mesh prepared under {}", dir.display());
                    ExitCode::SUCCESS
                }
                Ok((config, banner)) => run_server(config, Some(banner)),
                Err(e) => {
                    eprintln!("demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Generates the demo mesh (once per directory and scale factor) and its meshgate.toml with a
/// `demo` user whose random password is kept beside it.
async fn prepare_demo(
    dir: &Path,
    sf: f64,
    listen: &str,
    http_listen: &str,
) -> Result<(Config, String), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let dir = std::path::absolute(dir)?;
    eprintln!(
        "generating TPC-H at scale factor {sf} under {} (skipped when already there)…",
        dir.display()
    );
    let started = std::time::Instant::now();
    let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
        dir: dir.clone(),
        scale_factor: sf,
    })
    .await?;
    eprintln!("mesh ready in {:.1}s", started.elapsed().as_secs_f64());
    let password_file = dir.join("demo-password");
    let password = match std::fs::read_to_string(&password_file) {
        Ok(p) if !p.trim().is_empty() => p.trim().to_string(),
        _ => {
            use rand::Rng;
            let p: String = rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(16)
                .map(char::from)
                .collect();
            std::fs::write(&password_file, &p)?;
            p
        }
    };
    let verifier = ScramVerifier::generate(&password, DEFAULT_ITERATIONS);
    // Three users show the policy model: an admin, an analyst (no supply product) and a
    // regional analyst (European customers only, phone numbers masked). One password for all.
    let toml = format!(
        "# Written by `meshgate demo`.\n[server]\nlisten = \"{listen}\"\ndatabase = \"mesh\"\n\
         http_listen = \"{http_listen}\"\nweb_url = \"http://{http_listen}\"\n\n\
         [[users]]\nname = \"demo\"\npassword = \"{verifier}\"\nadmin = true\n\n\
         [[users]]\nname = \"ana\"\npassword = \"{verifier}\"\nroles = [\"analyst\"]\n\n\
         [[users]]\nname = \"rita\"\npassword = \"{verifier}\"\nroles = [\"regional\"]\nattributes = {{ region = \"EUROPE\" }}\n\n\
         {roles}\n[domains]\ndir = \"domains\"\n",
        roles = meshgate_demo::ROLES_TOML
    );
    let conf_path = layout.conf_dir.join("meshgate.toml");
    std::fs::write(&conf_path, toml)?;
    // A writable product for dbt: what analysts build lands in the analytics domain's storage.
    let analytics_root = dir.join("data").join("analytics");
    std::fs::create_dir_all(&analytics_root)?;
    let analytics = format!(
        r#"# Written by `meshgate demo`: a domain whose product the analysts build with dbt.
name = "analytics"
description = "Derived data products built by the analysts"
owners = ["analytics-team"]

[storage]
root = {root:?}

[[products]]
name = "workspace"
description = "Models the analysts build from the other domains' products (dbt schema: workspace)"
owner = "analytics-team"
writable = true

[[grants]]
product = "workspace"
to = ["analyst"]
privilege = "write"
"#,
        root = analytics_root.display().to_string()
    );
    std::fs::write(
        layout.conf_dir.join("domains").join("analytics.toml"),
        analytics,
    )?;
    let config = Config::load(&conf_path)?;
    let port = listen.rsplit(':').next().unwrap_or("5433");
    let host = listen
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    let banner = format!(
        "\nmeshgate demo is serving {} data products on {listen}.\nConnect with:\n\n  PGPASSWORD={password} psql \"host={host} port={port} user=demo dbname=mesh\"\n\nthen try: SELECT count(*) FROM sales.lineitem;  (password: {password})\n\
         Users `ana` (an analyst: no supply product) and `rita` (regional: European customers, masked phones) share the password;\n\
         SELECT * FROM mesh.my_grants shows what each may read; analysts (ana) may build tables and views in `workspace` (dbt).\n\
         Browse the catalog of the mesh at http://{http_listen}/ (sign in as any of them).\n",
        config.domains.iter().map(|d| d.products.len()).sum::<usize>()
    );
    Ok((config, banner))
}

fn tasks(pull: bool) -> meshgate::cluster::Tasks {
    if pull {
        meshgate::cluster::Tasks::Pull
    } else {
        meshgate::cluster::Tasks::Push
    }
}

/// Runs a cluster member on a runtime of its own; its error, if any, ends the process.
fn run_until_signal(work: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(config: Config, banner: Option<String>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("meshgate-net")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listen = config.server.listen.clone();
    let result = rt.block_on(async move {
        meshgate::tls::install_crypto_provider();
        let server = meshgate::server::Server::new(config).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        if let Some(b) = banner {
            println!("{b}");
        }
        tracing::info!("listening on {listen}");
        tokio::spawn(reload_on_sighup(server.clone()));
        meshgate::serve_with(listener, server, shutdown_signal()).await;
        Ok::<(), String>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT (drain); a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down: draining sessions (signal again to exit at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(1);
    });
}

/// SIGHUP re-reads the configuration; an invalid one is logged and the running one kept.
async fn reload_on_sighup(server: std::sync::Arc<meshgate::server::Server>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reload with SELECT pg_reload_conf()");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading configuration");
        let _ = server.reload();
    }
}
