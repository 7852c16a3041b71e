//! The one error type of OpenClaw.
//!
//! Every failure carries a [`Kind`] (what went wrong), a [`Source`] (whose fault it is) and a
//! context message. Only the pipeline turns an error into an HTTP status, through
//! [`Error::status`].

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The configuration is invalid; the message already names file:line like nginx.
    Config,
    /// The downstream request is malformed or violates a limit; carries the HTTP status.
    BadRequest(u16),
    /// An I/O failure (files, sockets).
    Io,
    /// A bug or an impossible state; answered with 500.
    Internal,
}

/// Whose side the failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Downstream,
    Upstream,
    Internal,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub source: Source,
    pub retryable: bool,
    pub context: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A configuration error; `msg` is the full nginx-style message incl. ` in file:line`.
    pub fn config(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Config,
            source: Source::Internal,
            retryable: false,
            context: msg.into(),
        }
    }

    pub fn bad_request(status: u16, msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::BadRequest(status),
            source: Source::Downstream,
            retryable: false,
            context: msg.into(),
        }
    }

    pub fn io(msg: impl Into<String>, err: &std::io::Error) -> Self {
        Error {
            kind: Kind::Io,
            source: Source::Internal,
            retryable: false,
            context: format!(
                "{} ({}: {})",
                msg.into(),
                err.raw_os_error().unwrap_or(0),
                strerror(err)
            ),
        }
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Error {
            kind: Kind::Internal,
            source: Source::Internal,
            retryable: false,
            context: msg.into(),
        }
    }

    /// The HTTP status this error answers with; the one place errors become statuses.
    pub fn status(&self) -> u16 {
        match self.kind {
            Kind::BadRequest(s) => s,
            Kind::Config | Kind::Io | Kind::Internal => 500,
        }
    }
}

/// The OS error text without Rust's " (os error N)" suffix, as nginx prints it.
pub fn strerror(err: &std::io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl std::error::Error for Error {}
