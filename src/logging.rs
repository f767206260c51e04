//! Log set-up: tracing-subscriber to stderr, `pretty` or `json`, filtered by `RUST_LOG`.

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The filter without `RUST_LOG`: this server at `info` (access lines included),
/// third-party crates at `warn` (flacenc, for one, logs statistics per encode at info),
/// symphonia off: it logs in its own words, without the file's name, once per probe
/// attempt or per skipped byte run ("probe reach EOF", dozens of "skipping junk" per
/// file), while the scan and the decode pool log each bad file once, naming it.
pub(crate) const DEFAULT_FILTER: &str = "warn,symphonia=off,auralis_server=info,auralis=info";

/// Installs the global subscriber, filtered by `RUST_LOG` or [`DEFAULT_FILTER`].
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    // Colours only for a terminal: a log file or a journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
