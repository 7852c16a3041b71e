//! The `ssl_*` settings of a server (nginx's ngx_http_ssl_module), with certificates loaded
//! at configuration time so a bad file fails `-t`, the start or the reload.

use super::values;
use super::{Builder, Directive};
use crate::error::Result;
use std::sync::Arc;

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyClient {
    Off,
    On,
    Optional,
    OptionalNoCa,
}

/// What a TLS server offers.
pub struct ServerTls {
    pub verify_client: VerifyClient,
    /// `ssl_certificate`/`ssl_certificate_key` pairs; the client's signature schemes pick.
    pub certs: Vec<crate::tls::CertKey>,
    /// `ssl_certificate $acme_certificate`: the managed certificate (served once issued).
    pub acme: Option<Arc<crate::tls::acme::Managed>>,
    /// `acme_on_demand on` with `$acme_certificate`: the issuer for other names.
    pub acme_on_demand: Option<Arc<crate::tls::acme::Issuer>>,
    /// The server's issuer validates with TLS-ALPN-01.
    pub acme_alpn: bool,
    /// `ssl_certificate_by_lua*`: runs in handshakes SNI brings to this server.
    pub cert_by_lua: Option<Arc<super::LuaChunk>>,
    pub settings: crate::tls::ServerSettings,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerTls({} certificate(s))", self.certs.len())
    }
}

/// Builds a server's TLS settings from the http-level and server-level directives; None
/// when the server has no certificate. `ssl_listen` is the server's first `listen ... ssl`;
/// `acme` the server's `acme_certificate` and `acme_on_demand`, which `$acme_certificate`
/// pairs stand for.
pub fn server_tls(
    b: &mut Builder,
    http_body: &[Directive],
    body: &[Directive],
    ssl_listen: Option<&Directive>,
    acme: &super::acme::AcmeServer,
) -> Result<Option<Arc<ServerTls>>> {
    // A list directive given at server level replaces the http-level one, as in nginx.
    let level = |name: &str| -> Vec<&Directive> {
        let own: Vec<&Directive> = body.iter().filter(|x| x.name == name).collect();
        if own.is_empty() {
            http_body.iter().filter(|x| x.name == name).collect()
        } else {
            own
        }
    };
    let last = |name: &str| level(name).last().copied();
    // Values are checked even where no certificate uses them, as nginx checks at parse.
    let versions = match last("ssl_protocols") {
        Some(d) => crate::tls::versions(&d.args)
            .map_err(|e| d.err(format!("{e} in \"ssl_protocols\" directive")))?,
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let suites = match last("ssl_ciphers") {
        Some(d) => crate::tls::cipher_suites(&d.args[0]).map_err(|e| d.err(e))?,
        None => {
            crate::tls::cipher_suites("HIGH:!aNULL:!MD5").map_err(crate::error::Error::config)?
        }
    };
    // Checked in every server, with or without certificates, as at parse in nginx.
    let cert_by_lua = match cert_handler(body)? {
        Some(d) => Some(d),
        None => cert_handler(http_body)?,
    };
    let certs = level("ssl_certificate");
    let keys = level("ssl_certificate_key");
    if certs.is_empty() {
        if let Some(l) = ssl_listen {
            return Err(
                l.err("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive")
            );
        }
        return Ok(None);
    }
    let mut pairs = vec![];
    let mut uses_acme = false;
    for (i, c) in certs.iter().enumerate() {
        let Some(k) = keys.get(i) else {
            return Err(c.err(format!(
                "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                c.args[0]
            )));
        };
        if c.args[0] == "$acme_certificate" || k.args[0] == "$acme_certificate_key" {
            if c.args[0] != "$acme_certificate" || k.args[0] != "$acme_certificate_key" {
                return Err(c.err(
                    "\"$acme_certificate\" and \"$acme_certificate_key\" must be used together",
                ));
            }
            // Inherited from http by a server without TLS or ACME: nothing to serve.
            let inherited = !body.iter().any(|x| std::ptr::eq(x, *c));
            if acme.any() {
                uses_acme = true;
            } else if !inherited || ssl_listen.is_some() {
                return Err(c.err(
                    "\"$acme_certificate\" is used in a server without \"acme_certificate\"",
                ));
            }
            continue;
        }
        if c.args[0].contains('$') || k.args[0].contains('$') {
            return Err(c.err("variables in \"ssl_certificate\" are not supported by openclaw yet"));
        }
        let cert_path = b.conf_path(&c.args[0]);
        let key_path = b.conf_path(&k.args[0]);
        pairs.push(crate::tls::load_pair(&cert_path, &key_path).map_err(|e| c.err(e))?);
    }
    if pairs.is_empty() && !uses_acme {
        return Ok(None);
    }
    let verify_client = match last("ssl_verify_client") {
        None => VerifyClient::Off,
        Some(d) => match d.args[0].as_str() {
            "off" => VerifyClient::Off,
            "on" => VerifyClient::On,
            "optional" => VerifyClient::Optional,
            "optional_no_ca" => VerifyClient::OptionalNoCa,
            v => {
                return Err(d.err(format!(
                    "invalid value \"{v}\" in \"ssl_verify_client\" directive"
                )))
            }
        },
    };
    if let Some(d) = last("ssl_verify_depth") {
        values::number(&d.args[0])
            .ok_or_else(|| d.err(format!("invalid value \"{}\"", d.args[0])))?;
    }
    let client_ca = match (verify_client, last("ssl_client_certificate")) {
        (VerifyClient::Off, _) => None,
        (v, None) if v != VerifyClient::OptionalNoCa => {
            let at = last("ssl_verify_client").expect("set when not off");
            return Err(at.err("no ssl_client_certificate for ssl_verify_client"));
        }
        (_, ca) => {
            let path = ca.map(|d| b.conf_path(&d.args[0]));
            Some(
                crate::tls::ClientCa::new(path.as_deref()).map_err(|e| match ca {
                    Some(d) => d.err(e),
                    None => crate::error::Error::config(e),
                })?,
            )
        }
    };
    let cert_by_lua = match cert_by_lua {
        Some(d) => Some(super::location::lua_chunk(b, d)?),
        None => None,
    };
    let prefer = last("ssl_prefer_server_ciphers").is_some_and(|d| d.args[0] == "on");
    let tickets = last("ssl_session_tickets").is_none_or(|d| d.args[0] == "on");
    let mut session_cache = 0;
    if let Some(d) = last("ssl_session_cache") {
        for a in &d.args {
            let bad = || d.err(format!("invalid session cache \"{a}\""));
            match a.as_str() {
                "off" | "none" => session_cache = 0,
                "builtin" => session_cache = 20480,
                _ if a.starts_with("builtin:") => {
                    session_cache = values::number(&a[8..]).ok_or_else(bad)? as usize
                }
                _ if a.starts_with("shared:") => {
                    let size = a
                        .rsplit(':')
                        .next()
                        .and_then(values::size)
                        .ok_or_else(bad)?;
                    // nginx: about 4000 sessions per megabyte.
                    session_cache = session_cache.max((size as usize / 256).max(1));
                }
                _ => return Err(bad()),
            }
        }
    }
    if let Some(d) = last("ssl_session_timeout") {
        values::time(&d.args[0])
            .ok_or_else(|| d.err(format!("invalid value \"{}\"", d.args[0])))?;
    }
    Ok(Some(Arc::new(ServerTls {
        verify_client,
        certs: pairs,
        acme_alpn: acme.challenge() == Some(crate::tls::acme::Challenge::TlsAlpn01),
        acme: acme.managed.clone().filter(|_| uses_acme),
        acme_on_demand: acme.on_demand.clone().filter(|_| uses_acme),
        cert_by_lua,
        settings: crate::tls::ServerSettings {
            versions,
            suites,
            prefer_server_ciphers: prefer,
            session_cache,
            tickets,
            h2: false,
            acme_alpn: false,
            client_ca,
        },
    })))
}

/// The `ssl_certificate_by_lua_block` / `_file` of one level (a server's own wins over the
/// http level's); two at one level are `is duplicate`, as lua-nginx-module says.
fn cert_handler(list: &[Directive]) -> Result<Option<&Directive>> {
    let mut found = list
        .iter()
        .filter(|x| x.name.starts_with("ssl_certificate_by_lua"));
    let first = found.next();
    match found.next() {
        Some(d) => Err(d.err(format!("\"{}\" directive is duplicate", d.name))),
        None => Ok(first),
    }
}
