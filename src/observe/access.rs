//! Access logs in `log_format`, buffered per worker thread.

use crate::config::{Escape, LogFormat};
use crate::vars::{Part, VarSource};
use arc_swap::ArcSwap;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// An open access log file, shared by every worker and kept across reloads for one path.
pub struct LogFile {
    pub path: PathBuf,
    file: ArcSwap<File>,
}

/// Flush a worker's buffer for a file once it holds this much.
const BUF_LIMIT: usize = 32 * 1024;

static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<LogFile>>>> = OnceLock::new();

thread_local! {
    static BUFS: RefCell<Vec<(Arc<LogFile>, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// The shared handle for `path`, opening it if no live generation has it open.
    pub fn get(path: &Path) -> std::io::Result<Arc<LogFile>> {
        let reg = REGISTRY.get_or_init(Default::default);
        let mut map = reg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get(path).and_then(Weak::upgrade) {
            return Ok(f);
        }
        let f = Arc::new(LogFile {
            path: path.to_path_buf(),
            file: ArcSwap::from_pointee(open(path)?),
        });
        map.insert(path.to_path_buf(), Arc::downgrade(&f));
        Ok(f)
    }

    /// Reopens every open access log (SIGUSR1), after the caller flushed buffers.
    pub fn reopen_all() {
        let Some(reg) = REGISTRY.get() else { return };
        let map = reg.lock().unwrap_or_else(|e| e.into_inner());
        for f in map.values().filter_map(Weak::upgrade) {
            if let Ok(nf) = open(&f.path) {
                f.file.store(Arc::new(nf));
            }
        }
    }

    /// Appends a line to this worker's buffer for the file.
    pub fn write_line(self: &Arc<Self>, line: &[u8]) {
        BUFS.with(|b| {
            let mut bufs = b.borrow_mut();
            let idx = match bufs.iter().position(|(f, _)| Arc::ptr_eq(f, self)) {
                Some(i) => i,
                None => {
                    bufs.push((self.clone(), Vec::with_capacity(BUF_LIMIT)));
                    bufs.len() - 1
                }
            };
            let (f, buf) = &mut bufs[idx];
            buf.extend_from_slice(line);
            if buf.len() >= BUF_LIMIT {
                let _ = f.file.load().as_ref().write_all(buf);
                buf.clear();
            }
        });
    }
}

/// Writes out this worker's buffered access log lines.
pub fn flush_access_logs() {
    BUFS.with(|b| {
        let mut bufs = b.borrow_mut();
        for (f, buf) in bufs.iter_mut() {
            if !buf.is_empty() {
                let _ = f.file.load().as_ref().write_all(buf);
                buf.clear();
            }
        }
        // Drop handles of files no generation uses any more.
        bufs.retain(|(f, _)| Arc::strong_count(f) > 1);
    });
}

/// Renders one access log line (with the trailing newline).
pub fn format_access_line(fmt: &LogFormat, src: &dyn VarSource) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for p in &fmt.value.parts {
        match p {
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Part::Var(v) => match src.var(v) {
                Some(val) => escape(fmt.escape, val.as_bytes(), &mut out),
                None => {
                    if fmt.escape != Escape::Json {
                        out.push(b'-');
                    }
                }
            },
        }
    }
    out.push(b'\n');
    out
}

fn escape(mode: Escape, s: &[u8], out: &mut Vec<u8>) {
    match mode {
        Escape::None => out.extend_from_slice(s),
        Escape::Default => {
            for &c in s {
                if c == b'"' || c == b'\\' || !(0x20..=0x7e).contains(&c) {
                    out.extend_from_slice(format!("\\x{c:02X}").as_bytes());
                } else {
                    out.push(c);
                }
            }
        }
        Escape::Json => {
            for &c in s {
                match c {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
                    c => out.push(c),
                }
            }
        }
    }
}
