//! The `auralis-server` command line: `serve`, `scan DIR`, `token create|list|revoke`,
//! `user create|passwd|delete|list`, `config --print`, `doctor`.

mod user_cli;

use auralis_server::config::{Config, ConfigError, DriverChoice};
use auralis_server::library::tokens::Role;
use auralis_server::library::{Library, LibraryError, OpenError, demo, scan};
use auralis_server::logging::{self, LogFormat};
use auralis_server::runtime::boot;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "auralis-server",
    version,
    about = "Thread-per-core audio streaming server"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "pretty")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Flags shared by commands that build the effective config.
/// What the commands that only touch the data dir take (`scan`, `token`): the server's
/// own flags (listen, cores, driver, library) would mean nothing to them.
#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    /// TOML config file (defaults < file < AURALIS_<SECTION>__<KEY> env < flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (database, demo library).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    fn config_args(&self) -> ConfigArgs {
        ConfigArgs {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            listen: None,
            cores: None,
            driver: None,
            library: None,
        }
    }
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// TOML config file (defaults < file < AURALIS_<SECTION>__<KEY> env < flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Number of cores (default: every CPU in the allowed set).
    #[arg(long)]
    cores: Option<usize>,
    /// Data directory (database, demo library).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Event-loop driver.
    #[arg(long, value_enum)]
    driver: Option<DriverChoice>,
    /// Music folder to scan at start (default: a generated demo library in the data dir).
    #[arg(long)]
    library: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ConfigArgs),
    /// Scan a music folder into the library database, print the summary and exit.
    Scan {
        /// Folder to scan.
        dir: PathBuf,
        #[command(flatten)]
        args: StoreArgs,
    },
    /// Access tokens: create (shown once), list, revoke.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Users with passwords, for Subsonic apps: create, passwd, delete, list.
    User {
        #[command(subcommand)]
        action: user_cli::UserAction,
    },
    /// Check this host against the configuration (io_uring, CPUs, open files, locked
    /// memory, backlogs, port range, client-IP pinning) and print what to change.
    /// Exits 1 when a check fails.
    Doctor(ConfigArgs),
    /// Show configuration.
    Config {
        #[command(flatten)]
        args: ConfigArgs,
        /// Print the effective configuration as TOML.
        #[arg(long)]
        print: bool,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it (the only time it is shown).
    Create {
        /// `admin` or `listener` (not with --user: an API key has its user's role).
        #[arg(long, required_unless_present = "user", conflicts_with = "user")]
        role: Option<String>,
        /// A unique name for the holder.
        #[arg(long)]
        name: String,
        /// Make an API key acting as this user (Subsonic's `apiKey`, or a bearer
        /// token): its playlists, favorites and role are the user's.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        args: StoreArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        args: StoreArgs,
    },
    /// Revoke a token by name or id.
    Revoke {
        which: String,
        #[command(flatten)]
        args: StoreArgs,
    },
}

impl TokenAction {
    fn args(&self) -> &StoreArgs {
        match self {
            TokenAction::Create { args, .. }
            | TokenAction::List { args }
            | TokenAction::Revoke { args, .. } => args,
        }
    }
}

/// Why a command could not run; printed as `error: …` with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Password(#[from] user_cli::PasswordError),
    #[error("library.path {0} is not a folder")]
    NotAFolder(PathBuf),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("cannot create the demo library: {0}")]
    Demo(#[from] demo::DemoError),
    #[error("library scan failed: {0}")]
    Scan(#[from] scan::ScanError),
    #[error("cannot render the summary: {0}")]
    Summary(#[from] serde_json::Error),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("--role must be admin or listener, not {0:?}")]
    Role(String),
    #[error(
        "library.database_url needs --library (or library.path): a music folder every node sees at the same path, not each node's own demo library"
    )]
    SharedNeedsLibrary,
    /// Found before the (slow) demo generation, not after it.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// `token create | list | revoke`, against the data dir's database (a running server
/// sees the change at once: tokens are read per request).
fn token(action: TokenAction) -> Result<String, CliError> {
    let cfg = effective_config(&action.args().config_args())?;
    let lib = Library::open_shared(&cfg.server.data_dir, None, sharing(&cfg))?;
    match action {
        TokenAction::Create {
            role, name, user, ..
        } => {
            let (p, secret) = match (user, role) {
                (Some(user), _) => lib.create_api_key(&user, &name)?,
                (None, role) => {
                    let role = role.unwrap_or_default();
                    let role = Role::parse(&role).ok_or(CliError::Role(role))?;
                    lib.create_token(&name, role)?
                }
            };
            // Only the secret on stdout, so `TOKEN=$(auralis-server token create …)` works;
            // the advice goes to stderr.
            eprintln!(
                "token {} ({}, id {}): shown once, store it now; send it as `Authorization: Bearer <token>`",
                p.name,
                p.role.as_str(),
                p.id
            );
            Ok(secret)
        }
        TokenAction::List { .. } => Ok(serde_json::to_string_pretty(&lib.tokens()?)?),
        TokenAction::Revoke { which, .. } => {
            lib.revoke_token(&which)?;
            Ok(format!("revoked {which}"))
        }
    }
}

/// A data-dir command's outcome: its output on stdout, or its error on stderr (exit 1).
fn printed(result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `user create | passwd | delete | list`, against the data dir's database (a running
/// server sees the change at the next login).
fn user(action: user_cli::UserAction) -> Result<String, CliError> {
    let cfg = effective_config(&action.args().config_args())?;
    let lib = Library::open_shared(&cfg.server.data_dir, None, sharing(&cfg))?;
    user_cli::run(&lib, action)
}

fn effective_config(args: &ConfigArgs) -> Result<Config, ConfigError> {
    let mut cfg = Config::load(args.config.as_deref(), std::env::vars())?;
    let set = |cfg: &mut Config, key: &str, v: toml::Value| cfg.set("server", key, v);
    if let Some(l) = args.listen {
        set(&mut cfg, "listen", toml::Value::String(l.to_string()))?;
    }
    if let Some(c) = args.cores {
        set(&mut cfg, "cores", toml::Value::Integer(c as i64))?;
    }
    if let Some(d) = &args.data_dir {
        set(
            &mut cfg,
            "data_dir",
            toml::Value::String(d.display().to_string()),
        )?;
    }
    if let Some(l) = &args.library {
        cfg.set(
            "library",
            "path",
            toml::Value::String(l.display().to_string()),
        )?;
    }
    if let Some(d) = args.driver {
        let name = match d {
            DriverChoice::Auto => "auto",
            DriverChoice::IoUring => "io_uring",
            DriverChoice::Legacy => "legacy",
        };
        set(&mut cfg, "driver", toml::Value::String(name.into()))?;
    }
    Ok(cfg)
}

/// Opens the library and fills it: `--library` is scanned in the background (the server
/// answers at once); without it, the demo library is generated on first start and
/// scanned before serving, so the first command serves real audio.
fn prepare_library(cfg: &Config) -> Result<Arc<Library>, CliError> {
    port_free(cfg.server.listen)?;
    let lib = open_library(cfg)?;
    let busy = std::time::Duration::from_millis(cfg.library.busy_timeout_ms);
    lib.set_busy_timeout(busy)?;
    Ok(lib)
}

/// Fails at once when the listen address is taken (another server on the port), so
/// the user hears it before waiting for the demo library to be generated and scanned.
/// The probe socket is closed again; the cores bind their own group later.
fn port_free(addr: std::net::SocketAddr) -> Result<(), CliError> {
    if addr.port() == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| CliError::Listen { addr, source })
}

/// Whether the library is this node's alone or shared (`[library] database_url`).
fn sharing(cfg: &Config) -> auralis_server::library::Sharing<'_> {
    auralis_server::library::Sharing {
        database_url: cfg.library.database_url.as_deref(),
        node: &cfg.cluster.node,
        scan_policy: cfg.library.scan_policy(),
    }
}

fn open_library(cfg: &Config) -> Result<Arc<Library>, CliError> {
    let data_dir = &cfg.server.data_dir;
    match &cfg.library.path {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(CliError::NotAFolder(dir.clone()));
            }
            let lib = Library::open_shared(data_dir, Some(dir.clone()), sharing(cfg))?;
            lib.start_scan(dir.clone());
            Ok(lib)
        }
        None if cfg.library.database_url.is_some() => Err(CliError::SharedNeedsLibrary),
        None if demo::data_dir_has_other_tracks(data_dir, &data_dir.join("demo-library")) => {
            // A library scanned here before (`scan ~/Music`): serve it as it is rather
            // than adding the demo tones to it.
            tracing::info!(
                data_dir = %data_dir.display(),
                "no --library given: serving the library already in the data dir (pass --library DIR to rescan it)"
            );
            Ok(Library::open_shared(data_dir, None, sharing(cfg))?)
        }
        None => {
            let demo_dir = data_dir.join("demo-library");
            tracing::info!(dir = %demo_dir.display(), "no --library given: using the demo library");
            let root = demo::ensure(&demo_dir)?;
            let lib = Library::open_shared(data_dir, Some(root.clone()), sharing(cfg))?;
            scan::scan_blocking(&lib.writer, &root, &lib.scan, lib.scan_policy)?;
            Ok(lib)
        }
    }
}

/// Prints every check; exit 1 when one failed.
fn doctor(cfg: &Config) -> ExitCode {
    use auralis_server::doctor::{self, Verdict};
    let checks = doctor::run(cfg);
    for c in &checks {
        println!("{c}");
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    println!(
        "{} checks: {failed} failed, {warned} to improve",
        checks.len()
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Logs that the server is up, and prints one machine-readable line on stdout: tests
/// and scripts wait for it.
fn announce(s: &boot::Started) {
    tracing::info!(addr = %s.local_addr, cores = s.cores, driver = ?s.driver, pinning = ?s.pinning, "listening");
    let redirect = s
        .redirect_addr
        .map(|a| format!(" redirect={a}"))
        .unwrap_or_default();
    println!(
        "auralis-server listening on {} cores={}{redirect}",
        s.local_addr, s.cores
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Config { args, print } => match effective_config(&args) {
            Ok(cfg) => {
                if print {
                    print!("{}", cfg.to_toml());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Doctor(args) => match effective_config(&args) {
            Ok(cfg) => doctor(&cfg),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::User { action } => printed(user(action)),
        Command::Token { action } => printed(token(action)),
        Command::Scan { dir, args } => {
            let run = || -> Result<String, CliError> {
                let cfg = effective_config(&args.config_args())?;
                let lib =
                    Library::open_shared(&cfg.server.data_dir, Some(dir.clone()), sharing(&cfg))?;
                scan::scan_blocking(&lib.writer, &dir, &lib.scan, lib.scan_policy)?;
                let progress = lib.scan.lock().map(|p| p.clone()).unwrap_or_default();
                Ok(serde_json::to_string_pretty(&progress)?)
            };
            match run() {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve(args) => {
            let cfg = match effective_config(&args) {
                Ok(cfg) => cfg,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let library = match prepare_library(&cfg) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            let result = boot::run(
                cfg,
                Some(library),
                auralis_server::server::pipeline,
                announce,
            );
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
