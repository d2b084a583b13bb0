//! `fjq serve`: the Arrow Flight SQL server for notebook users (design/INTERFACES.md), and
//! `fjq user add`, which keeps its users file.
//!
//! One engine serves every client; each query gets a memory pool of its own
//! (`--query-memory-limit`). The disclosure policy defaults to `safe` here: anything fetched over
//! the network is leaving. Binding to anything but loopback needs users and TLS.

pub mod auth;
mod flight;
mod flight_sql;
pub mod metadata;
pub mod service;

use anyhow::Context;
use arrow_flight::flight_service_server::FlightServiceServer;
use fjq_engine::{Engine, EngineConfig, Policy};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest gRPC message either way: batches are split to about 2 MB by the encoder, so this
/// only has to fit a wide batch or a large parameter set.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory; default: the built-in sample.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    /// Users file written by `fjq user add`; without it (loopback only) no login is asked.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Disclosure policy for every client: `safe` (the default here) or `open`.
    #[arg(long, default_value = "safe", value_name = "open|safe")]
    pub policy: Policy,
    /// Where safe releases and their log go.
    #[arg(long, value_name = "DIR", default_value = "fjq-releases")]
    pub release_dir: PathBuf,
    /// Memory for all queries together; operators spill beyond it.
    #[arg(long, value_name = "SIZE", default_value = "4G")]
    pub memory_limit: String,
    /// Memory for each query, within --memory-limit; a query beyond it spills or fails alone.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub query_memory_limit: String,
    /// Queries running at once (the others wait); default: twice the cores.
    #[arg(long, value_name = "N")]
    pub max_running: Option<usize>,
    /// TLS certificate (PEM); with --tls-key, clients connect with grpc+tls://.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum UserAction {
    /// Add a user (or change their password); the password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

pub fn user(args: &UserArgs) -> anyhow::Result<()> {
    match &args.action {
        UserAction::Add { name, users } => {
            use std::io::{BufRead, IsTerminal};
            if std::io::stdin().is_terminal() {
                eprint!("Password for {name}: ");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            let replaced = auth::add_user(name, users, password)?;
            eprintln!(
                "{} {name} in {}",
                if replaced {
                    "Changed the password of"
                } else {
                    "Added"
                },
                users.display()
            );
            Ok(())
        }
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let users = match &args.users {
        Some(path) => Some(auth::Users::load(path)?),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = std::fs::read(cert)
                .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
            let key = std::fs::read(key)
                .with_context(|| format!("cannot read the TLS key {}", key.display()))?;
            Some(
                tonic::transport::ServerTlsConfig::new()
                    .identity(tonic::transport::Identity::from_pem(cert, key)),
            )
        }
        _ => None,
    };
    if !args.addr.ip().is_loopback() {
        if users.as_ref().is_none_or(|u| u.is_empty()) {
            anyhow::bail!(
                "refusing to listen on {} without users: add some with `fjq user add NAME --users FILE` and pass --users FILE (or listen on 127.0.0.1)",
                args.addr
            );
        }
        if tls.is_none() {
            anyhow::bail!(
                "refusing to listen on {} without TLS: pass --tls-cert and --tls-key (or listen on 127.0.0.1)",
                args.addr
            );
        }
    }
    if users.as_ref().is_some_and(|u| u.is_empty()) {
        anyhow::bail!(
            "the users file lists no users: add one with `fjq user add NAME --users FILE`"
        );
    }
    let data = match &args.data {
        Some(dir) => dir.clone(),
        None => crate::default_data::ensure()?,
    };
    let memory_limit = Some(fjq_engine::parse_memory_size(&args.memory_limit)?);
    let query_memory = fjq_engine::parse_memory_size(&args.query_memory_limit)?;
    let engine = Engine::open(
        &data,
        EngineConfig {
            memory_limit,
            policy: args.policy,
            release_dir: Some(args.release_dir.clone()),
            ..EngineConfig::default()
        },
    )
    .await
    .with_context(|| format!("cannot open the dataset at {}", data.display()))?;

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let user_count = users.as_ref().map_or(0, |u| u.len());
    let max_running = args
        .max_running
        .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(2, |n| n.get()));
    let service = service::FjqFlightSql::new(engine, users, Some(query_memory), max_running);
    let server = FlightServiceServer::new(flight::FjqFlight(std::sync::Arc::new(service)))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls.clone() {
        builder = builder
            .tls_config(tls)
            .context("invalid TLS certificate or key")?;
    }
    println!(
        "fjq serve: listening on {}://{local} (policy {}, {}, dataset {})",
        if tls.is_some() { "grpc+tls" } else { "grpc" },
        args.policy,
        if user_count == 0 {
            "no login".to_string()
        } else {
            format!("{user_count} users")
        },
        data.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    builder
        .add_service(server)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("fjq serve: stopping");
        })
        .await
        .context("the server stopped")?;
    Ok(())
}
