//! TLS listeners: one rustls server config per `listen ... ssl` socket and generation,
//! choosing the certificate by SNI the way nginx chooses the server (`server_name`
//! matching, the socket's default server when nothing matches).

use super::io::SharedTcp;
use super::Current;
use crate::config::{Config, Server, ServerName};
use crate::tls::dynamic::Served;
use crate::tls::{CertRequest, ClientHello, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::server::TlsStream;

/// Picks the certificate for a handshake on one socket.
struct SniResolver {
    config: Arc<Config>,
    sock: usize,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SniResolver(socket {})", self.sock)
    }
}

impl rustls::server::ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let http = self.config.http.as_ref()?;
        let sock = http.sockets.get(self.sock)?;
        let name = hello.server_name().map(|n| n.to_ascii_lowercase());
        // A CA's TLS-ALPN-01 validation: only the challenge certificate answers it.
        let acme_alpn = hello
            .alpn()
            .is_some_and(|mut p| p.any(|p| p == crate::tls::acme::ACME_TLS_ALPN));
        if acme_alpn {
            return crate::tls::acme::alpn_cert(name.as_deref()?);
        }
        let (server, _) = crate::router::select_server(http, self.sock, name.as_deref());
        if let Some(c) = on_demand(server, name.as_deref()) {
            return Some(c);
        }
        // A server without certificates on a TLS port: the default server's serve.
        let tls = server
            .tls
            .clone()
            .or_else(|| http.servers[sock.default_server].tls.clone())?;
        // An ACME certificate, once issued, comes first; before that a server with nothing
        // else fails the handshake (no certificate) until it arrives.
        match tls.acme.as_ref().and_then(|m| m.slot.get()) {
            Some(c) if tls.certs.is_empty() => Some(c),
            Some(c) => {
                let mut all = Vec::with_capacity(tls.certs.len() + 1);
                all.push(c);
                all.extend(tls.certs.iter().cloned());
                crate::tls::pick(&all, hello.signature_schemes())
            }
            None => crate::tls::pick(&tls.certs, hello.signature_schemes()),
        }
    }
}

/// `acme_on_demand on`: the certificate of its own for an SNI name that the server's
/// `server_name` matches and its `acme_certificate` names do not cover (ordered on first
/// sight; None until it is there, and the usual choice applies meanwhile).
fn on_demand(server: &Server, sni: Option<&str>) -> Option<Arc<rustls::sign::CertifiedKey>> {
    let tls = server.tls.as_ref()?;
    let issuer = tls.acme_on_demand.as_ref()?;
    let sni = sni?;
    if tls
        .acme
        .as_ref()
        .is_some_and(|m| m.names.iter().any(|n| n == sni))
    {
        return None;
    }
    let named = server.names.iter().any(|n| match n {
        ServerName::Exact(e) => e == sni,
        ServerName::Suffix(suf, bare) => sni.ends_with(suf.as_str()) || (*bare && sni == &suf[1..]),
        ServerName::Prefix(pre) => sni.starts_with(pre.as_str()),
        ServerName::Regex(re) => re.is_match(sni),
    });
    if !named {
        return None;
    }
    crate::tls::acme::on_demand(issuer, sni)
}

/// The TLS configs of a generation, indexed like `Http::sockets` (None for plain sockets).
pub fn acceptors(config: &Arc<Config>) -> crate::error::Result<Vec<Option<Arc<ServerConfig>>>> {
    let Some(http) = config.http.as_ref() else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for (i, sock) in http.sockets.iter().enumerate() {
        if !sock.ssl {
            out.push(None);
            continue;
        }
        // Protocols, ciphers and session settings come from the socket's default server
        // (they are decided before SNI is known), or the first server with certificates.
        let tls = http.servers[sock.default_server].tls.clone().or_else(|| {
            sock.servers
                .iter()
                .find_map(|s| http.servers[*s].tls.clone())
        });
        let Some(tls) = tls else {
            return Err(crate::error::Error::config(format!(
                "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive on {}",
                sock.addr
            )));
        };
        let settings = crate::tls::ServerSettings {
            versions: tls.settings.versions.clone(),
            suites: tls.settings.suites.clone(),
            prefer_server_ciphers: tls.settings.prefer_server_ciphers,
            session_cache: tls.settings.session_cache,
            tickets: tls.settings.tickets,
            h2: sock.http2,
            acme_alpn: sock
                .servers
                .iter()
                .any(|s| http.servers[*s].tls.as_ref().is_some_and(|t| t.acme_alpn)),
            // Client certificates are asked for when any server on the socket wants them.
            client_ca: tls.settings.client_ca.clone().or_else(|| {
                sock.servers.iter().find_map(|s| {
                    http.servers[*s]
                        .tls
                        .as_ref()
                        .and_then(|t| t.settings.client_ca.clone())
                })
            }),
        };
        let resolver = Arc::new(SniResolver {
            config: config.clone(),
            sock: i,
        });
        let cfg = crate::tls::server_config(&settings, resolver)
            .map_err(|e| crate::error::Error::config(format!("{e} on {}", sock.addr)))?;
        out.push(Some(cfg));
    }
    Ok(out)
}

/// Where a connection came from and arrived.
pub(super) struct Peers {
    pub(super) listen: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
}

/// The TLS handshake of an accepted connection on a socket whose config is `cfg`. When a
/// server on the socket has `ssl_certificate_by_lua*`, the ClientHello is read first; if
/// SNI picks a server with a handler, the handler runs (it may yield) and the handshake
/// goes on with the certificate it set, or the configured ones when it set none. An error
/// carries the reason nginx's `SSL_do_handshake() failed (...)` line gives.
pub(super) async fn accept(
    cfg: Arc<ServerConfig>,
    io: SharedTcp,
    current: &Current,
    at: Peers,
) -> std::io::Result<TlsStream<SharedTcp>> {
    let gen = current.load_full();
    let scripted = gen.engine.is_some()
        && gen.config.http.as_ref().is_some_and(|h| {
            h.sockets
                .iter()
                .find(|s| s.addr == at.listen)
                .is_some_and(|s| {
                    s.servers.iter().any(|i| {
                        h.servers[*i]
                            .tls
                            .as_ref()
                            .is_some_and(|t| t.cert_by_lua.is_some())
                    })
                })
        });
    if !scripted {
        return tokio_rustls::TlsAcceptor::from(cfg).accept(io).await;
    }
    let start =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
    let hello = start.client_hello();
    let (Some(engine), Some(http)) = (gen.engine.as_ref(), gen.config.http.as_ref()) else {
        return start.into_stream(cfg).await;
    };
    let Some(sock) = http.sockets.iter().position(|s| s.addr == at.listen) else {
        return start.into_stream(cfg).await;
    };
    // A CA's TLS-ALPN-01 validation is answered by the resolver alone.
    if hello
        .alpn()
        .is_some_and(|mut p| p.any(|p| p == crate::tls::acme::ACME_TLS_ALPN))
    {
        return start.into_stream(cfg).await;
    }
    let sni = hello.server_name().map(|n| n.to_ascii_lowercase());
    let (server, _) = crate::router::select_server(http, sock, sni.as_deref());
    // A server without TLS settings of its own is served as the default server.
    let tls = server
        .tls
        .clone()
        .or_else(|| http.servers[http.sockets[sock].default_server].tls.clone());
    let Some((chunk, tls)) = tls.and_then(|t| Some((t.cert_by_lua.clone()?, t))) else {
        return start.into_stream(cfg).await;
    };
    // The protocols are the socket's (see `acceptors`), settled before SNI is known.
    let versions = http.servers[http.sockets[sock].default_server]
        .tls
        .as_ref()
        .map_or(&tls.settings.versions, |t| &t.settings.versions);
    let mut req = CertRequest::new(&hello, versions, at.local, at.remote, at.listen);
    if !engine.run_ssl_cert(&chunk, &mut req).await {
        return Err(std::io::Error::other("cert cb error"));
    }
    match req.served(&cfg) {
        Ok(Served::Configured) => start.into_stream(cfg).await,
        Ok(Served::Own(own)) => start.into_stream(own).await,
        Err(e) => Err(std::io::Error::other(e)),
    }
}
