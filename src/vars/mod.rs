//! nginx variables: names, compiled "complex values" (strings with `$var` references) and the
//! trait a request implements to resolve them. One system serves config and Lua.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

/// Variables computed from the request, connection or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Host,
    Hostname,
    Uri,
    DocumentUri,
    RequestUri,
    Args,
    IsArgs,
    RemoteAddr,
    RemotePort,
    BinaryRemoteAddr,
    RemoteUser,
    ServerAddr,
    ServerPort,
    ServerName,
    ServerProtocol,
    Scheme,
    Https,
    RequestMethod,
    Request,
    Status,
    BodyBytesSent,
    BytesSent,
    RequestLength,
    RequestTime,
    Msec,
    TimeLocal,
    TimeIso8601,
    RequestId,
    Connection,
    ConnectionRequests,
    ContentType,
    ContentLength,
    NginxVersion,
    DocumentRoot,
    RealpathRoot,
    RequestFilename,
    Pid,
    LimitReqStatus,
    LimitConnStatus,
    UpstreamAddr,
    UpstreamStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamResponseLength,
    ProxyHost,
    ProxyPort,
    ProxyAddXForwardedFor,
    SslProtocol,
    SslCipher,
    SslServerName,
    SslSessionReused,
    SslClientVerify,
    SslClientSDn,
    SslClientFingerprint,
    UpstreamCacheStatus,
    ApiKeyId,
    ApiKeyTier,
}

const BUILTINS: &[(&str, Builtin)] = &[
    ("host", Builtin::Host),
    ("hostname", Builtin::Hostname),
    ("uri", Builtin::Uri),
    ("document_uri", Builtin::DocumentUri),
    ("request_uri", Builtin::RequestUri),
    ("args", Builtin::Args),
    ("query_string", Builtin::Args),
    ("is_args", Builtin::IsArgs),
    ("remote_addr", Builtin::RemoteAddr),
    ("remote_port", Builtin::RemotePort),
    ("binary_remote_addr", Builtin::BinaryRemoteAddr),
    ("remote_user", Builtin::RemoteUser),
    ("server_addr", Builtin::ServerAddr),
    ("server_port", Builtin::ServerPort),
    ("server_name", Builtin::ServerName),
    ("server_protocol", Builtin::ServerProtocol),
    ("scheme", Builtin::Scheme),
    ("https", Builtin::Https),
    ("request_method", Builtin::RequestMethod),
    ("request", Builtin::Request),
    ("status", Builtin::Status),
    ("body_bytes_sent", Builtin::BodyBytesSent),
    ("bytes_sent", Builtin::BytesSent),
    ("request_length", Builtin::RequestLength),
    ("request_time", Builtin::RequestTime),
    ("msec", Builtin::Msec),
    ("time_local", Builtin::TimeLocal),
    ("time_iso8601", Builtin::TimeIso8601),
    ("request_id", Builtin::RequestId),
    ("connection", Builtin::Connection),
    ("connection_requests", Builtin::ConnectionRequests),
    ("content_type", Builtin::ContentType),
    ("content_length", Builtin::ContentLength),
    ("nginx_version", Builtin::NginxVersion),
    ("document_root", Builtin::DocumentRoot),
    ("realpath_root", Builtin::RealpathRoot),
    ("request_filename", Builtin::RequestFilename),
    ("pid", Builtin::Pid),
    ("limit_req_status", Builtin::LimitReqStatus),
    ("limit_conn_status", Builtin::LimitConnStatus),
    ("upstream_addr", Builtin::UpstreamAddr),
    ("upstream_status", Builtin::UpstreamStatus),
    ("upstream_response_time", Builtin::UpstreamResponseTime),
    ("upstream_connect_time", Builtin::UpstreamConnectTime),
    ("upstream_header_time", Builtin::UpstreamHeaderTime),
    ("upstream_response_length", Builtin::UpstreamResponseLength),
    ("proxy_host", Builtin::ProxyHost),
    ("proxy_port", Builtin::ProxyPort),
    ("proxy_add_x_forwarded_for", Builtin::ProxyAddXForwardedFor),
    ("ssl_protocol", Builtin::SslProtocol),
    ("ssl_cipher", Builtin::SslCipher),
    ("ssl_server_name", Builtin::SslServerName),
    ("ssl_session_reused", Builtin::SslSessionReused),
    ("ssl_client_verify", Builtin::SslClientVerify),
    ("ssl_client_s_dn", Builtin::SslClientSDn),
    ("ssl_client_fingerprint", Builtin::SslClientFingerprint),
    ("upstream_cache_status", Builtin::UpstreamCacheStatus),
    ("api_key_id", Builtin::ApiKeyId),
    ("api_key_tier", Builtin::ApiKeyTier),
];

/// A reference to one variable, resolved at config time as far as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Builtin(Builtin),
    /// `$arg_NAME` (name as written).
    Arg(String),
    /// `$http_NAME`: request header, name lowercased with `_` as `-`.
    Http(String),
    /// `$cookie_NAME`.
    Cookie(String),
    /// `$sent_http_NAME`: response header.
    SentHttp(String),
    /// `$upstream_http_NAME`: the upstream response's header.
    UpstreamHttp(String),
    /// `$1`..`$9` (and `$0`).
    Capture(usize),
    /// `set`, `map`, `split_clients` or a named regex capture.
    User(Arc<str>),
}

impl Var {
    /// Resolves a name to a variable; `None` when it is not a builtin or prefix variable
    /// (then it must be a user variable declared somewhere in the config).
    pub fn lookup(name: &str) -> Option<Var> {
        // A map, not a scan of the list: Lua's `ngx.var.NAME` looks names up per call.
        static MAP: std::sync::LazyLock<ahash::AHashMap<&'static str, Builtin>> =
            std::sync::LazyLock::new(|| BUILTINS.iter().copied().collect());
        if let Some(b) = MAP.get(name) {
            return Some(Var::Builtin(*b));
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return name.parse().ok().map(Var::Capture);
        }
        type Make = fn(String) -> Var;
        let prefixed: [(&str, Make); 5] = [
            ("upstream_http_", |n| Var::UpstreamHttp(var_header(&n))),
            ("arg_", Var::Arg),
            ("http_", |n| Var::Http(var_header(&n))),
            ("cookie_", Var::Cookie),
            ("sent_http_", |n| Var::SentHttp(var_header(&n))),
        ];
        for (p, mk) in prefixed {
            if let Some(rest) = name.strip_prefix(p) {
                return Some(mk(rest.to_string()));
            }
        }
        None
    }
}

/// The header a `$http_NAME`-style variable names: lower case, `_` as `-`.
fn var_header(n: &str) -> String {
    n.chars()
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// What evaluates variables: the request context implements it.
pub trait VarSource {
    fn var(&self, v: &Var) -> Option<Cow<'_, str>>;
}

/// One piece of a complex value.
#[derive(Debug, Clone)]
pub enum Part {
    Lit(String),
    Var(Var),
}

/// A string with variables, compiled once (nginx's `ngx_http_complex_value_t`).
#[derive(Debug, Clone)]
pub struct Complex {
    pub parts: Vec<Part>,
    pub raw: String,
}

/// User variable names seen while compiling; checked against declarations at the end,
/// because nginx allows using a variable before the `set` or `map` that declares it.
#[derive(Debug, Default)]
pub struct Names {
    pub declared: HashSet<String>,
    pub used: Vec<String>,
}

impl Names {
    /// nginx's `unknown "x" variable` check, run once the whole config is read.
    pub fn check(&self) -> Result<(), String> {
        for u in &self.used {
            if !self.declared.contains(u) {
                return Err(format!("unknown \"{u}\" variable"));
            }
        }
        Ok(())
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Complex {
    /// Compiles `s`; errors are nginx's messages without the file:line suffix.
    pub fn compile(s: &str, names: &mut Names) -> Result<Complex, String> {
        let b = s.as_bytes();
        let mut parts = vec![];
        let mut lit = String::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                let start = i;
                while i < b.len() && b[i] != b'$' {
                    i += 1;
                }
                lit.push_str(&s[start..i]);
                continue;
            }
            i += 1;
            let (name, next) = if i < b.len() && b[i] == b'{' {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'}' {
                    j += 1;
                }
                let name = &s[start..j.min(b.len())];
                if j >= b.len() {
                    return Err(format!(
                        "the closing bracket in \"{name}\" variable is missing"
                    ));
                }
                (name, j + 1)
            } else if i < b.len() && b[i].is_ascii_digit() {
                (&s[i..i + 1], i + 1)
            } else {
                let start = i;
                let mut j = i;
                while j < b.len() && is_name_byte(b[j]) {
                    j += 1;
                }
                (&s[start..j], j)
            };
            if name.is_empty() {
                return Err("invalid variable name".into());
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(resolve(name, names)));
            i = next;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Complex {
            parts,
            raw: s.to_string(),
        })
    }

    /// A value with no variables.
    pub fn literal(s: &str) -> Complex {
        Complex {
            parts: vec![Part::Lit(s.to_string())],
            raw: s.to_string(),
        }
    }

    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    pub fn eval(&self, src: &dyn VarSource) -> String {
        match self.parts.as_slice() {
            [] => String::new(),
            [Part::Lit(s)] => s.clone(),
            parts => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(s) => out.push_str(s),
                        Part::Var(v) => {
                            if let Some(val) = src.var(v) {
                                out.push_str(&val);
                            }
                        }
                    }
                }
                out
            }
        }
    }
}

/// A variable name to a [`Var`], noting user variables for the final check.
pub fn resolve(name: &str, names: &mut Names) -> Var {
    Var::lookup(name).unwrap_or_else(|| {
        names.used.push(name.to_string());
        Var::User(name.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Src;
    impl VarSource for Src {
        fn var(&self, v: &Var) -> Option<Cow<'_, str>> {
            match v {
                Var::Builtin(Builtin::Uri) => Some("/x".into()),
                Var::Arg(a) => Some(format!("arg:{a}").into()),
                Var::Capture(n) => Some(format!("c{n}").into()),
                _ => None,
            }
        }
    }

    #[test]
    fn compiles_and_evaluates() {
        let mut n = Names::default();
        let c = Complex::compile("a$uri-${arg_q}b$1$2x", &mut n).unwrap();
        assert_eq!(c.eval(&Src), "a/x-arg:qbc1c2x");
        assert!(Complex::compile("${foo", &mut n)
            .unwrap_err()
            .contains("closing bracket"));
        assert_eq!(
            Complex::compile("a$", &mut n).unwrap_err(),
            "invalid variable name"
        );
        Complex::compile("$nope", &mut n).unwrap();
        assert_eq!(n.check().unwrap_err(), "unknown \"nope\" variable");
    }
}
