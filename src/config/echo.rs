//! The echo module (bundled with OpenResty): `echo`, `echo_duplicate`, `echo_flush`,
//! `echo_sleep`, `echo_location`, `echo_location_async`, `echo_exec`,
//! `echo_read_request_body`, `echo_request_body` as a location's content handler (run in
//! order), and the `echo_before_body` / `echo_after_body` filters.

use super::parser::Directive;
use super::{Builder, LocConf};
use crate::error::Result;
use crate::vars::Complex;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum EchoCmd {
    /// `echo [-n] [--] args...`: the arguments joined by spaces, then a newline unless -n.
    Echo {
        args: Vec<Complex>,
        newline: bool,
    },
    Duplicate {
        count: Complex,
        text: Complex,
    },
    /// Output is sent when the handler ends; a flush point changes nothing here.
    Flush,
    Sleep(Complex),
    /// `echo_location` and `echo_location_async`: a GET subrequest whose body is output
    /// in its place; an async one runs while the commands after it go on.
    Location {
        uri: Complex,
        args: Option<Complex>,
        concurrent: bool,
    },
    Exec {
        uri: Complex,
        args: Option<Complex>,
    },
    ReadRequestBody,
    RequestBody,
}

/// The echo directives of a location.
#[derive(Debug, Clone, Default)]
pub struct EchoConf {
    /// The content handler's commands (None: echo is not the content handler).
    pub cmds: Option<Arc<Vec<EchoCmd>>>,
    pub before: Vec<EchoText>,
    pub after: Vec<EchoText>,
}

/// An `echo_before_body`/`echo_after_body` text.
#[derive(Debug, Clone)]
pub struct EchoText {
    pub args: Vec<Complex>,
    pub newline: bool,
}

/// `echo`-style arguments: options first (`-n`; `--` ends them), then the texts.
fn echo_args(b: &mut Builder, d: &Directive) -> Result<(Vec<Complex>, bool)> {
    let mut newline = true;
    let mut i = 0;
    while let Some(a) = d.args.get(i) {
        match a.as_str() {
            "-n" => newline = false,
            "--" => {
                i += 1;
                break;
            }
            _ => break,
        }
        i += 1;
    }
    let mut args = vec![];
    for a in &d.args[i..] {
        args.push(b.complex(d, a)?);
    }
    Ok((args, newline))
}

fn uri_args(b: &mut Builder, d: &Directive) -> Result<(Complex, Option<Complex>)> {
    let uri = b.complex(d, &d.args[0])?;
    let args = match d.args.get(1) {
        Some(a) => Some(b.complex(d, a)?),
        None => None,
    };
    Ok((uri, args))
}

/// Parses one echo directive into `conf`.
pub fn apply(b: &mut Builder, conf: &mut LocConf, d: &Directive) -> Result<()> {
    let cmd = match d.name.as_str() {
        "echo_before_body" | "echo_after_body" => {
            let (args, newline) = echo_args(b, d)?;
            let list = if d.name == "echo_before_body" {
                &mut conf.echo.before
            } else {
                &mut conf.echo.after
            };
            list.push(EchoText { args, newline });
            return Ok(());
        }
        "echo" => {
            let (args, newline) = echo_args(b, d)?;
            EchoCmd::Echo { args, newline }
        }
        "echo_duplicate" => EchoCmd::Duplicate {
            count: b.complex(d, &d.args[0])?,
            text: b.complex(d, &d.args[1])?,
        },
        "echo_flush" => EchoCmd::Flush,
        "echo_sleep" => EchoCmd::Sleep(b.complex(d, &d.args[0])?),
        "echo_location" | "echo_location_async" => {
            let (uri, args) = uri_args(b, d)?;
            EchoCmd::Location {
                uri,
                args,
                concurrent: d.name == "echo_location_async",
            }
        }
        "echo_exec" => {
            let (uri, args) = uri_args(b, d)?;
            EchoCmd::Exec { uri, args }
        }
        "echo_read_request_body" => EchoCmd::ReadRequestBody,
        "echo_request_body" => EchoCmd::RequestBody,
        _ => return Ok(()),
    };
    Arc::make_mut(conf.echo.cmds.get_or_insert_with(Arc::default)).push(cmd);
    Ok(())
}

/// The echo directives' names.
pub const NAMES: &[&str] = &[
    "echo",
    "echo_duplicate",
    "echo_flush",
    "echo_sleep",
    "echo_location",
    "echo_location_async",
    "echo_exec",
    "echo_read_request_body",
    "echo_request_body",
    "echo_before_body",
    "echo_after_body",
];
