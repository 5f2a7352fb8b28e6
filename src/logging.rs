//! Where the process's log lines go and in which shape: text for people
//! (the default), or one JSON object per line for log pipelines with
//! `ONROLL_LOG_FORMAT=json` (tracing-subscriber's JSON format, with the
//! current span and its parents, so each line of a request carries its
//! `request_id`). Levels come from `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The variable that picks the format: `text` (default) or `json`.
pub const FORMAT_ENV: &str = "ONROLL_LOG_FORMAT";

/// A format this build does not write.
#[derive(Debug, thiserror::Error)]
#[error("{FORMAT_ENV}={0:?} is not a log format: use `text` (the default) or `json`")]
pub struct UnknownFormat(String);

/// The log lines' shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// Reads [`FORMAT_ENV`]; unset or empty is text.
    pub fn from_env() -> Result<Self, UnknownFormat> {
        match std::env::var(FORMAT_ENV).unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// Installs the process's subscriber, writing to stderr; `default` is the
/// filter when `RUST_LOG` is unset.
pub fn init(default: &str) -> Result<(), UnknownFormat> {
    let format = Format::from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second subscriber (a test that already installed one) is not an error.
    let _ = match format {
        Format::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
        Format::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
    Ok(())
}
