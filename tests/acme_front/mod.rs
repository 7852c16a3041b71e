//! A loopback HTTPS front that makes Debian's pebble (2.4, without ACME Renewal
//! Information) an ARI CA for the gateway: every request is forwarded to pebble unchanged
//! (the Host header too, so the URLs pebble hands out point at the front), except that
//!
//! - the directory (`/dir`) gains `"renewalInfo": "https://HOST/renewal-info"`;
//! - `GET /renewal-info/ID` is answered here: for the first `open_for` certificates asked
//!   about, a window already open (from an hour ago to 2 s from now), for later ones a window
//!   10 days ahead; `Retry-After: 21600` (instant-acme requires one);
//! - a new order's `replaces` (from its JWS payload) is recorded and, for the first
//!   `echo_replaces` orders carrying one, reflected in pebble's answer as an ARI CA must do
//!   (RFC 9773, 5); later ones are answered as pebble answers, without it.

use crate::common::tokio_server::TokioServer;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the front saw.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// The certificate IDs asked about at renewalInfo, in order.
    pub asked: Vec<String>,
    /// Each new order's `replaces` (None: it had none), in order.
    pub orders: Vec<Option<String>>,
}

struct Shared {
    pebble: u16,
    to_pebble: Arc<rustls::ClientConfig>,
    open_for: usize,
    echo_replaces: usize,
    seen: Mutex<Seen>,
}

pub struct Front {
    server: TokioServer,
    shared: Arc<Shared>,
}

impl Front {
    /// Starts on 127.0.0.1:0 with the certificate `chain_pem`/`key_pem`, forwarding to
    /// pebble on 127.0.0.1:`pebble` through `to_pebble`.
    pub fn start(
        chain_pem: &str,
        key_pem: &str,
        pebble: u16,
        to_pebble: Arc<rustls::ClientConfig>,
        open_for: usize,
        echo_replaces: usize,
    ) -> Front {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let shared = Arc::new(Shared {
            pebble,
            to_pebble,
            open_for,
            echo_replaces,
            seen: Mutex::default(),
        });
        let sh = shared.clone();
        let server = TokioServer::start(move |s| {
            let (acceptor, sh) = (acceptor.clone(), sh.clone());
            async move {
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| {
                    let sh = sh.clone();
                    async move { Ok::<_, Infallible>(handle(&sh, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            }
        });
        Front { server, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn seen(&self) -> Seen {
        self.shared.seen.lock().unwrap().clone()
    }
}

type Resp = hyper::Response<Full<Bytes>>;

fn respond(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> Resp {
    let mut r = hyper::Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(Full::new(body.into())).unwrap()
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn handle(sh: &Shared, req: hyper::Request<Incoming>) -> Resp {
    if let Some(id) = req.uri().path().strip_prefix("/renewal-info/") {
        let nth = {
            let mut seen = sh.seen.lock().unwrap();
            seen.asked.push(id.to_string());
            let mut distinct: Vec<&String> = vec![];
            for a in &seen.asked {
                if !distinct.contains(&a) {
                    distinct.push(a);
                }
            }
            distinct.iter().position(|a| *a == id).unwrap()
        };
        let now = SystemTime::now();
        let (start, end) = if nth < sh.open_for {
            (
                now - Duration::from_secs(3600),
                now + Duration::from_secs(2),
            )
        } else {
            let day = Duration::from_secs(86400);
            (now + 10 * day, now + 11 * day)
        };
        let body = serde_json::json!({
            "suggestedWindow": { "start": rfc3339(start), "end": rfc3339(end) },
            "explanationURL": "https://ca.example/why"
        });
        return respond(
            200,
            &[
                ("content-type", "application/json".into()),
                ("retry-after", "21600".into()),
            ],
            body.to_string(),
        );
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let replaces = (path == "/order-plz").then(|| order_replaces(&body));
    let (status, headers, mut out) = match forward(sh, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            let problem = serde_json::json!({
                "type": "urn:ietf:params:acme:error:serverInternal",
                "detail": format!("front: {e}")
            });
            let ctype = ("content-type", "application/problem+json".to_string());
            return respond(502, &[ctype], problem.to_string());
        }
    };
    if path == "/dir" {
        let mut dir: serde_json::Value = serde_json::from_slice(&out).unwrap();
        dir["renewalInfo"] = format!("https://{host}/renewal-info").into();
        out = dir.to_string().into();
    }
    if let Some(replaces) = replaces {
        let nth = {
            let mut seen = sh.seen.lock().unwrap();
            seen.orders.push(replaces.clone());
            seen.orders.iter().filter(|r| r.is_some()).count()
        };
        if let Some(id) = replaces.filter(|_| status == 201 && nth <= sh.echo_replaces) {
            let mut order: serde_json::Value = serde_json::from_slice(&out).unwrap();
            order["replaces"] = id.into();
            out = order.to_string().into();
        }
    }
    let mut r = respond(status, &[], out);
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" {
            r.headers_mut().append(k, v.clone());
        }
    }
    r
}

/// The `replaces` of a new order's JWS payload.
fn order_replaces(jws: &[u8]) -> Option<String> {
    let jws: serde_json::Value = serde_json::from_slice(jws).ok()?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jws["payload"].as_str()?)
        .ok()?;
    let payload: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    payload["replaces"].as_str().map(str::to_string)
}

/// One request to pebble, as received: (status, headers, body).
async fn forward(
    sh: &Shared,
    parts: http::request::Parts,
    body: Bytes,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", sh.pebble))
        .await
        .map_err(|e| format!("connect to pebble: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(sh.to_pebble.clone())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS to pebble: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::from_parts(parts, Full::new(body));
    *req.uri_mut() = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .unwrap();
    let rsp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = rsp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status.as_u16(), parts.headers, body))
}
