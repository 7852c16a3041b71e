//! The ACME client's HTTP: one hyper HTTP/1.1 connection per request (ACME traffic is a
//! handful of requests per certificate), TLS through rustls with the issuer's trust, and
//! requests only to the directory's own scheme, host and port.

use bytes::Bytes;
use http::Request;
use hyper_util::rt::TokioIo;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long one request (connect, handshake, response head) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where Debian (and most Linux systems) keep the system's trusted CAs.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

pub struct Client {
    tls: Arc<rustls::ClientConfig>,
    https: bool,
    host: String,
    port: u16,
}

impl Client {
    /// A client for the directory `uri`, trusting `trusted` (else the system bundle), or
    /// anything when `verify` is off.
    pub fn new(uri: &str, trusted: Option<&std::path::Path>, verify: bool) -> Result<Self, String> {
        let u: http::Uri = uri
            .parse()
            .map_err(|e| format!("invalid directory URI \"{uri}\": {e}"))?;
        let https = match u.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("invalid directory URI \"{uri}\"")),
        };
        let host = u
            .host()
            .ok_or_else(|| format!("invalid directory URI \"{uri}\""))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = u.port_u16().unwrap_or(if https { 443 } else { 80 });
        let system = std::path::Path::new(SYSTEM_BUNDLE);
        let trust = trusted.or_else(|| system.exists().then_some(system));
        let tls = crate::tls::client_config(verify, trust, true, true, None)?;
        Ok(Client {
            tls,
            https,
            host,
            port,
        })
    }

    async fn send(
        tls: Arc<rustls::ClientConfig>,
        https: bool,
        host: String,
        port: u16,
        mut req: Request<BodyWrapper<Bytes>>,
    ) -> Result<BytesResponse, Error> {
        let other = |m: String| Error::Other(m.into());
        let u = req.uri().clone();
        let same = u.scheme_str() == Some(if https { "https" } else { "http" })
            && u.host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                == Some(&host)
            && u.port_u16().unwrap_or(if https { 443 } else { 80 }) == port;
        if !same {
            return Err(other(format!(
                "refusing a request to {u}: not the directory's host"
            )));
        }
        let path = u.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        *req.uri_mut() = path.parse().map_err(Error::InvalidUri)?;
        let authority = u.authority().map(|a| a.as_str()).unwrap_or(&host);
        if let Ok(v) = http::HeaderValue::from_str(authority) {
            req.headers_mut().insert(http::header::HOST, v);
        }
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| other(format!("connect() to {host}:{port} failed ({e})")))?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| other(format!("bad server name \"{host}\": {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| other(format!("TLS handshake with {host}:{port} failed ({e})")))?;
            exchange(TokioIo::new(stream), req).await
        } else {
            exchange(TokioIo::new(tcp), req).await
        }
    }
}

async fn exchange<I>(io: I, req: Request<BodyWrapper<Bytes>>) -> Result<BytesResponse, Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let other = |m: String| Error::Other(m.into());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| other(format!("HTTP handshake failed ({e})")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let rsp = send
        .send_request(req)
        .await
        .map_err(|e| other(format!("request failed ({e})")))?;
    Ok(BytesResponse::from(rsp))
}

impl HttpClient for Client {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let fut = Self::send(
            self.tls.clone(),
            self.https,
            self.host.clone(),
            self.port,
            req,
        );
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                Ok(r) => r,
                Err(_) => Err(Error::Other("request timed out".into())),
            }
        })
    }
}
