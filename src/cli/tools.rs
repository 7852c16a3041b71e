//! `openclaw repl` and `openclaw test`: flags, and the session they run in (the
//! configuration's engine plus in-process requests through its pipeline).

use crate::config::LoadOptions;
use crate::lua::{Exchange, LuaEngine, Requests, Session, ToolHost, ToolRequest};
use crate::server::Harness;
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// Builds sessions from the configuration named on the command line (none: a bare VM).
struct CliHost {
    opts: Option<LoadOptions>,
    /// Generation numbers for reloads.
    next_id: Cell<u64>,
}

struct HarnessRequests(Harness);

impl Requests for HarnessRequests {
    fn request(&self, req: &ToolRequest) -> Result<Exchange, String> {
        self.0.request(req)
    }

    fn phases(&self, host: Option<&str>, path: &str) -> Result<Vec<String>, String> {
        crate::server::describe_phases(&self.0.generation(), host, path)
    }
}

impl ToolHost for CliHost {
    fn open(&self) -> Result<Session, String> {
        let Some(opts) = &self.opts else {
            return Ok(Session {
                engine: None,
                requests: None,
            });
        };
        let config = Arc::new(crate::config::load(opts).map_err(|e| e.to_string())?);
        let engine = LuaEngine::for_tools(&config).map_err(|e| e.to_string())?;
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let gen = crate::server::generation_with(id, config, engine.clone())
            .map_err(|e| e.to_string())?;
        let harness = Harness::new(gen)?;
        Ok(Session {
            engine,
            requests: Some(Rc::new(HarnessRequests(harness))),
        })
    }

    fn describe(&self) -> Option<String> {
        self.opts
            .as_ref()
            .map(|o| o.prefix.join(&o.conf_file).display().to_string())
    }
}

/// `openclaw repl [-p PREFIX] [-c CONF]` and `openclaw test [-p PREFIX] [-c|--config CONF]
/// [PATH...]` (default `spec/`); with -p or -c the configuration is loaded.
pub fn main(tool: &str, argv: &[String]) -> i32 {
    let mut flags = vec![];
    let mut paths = vec![];
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" | "-c" | "--config" | "--prefix" => {
                let Some(v) = it.next() else {
                    eprintln!("openclaw: option \"{a}\" requires a value");
                    return 1;
                };
                flags.push(if a.starts_with("--c") {
                    "-c".to_string()
                } else if a.starts_with("--p") {
                    "-p".to_string()
                } else {
                    a.clone()
                });
                flags.push(v.clone());
            }
            _ if tool == "test" && !a.starts_with('-') => paths.push(PathBuf::from(a)),
            _ => {
                eprintln!("openclaw: invalid option: \"{a}\"");
                return 1;
            }
        }
    }
    let opts = if flags.is_empty() {
        None
    } else {
        match super::Args::parse(&flags) {
            Ok(a) => Some(LoadOptions {
                prefix: a.prefix.clone(),
                conf_file: a.conf.clone(),
                globals: None,
                error_log: None,
            }),
            Err(msg) => {
                eprintln!("openclaw: {msg}");
                return 1;
            }
        }
    };
    let host = CliHost {
        opts,
        next_id: Cell::new(1),
    };
    if tool == "repl" {
        return crate::lua::repl(&host);
    }
    if paths.is_empty() {
        paths.push(PathBuf::from("spec"));
    }
    crate::lua::run_specs(&paths, &host)
}
