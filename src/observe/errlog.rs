//! The error log: `2026/11/28 12:00:00 [error] 1234#0: *7 message, client: ...`.

use super::Level;
use crate::config::LogTarget;
use arc_swap::ArcSwap;
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, OnceLock};

struct Sink {
    level: Level,
    target: LogTarget,
    file: Option<File>,
}

static SINK: OnceLock<ArcSwap<Sink>> = OnceLock::new();

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
    /// While set, this thread's lines at or above the level are collected here instead of
    /// written (the REPL's `:req` and `openclaw.test.request` show them per request).
    static CAPTURE: std::cell::RefCell<Option<(Level, Vec<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `lua_capture_error_log SIZE`: the last error log lines, kept for `ngx.errlog.get_logs`
/// (oldest dropped first once SIZE bytes are used).
struct Ring {
    cap: usize,
    used: usize,
    /// Only lines at this level or more severe (`ngx.errlog.set_filter_level`).
    filter: Level,
    lines: std::collections::VecDeque<(Level, f64, String)>,
}

static RING: std::sync::Mutex<Option<Ring>> = std::sync::Mutex::new(None);
/// Whether RING holds a buffer: log lines skip its lock when none is configured.
static RING_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets up (Some size) or removes (None) the capture buffer; a same-size buffer keeps its
/// lines and filter across reloads.
pub fn configure_error_ring(size: Option<usize>) {
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    RING_ON.store(size.is_some(), std::sync::atomic::Ordering::Relaxed);
    match size {
        None => *r = None,
        Some(cap) if r.as_ref().is_some_and(|x| x.cap == cap) => {}
        Some(cap) => {
            *r = Some(Ring {
                cap,
                used: 0,
                filter: Level::Debug,
                lines: Default::default(),
            })
        }
    }
}

/// Takes up to `max` captured lines, oldest first: (level, seconds since the epoch, line).
/// None when no buffer is configured.
pub fn take_error_ring(max: usize) -> Option<Vec<(Level, f64, String)>> {
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    let ring = r.as_mut()?;
    let n = max.min(ring.lines.len());
    let out: Vec<_> = ring.lines.drain(..n).collect();
    ring.used -= out.iter().map(|(_, _, l)| l.len()).sum::<usize>();
    Some(out)
}

/// `ngx.errlog.set_filter_level`; false when no buffer is configured.
pub fn set_error_ring_filter(level: Level) -> bool {
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    match r.as_mut() {
        Some(ring) => {
            ring.filter = level;
            true
        }
        None => false,
    }
}

/// The error log's level (`ngx.errlog.get_sys_filter_level`).
pub fn error_log_level() -> Level {
    SINK.get().map(|s| s.load().level).unwrap_or(Level::Error)
}

fn ring_push(level: Level, line: &str) {
    if !RING_ON.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut r = RING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(ring) = r.as_mut() else {
        return;
    };
    if level < ring.filter || line.len() > ring.cap {
        return;
    }
    while ring.used + line.len() > ring.cap {
        match ring.lines.pop_front() {
            Some((_, _, old)) => ring.used -= old.len(),
            None => break,
        }
    }
    let now = crate::clock::since_epoch().as_secs_f64();
    ring.used += line.len();
    ring.lines.push_back((level, now, line.to_string()));
}

/// Collects this thread's error log lines at `level` and above until [`end_capture`].
pub fn begin_capture(level: Level) {
    CAPTURE.with(|c| *c.borrow_mut() = Some((level, vec![])));
}

/// Stops collecting; returns the lines collected (without their newlines).
pub fn end_capture() -> Vec<String> {
    CAPTURE
        .with(|c| c.borrow_mut().take())
        .map(|(_, lines)| lines)
        .unwrap_or_default()
}

fn captured_level() -> Option<Level> {
    CAPTURE.with(|c| c.borrow().as_ref().map(|(l, _)| *l))
}

/// Tags this thread's log lines with `pid#N`.
pub fn set_worker_id(id: usize) {
    WORKER.with(|w| w.set(id));
}

/// This thread's worker number (1-based; 0 for the main thread).
pub fn worker_id() -> usize {
    WORKER.with(|w| w.get())
}

fn open(target: &LogTarget) -> std::io::Result<Option<File>> {
    match target {
        LogTarget::Stderr => Ok(None),
        LogTarget::File(p) => {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(Some)
        }
    }
}

/// Opens (or switches to) the error log. On failure the previous sink stays.
pub fn init_error_log(target: &LogTarget, level: Level) -> std::io::Result<()> {
    let file = open(target)?;
    let sink = Arc::new(Sink {
        level,
        target: target.clone(),
        file,
    });
    match SINK.get() {
        Some(s) => s.store(sink),
        None => {
            let _ = SINK.set(ArcSwap::new(sink));
        }
    }
    Ok(())
}

/// Reopens the current error log file (SIGUSR1).
pub fn reopen_error_log() {
    if let Some(s) = SINK.get() {
        let cur = s.load();
        if let Ok(file) = open(&cur.target) {
            s.store(Arc::new(Sink {
                level: cur.level,
                target: cur.target.clone(),
                file,
            }));
        }
    }
}

/// The current error log target, if one is open.
pub fn error_log() -> Option<LogTarget> {
    SINK.get().map(|s| s.load().target.clone())
}

pub fn log_enabled(level: Level) -> bool {
    if let Some(min) = captured_level() {
        return level >= min;
    }
    match SINK.get() {
        Some(s) => level >= s.load().level,
        None => level >= Level::Error,
    }
}

/// Request details appended to a log line, as nginx does.
pub struct ReqInfo<'a> {
    pub connection: u64,
    pub client: &'a str,
    pub server: &'a str,
    pub request: &'a str,
    pub upstream: Option<&'a str>,
    pub host: Option<&'a str>,
}

/// [`ReqInfo`] as owned data.
#[derive(Debug, Clone)]
pub struct OwnedReqInfo {
    pub connection: u64,
    pub client: String,
    pub server: String,
    pub request: String,
    pub upstream: Option<String>,
    pub host: Option<String>,
}

impl OwnedReqInfo {
    pub fn log(&self, level: Level, msg: &str) {
        let info = ReqInfo {
            connection: self.connection,
            client: &self.client,
            server: &self.server,
            request: &self.request,
            upstream: self.upstream.as_deref(),
            host: self.host.as_deref(),
        };
        log(level, msg, Some(&info));
    }
}

/// Writes one line at `level`. Before the log is open, lines go to stderr.
pub fn log(level: Level, msg: &str, req: Option<&ReqInfo>) {
    let sink = SINK.get().map(|s| s.load_full());
    let capturing = captured_level();
    let min = capturing.unwrap_or(sink.as_ref().map(|s| s.level).unwrap_or(Level::Error));
    if level < min {
        return;
    }
    let now = chrono::Local::now().format("%Y/%m/%d %H:%M:%S");
    let pid = std::process::id();
    let tid = WORKER.with(|w| w.get());
    let mut line = match req {
        Some(r) => format!(
            "{now} [{}] {pid}#{tid}: *{} {msg}, client: {}, server: {}, request: \"{}\"",
            level.name(),
            r.connection,
            r.client,
            r.server,
            r.request
        ),
        None => format!("{now} [{}] {pid}#{tid}: {msg}", level.name()),
    };
    if let Some(u) = req.and_then(|r| r.upstream) {
        line.push_str(&format!(", upstream: \"{u}\""));
    }
    if let Some(h) = req.and_then(|r| r.host) {
        line.push_str(&format!(", host: \"{h}\""));
    }
    ring_push(level, &line);
    if capturing.is_some() {
        CAPTURE.with(|c| {
            if let Some((_, lines)) = c.borrow_mut().as_mut() {
                lines.push(line);
            }
        });
        return;
    }
    line.push('\n');
    match sink.as_ref().and_then(|s| s.file.as_ref()) {
        Some(mut f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}
