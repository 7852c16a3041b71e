//! headers-more (bundled with OpenResty): `more_set_headers`, `more_clear_headers`,
//! `more_set_input_headers`, `more_clear_input_headers`. Unlike `add_header`, they apply to
//! every status unless `-s` narrows them, replace what is there, and levels add up: the
//! outer levels' commands run before the inner ones'.

use super::parser::Directive;
use super::{Builder, LocConf};
use crate::error::Result;
use crate::vars::Complex;
use std::sync::Arc;

/// One directive: its filters and its headers, in order.
#[derive(Debug, Clone)]
pub struct MoreHeaders {
    /// `-s`: only these statuses (empty: any).
    pub statuses: Vec<u16>,
    /// `-t`: only these content types, lowercase, compared with the whole `Content-Type`
    /// value (empty: any). For input headers, the request's `Content-Type`.
    pub types: Vec<String>,
    /// `-a`: append instead of replacing.
    pub append: bool,
    /// `-r` (input): replace only headers that exist.
    pub replace_only: bool,
    pub ops: Vec<MoreOp>,
}

#[derive(Debug, Clone)]
pub struct MoreOp {
    /// Lowercase; for a `Name*` pattern, the part before the `*`.
    pub name: String,
    /// `Name*`: every header starting with `name` (clearing only).
    pub prefix: bool,
    /// None clears (`Name`, `Name:` or a clear directive); an empty result clears too.
    pub value: Option<Complex>,
}

/// Parses one of the four directives into `conf` (appended after the inherited ones).
pub fn apply(b: &mut Builder, conf: &mut LocConf, d: &Directive) -> Result<()> {
    let input = d.name.ends_with("_input_headers");
    let clear = d.name.starts_with("more_clear");
    let mut cmd = MoreHeaders {
        statuses: vec![],
        types: vec![],
        append: false,
        replace_only: false,
        ops: vec![],
    };
    let mut it = d.args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" if !input => {
                let list = it
                    .next()
                    .ok_or_else(|| d.err("the \"-s\" option needs a value"))?;
                for s in list.split_ascii_whitespace() {
                    match s.parse::<u16>() {
                        Ok(n) if (100..1000).contains(&n) => cmd.statuses.push(n),
                        _ => return Err(d.err(format!("invalid status code \"{s}\""))),
                    }
                }
            }
            "-t" => {
                let list = it
                    .next()
                    .ok_or_else(|| d.err("the \"-t\" option needs a value"))?;
                cmd.types.extend(
                    list.split_ascii_whitespace()
                        .map(|t| t.to_ascii_lowercase()),
                );
            }
            "-a" if !input && !clear => cmd.append = true,
            "-r" if input && !clear => cmd.replace_only = true,
            o if o.starts_with('-') && o.len() > 1 && !o.contains(':') => {
                return Err(d.err(format!("unknown option \"{o}\"")))
            }
            spec => {
                let (name, value) = match spec.split_once(':') {
                    Some((n, v)) => (n.trim(), v.trim_start()),
                    None => (spec.trim(), ""),
                };
                if name.is_empty() {
                    return Err(d.err(format!("invalid header name \"{spec}\"")));
                }
                let (name, prefix) = match name.strip_suffix('*') {
                    Some(p) => (p, true),
                    None => (name, false),
                };
                if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() && !prefix {
                    return Err(d.err(format!("invalid header name \"{name}\"")));
                }
                let value = if clear || value.is_empty() || prefix {
                    None
                } else {
                    Some(b.complex(d, value)?)
                };
                cmd.ops.push(MoreOp {
                    name: name.to_ascii_lowercase(),
                    prefix,
                    value,
                });
            }
        }
    }
    if cmd.ops.is_empty() {
        return Err(d.err(format!(
            "invalid number of arguments in \"{}\" directive",
            d.name
        )));
    }
    let list = if input {
        &mut conf.more_input_headers
    } else {
        &mut conf.more_headers
    };
    Arc::make_mut(list).push(cmd);
    Ok(())
}
