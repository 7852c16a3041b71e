//! set-misc (bundled with OpenResty): the common `set_*` directives. Each runs in order
//! with `set` and `rewrite`, and, like NDK's set-var directives, takes `$dst src` or just
//! `$var` to transform the variable in place.

use super::location::{var_name, Op};
use super::parser::Directive;
use super::Builder;
use crate::error::Result;
use crate::vars::Complex;
use base64::Engine as _;
use std::sync::Arc;

/// The transformation of a set-misc directive.
#[derive(Debug, Clone)]
pub enum SetFn {
    UnescapeUri,
    EscapeUri,
    QuoteSql,
    QuotePgsql,
    QuoteJson,
    Md5,
    Sha1,
    EncodeBase64,
    DecodeBase64,
    EncodeHex,
    DecodeHex,
    /// `set_if_empty $dst src`: src only when $dst is empty.
    IfEmpty,
    /// `set_random $dst from to`.
    Random(Complex),
    /// `set_secure_random_alphanum $dst length`.
    SecureRandomAlphanum,
    SecureRandomLcalpha,
}

/// The transformation of a one-or-two-argument directive.
fn plain_fn(name: &str) -> Option<SetFn> {
    Some(match name {
        "set_unescape_uri" => SetFn::UnescapeUri,
        "set_escape_uri" => SetFn::EscapeUri,
        "set_quote_sql_str" => SetFn::QuoteSql,
        "set_quote_pgsql_str" => SetFn::QuotePgsql,
        "set_quote_json_str" => SetFn::QuoteJson,
        "set_md5" => SetFn::Md5,
        "set_sha1" => SetFn::Sha1,
        "set_encode_base64" => SetFn::EncodeBase64,
        "set_decode_base64" => SetFn::DecodeBase64,
        "set_encode_hex" => SetFn::EncodeHex,
        "set_decode_hex" => SetFn::DecodeHex,
        _ => return None,
    })
}

/// The set-misc directives' names (for the directive table and the script compiler).
pub const NAMES: &[&str] = &[
    "set_unescape_uri",
    "set_escape_uri",
    "set_quote_sql_str",
    "set_quote_pgsql_str",
    "set_quote_json_str",
    "set_md5",
    "set_sha1",
    "set_encode_base64",
    "set_decode_base64",
    "set_encode_hex",
    "set_decode_hex",
    "set_if_empty",
    "set_random",
    "set_secure_random_alphanum",
    "set_secure_random_lcalpha",
];

/// Compiles a set-misc directive into a script op.
pub fn op(b: &mut Builder, d: &Directive) -> Result<Op> {
    let a = &d.args;
    let name = var_name(d, &a[0])?;
    b.names.declared.insert(name.to_string());
    let arity = |n: usize| {
        if a.len() == n {
            Ok(())
        } else {
            Err(d.err(format!(
                "invalid number of arguments in \"{}\" directive",
                d.name
            )))
        }
    };
    let (f, src) = match d.name.as_str() {
        "set_if_empty" => {
            arity(2)?;
            (SetFn::IfEmpty, b.complex(d, &a[1])?)
        }
        "set_random" => {
            arity(3)?;
            (SetFn::Random(b.complex(d, &a[2])?), b.complex(d, &a[1])?)
        }
        "set_secure_random_alphanum" | "set_secure_random_lcalpha" => {
            arity(2)?;
            let f = if d.name.ends_with("alphanum") {
                SetFn::SecureRandomAlphanum
            } else {
                SetFn::SecureRandomLcalpha
            };
            (f, b.complex(d, &a[1])?)
        }
        n => {
            let f = plain_fn(n).ok_or_else(|| d.err(format!("unknown directive \"{n}\"")))?;
            // One argument: the variable itself is the source.
            let src = a.get(1).map(String::as_str).unwrap_or(a[0].as_str());
            (f, b.complex(d, src)?)
        }
    };
    Ok(Op::SetMisc {
        name: Arc::from(name),
        value: src,
        f,
    })
}

/// Random characters from `alphabet` (the OS's generator, as set-misc reads
/// /dev/urandom); lengths outside 1..=64 are set-misc's error, an empty value.
fn secure_random(len: &str, alphabet: &[u8]) -> Option<String> {
    let n: usize = len.trim().parse().ok().filter(|n| (1..=64).contains(n))?;
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    Some(
        (0..n)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
            .collect(),
    )
}

impl SetFn {
    /// The new value from the evaluated source; `current` is the variable's value before
    /// (for `set_if_empty`), `extra` the evaluated extra argument (`set_random`'s upper
    /// bound). None: the directive fails (nginx logs it and the variable is left empty).
    pub fn apply(
        &self,
        src: String,
        current: Option<&str>,
        extra: Option<String>,
    ) -> Option<String> {
        use std::fmt::Write;
        Some(match self {
            SetFn::UnescapeUri => {
                let plus = src.replace('+', " ");
                let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            SetFn::EscapeUri => {
                const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'-')
                    .remove(b'.')
                    .remove(b'_')
                    .remove(b'~');
                percent_encoding::utf8_percent_encode(&src, SET).to_string()
            }
            SetFn::QuoteSql => quote_sql(&src, "'"),
            SetFn::QuotePgsql => quote_sql(&src, "E'"),
            SetFn::QuoteJson => {
                let mut out = String::from("\"");
                for c in src.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            }
            SetFn::Md5 => {
                use md5::Digest;
                hex(&md5::Md5::digest(src.as_bytes()))
            }
            SetFn::Sha1 => {
                use sha1::Digest;
                hex(&sha1::Sha1::digest(src.as_bytes()))
            }
            SetFn::EncodeBase64 => base64::engine::general_purpose::STANDARD.encode(src),
            SetFn::DecodeBase64 => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(src.trim_end())
                    .ok()?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            SetFn::EncodeHex => hex(src.as_bytes()),
            SetFn::DecodeHex => {
                if !src.len().is_multiple_of(2) {
                    return None;
                }
                let bytes: Option<Vec<u8>> = (0..src.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(src.get(i..i + 2)?, 16).ok())
                    .collect();
                String::from_utf8_lossy(&bytes?).into_owned()
            }
            SetFn::IfEmpty => match current {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => src,
            },
            SetFn::Random(_) => {
                let from: i64 = src.trim().parse().ok()?;
                let to: i64 = extra?.trim().parse().ok()?;
                let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
                use rand::Rng;
                rand::thread_rng().gen_range(lo..=hi).to_string()
            }
            SetFn::SecureRandomAlphanum => secure_random(
                &src,
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            )?,
            SetFn::SecureRandomLcalpha => secure_random(&src, b"abcdefghijklmnopqrstuvwxyz")?,
        })
    }
}

/// MySQL-style quoting (PostgreSQL's `E'...'` takes the same escapes).
fn quote_sql(src: &str, open: &str) -> String {
    let mut out = String::from(open);
    for c in src.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{8}' => out.push_str("\\b"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1a}' => out.push_str("\\Z"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_codings() {
        let q = SetFn::QuoteSql.apply("a'b\"c\\d\ne".into(), None, None);
        assert_eq!(q.as_deref(), Some("'a\\'b\\\"c\\\\d\\ne'"));
        assert_eq!(
            SetFn::Md5.apply("a".into(), None, None).as_deref(),
            Some("0cc175b9c0f1b6a831c399e269772661")
        );
        assert_eq!(SetFn::DecodeBase64.apply("!!".into(), None, None), None);
        assert_eq!(SetFn::DecodeHex.apply("616".into(), None, None), None);
        assert_eq!(
            SetFn::DecodeHex.apply("6162".into(), None, None).as_deref(),
            Some("ab")
        );
        assert_eq!(
            SetFn::IfEmpty.apply("d".into(), Some("x"), None).as_deref(),
            Some("x")
        );
        let r = SetFn::Random(Complex::literal("3"))
            .apply("1".into(), None, Some("3".into()))
            .unwrap();
        assert!(["1", "2", "3"].contains(&r.as_str()));
        let s = SetFn::SecureRandomAlphanum
            .apply("32".into(), None, None)
            .unwrap();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(
            SetFn::SecureRandomAlphanum.apply("65".into(), None, None),
            None
        );
    }
}
