//! Logs: the error log in nginx's line format (unbuffered, one write per line) and access
//! logs (per-worker buffers flushed at least every second, on stop and on reopen).

mod access;
mod errlog;

pub use access::{flush_access_logs, format_access_line, LogFile};
pub use errlog::{
    begin_capture, configure_error_ring, end_capture, error_log, error_log_level, init_error_log,
    log, log_enabled, reopen_error_log, set_error_ring_filter, set_worker_id, take_error_ring,
    worker_id, OwnedReqInfo, ReqInfo,
};

/// nginx's log levels, most verbose first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Crit,
    Alert,
    Emerg,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "notice" => Level::Notice,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "crit" => Level::Crit,
            "alert" => Level::Alert,
            "emerg" => Level::Emerg,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Crit => "crit",
            Level::Alert => "alert",
            Level::Emerg => "emerg",
        }
    }
}
