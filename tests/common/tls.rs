//! A rustls client for tests: trusting a test CA (or anything), one HTTP/1.1 request over
//! TLS with SNI, and the certificate the server presented.

use super::certs::Ca;
use super::Gateway;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn all_schemes() -> Vec<rustls::SignatureScheme> {
    provider()
        .signature_verification_algorithms
        .supported_schemes()
}

/// A client trusting `ca`, or anything (offering `schemes`) when `ca` is None.
pub fn client(
    ca: Option<&Ca>,
    alpn: &[&str],
    schemes: Vec<rustls::SignatureScheme>,
) -> Arc<rustls::ClientConfig> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut cfg = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
                .unwrap();
            b.with_root_certificates(roots).with_no_client_auth()
        }
        None => b
            .dangerous()
            .with_custom_certificate_verifier(openclaw::tls::insecure_verifier(Some(schemes)))
            .with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Arc::new(cfg)
}

/// A response read to its end and the leaf certificate the server presented.
pub struct Fetched {
    pub text: String,
    pub leaf: Vec<u8>,
}

/// One HTTP/1.1 request over TLS with `sni`.
pub fn fetch(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    sni: &str,
    path: &str,
) -> Result<Fetched, String> {
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = vec![];
    match tls.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    Ok(Fetched {
        text: String::from_utf8_lossy(&buf).into_owned(),
        leaf: conn
            .peer_certificates()
            .map(|c| c[0].to_vec())
            .unwrap_or_default(),
    })
}

/// The leaf (first) certificate of a PEM file under the gateway's prefix, as DER.
pub fn leaf_of(gw: &Gateway, file: &str) -> Vec<u8> {
    let pem = std::fs::read(gw.path(file)).unwrap();
    CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}
