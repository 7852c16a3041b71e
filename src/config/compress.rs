//! `gzip*`, `brotli*` and `zstd*` settings (nginx's gzip module and the usual brotli and
//! zstd modules' directive names).

use super::values;
use super::{Directive, LocConf};
use crate::error::Result;
use crate::re::Regex;
use std::sync::Arc;

/// One coding's settings.
#[derive(Debug, Clone)]
pub struct Codec {
    pub on: bool,
    /// MIME types (lowercase); `*` is any. `text/html` is always included.
    pub types: Vec<String>,
    pub level: i32,
    pub min_length: u64,
}

impl Codec {
    fn new(level: i32) -> Codec {
        Codec {
            on: false,
            types: vec!["text/html".into()],
            level,
            min_length: 20,
        }
    }

    /// Whether a response of `ctype` is compressed with this coding.
    pub fn wants(&self, ctype: &str) -> bool {
        ctype == "text/html" || self.types.iter().any(|t| t == "*" || t == ctype)
    }
}

/// The compression settings in force for a location.
#[derive(Debug, Clone)]
pub struct CompressConf {
    pub gzip: Codec,
    pub brotli: Codec,
    pub zstd: Codec,
    /// `gzip_vary`.
    pub vary: bool,
    /// `gzip_proxied` (`off` by default: requests with `Via` get no compression).
    pub proxied: Vec<String>,
    /// `gzip_disable` regexes over `User-Agent`.
    pub disable: Vec<Regex>,
    /// `gzip_http_version 1.0|1.1`: the lowest request version compressed.
    pub http10: bool,
}

impl Default for CompressConf {
    fn default() -> Self {
        CompressConf {
            gzip: Codec::new(1),
            brotli: Codec::new(6),
            zstd: Codec::new(1),
            vary: false,
            proxied: vec!["off".into()],
            disable: vec![],
            http10: false,
        }
    }
}

impl CompressConf {
    pub fn any_on(&self) -> bool {
        self.gzip.on || self.brotli.on || self.zstd.on
    }
}

/// Applies one compression directive (`first`: its first occurrence at this level, which
/// replaces inherited lists).
pub fn apply(conf: &mut LocConf, d: &Directive, first: bool) -> Result<()> {
    let c = Arc::make_mut(&mut conf.compress);
    let a = &d.args;
    let name = d.name.as_str();
    let (prefix, setting) = name.split_once('_').unwrap_or((name, ""));
    let codec = match prefix {
        "gzip" => &mut c.gzip,
        "brotli" => &mut c.brotli,
        _ => &mut c.zstd,
    };
    let invalid = || {
        d.err(format!(
            "invalid value \"{}\" in \"{name}\" directive",
            a[0]
        ))
    };
    match setting {
        "" => codec.on = a[0] == "on",
        "types" => {
            if first {
                codec.types.clear();
            }
            codec.types.extend(a.iter().map(|t| t.to_ascii_lowercase()));
        }
        "comp_level" => {
            let (lo, hi) = match prefix {
                "gzip" => (1, 9),
                "brotli" => (0, 11),
                _ => (1, 22),
            };
            let n = values::number(&a[0]).ok_or_else(invalid)? as i64;
            if n < lo || n > hi {
                return Err(d.err(format!("value must be between {lo} and {hi}")));
            }
            codec.level = n as i32;
        }
        "min_length" => codec.min_length = values::size(&a[0]).ok_or_else(invalid)?,
        "vary" => c.vary = a[0] == "on",
        "http_version" => {
            c.http10 = match a[0].as_str() {
                "1.0" => true,
                "1.1" => false,
                _ => return Err(invalid()),
            }
        }
        "proxied" => {
            const KNOWN: &[&str] = &[
                "off",
                "expired",
                "no-cache",
                "no-store",
                "private",
                "no_last_modified",
                "no_etag",
                "auth",
                "any",
            ];
            for v in a {
                if !KNOWN.contains(&v.as_str()) {
                    return Err(d.err(format!("invalid value \"{v}\" in \"{name}\" directive")));
                }
            }
            c.proxied = a.clone();
        }
        "disable" => {
            if first {
                c.disable.clear();
            }
            for v in a {
                let pat = if v == "msie6" {
                    r"MSIE [4-6]\."
                } else {
                    v.as_str()
                };
                c.disable.push(Regex::new(pat, true).map_err(|e| d.err(e))?);
            }
        }
        _ => {}
    }
    Ok(())
}
