//! Certificates chosen during the handshake (`ssl_certificate_by_lua*`): what a handler
//! learns about the handshake and what it sets ([`CertRequest`]), DER and PEM input checked
//! with the words of OpenSSL's functions that lua-nginx-module reports, and the server
//! configs built for the certificates set. Configs and keys are cached per worker thread,
//! so a certificate served again costs a digest and a lookup, not a key parse.

use super::CertKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{ServerConfig, SupportedProtocolVersion};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// OpenSSL's version numbers, as `ngx.ssl.get_tls1_version` returns them.
pub const TLS1_2_VERSION: u16 = 0x0303;
pub const TLS1_3_VERSION: u16 = 0x0304;

/// Entries kept per worker in each cache; a full cache starts over (certificates set by
/// handlers are few in practice, and a miss only costs a key parse).
const CACHE_MAX: usize = 512;

/// A private key ready to sign, with the digest of its DER (the config cache's key).
#[derive(Clone)]
pub struct Key {
    digest: [u8; 32],
    signer: Arc<dyn SigningKey>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key")
    }
}

/// One handshake as an `ssl_certificate_by_lua*` handler sees it, and what it set.
#[derive(Debug)]
pub struct CertRequest {
    /// The SNI name as the client sent it.
    pub server_name: Option<String>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The listen address (`server:` in error log lines).
    pub listen: SocketAddr,
    /// The protocol the handshake speaks ([`TLS1_2_VERSION`] or [`TLS1_3_VERSION`]).
    pub version: u16,
    /// `clear_certs()` was called: the configured certificates are not served.
    pub cleared: bool,
    pub chain: Option<Vec<CertificateDer<'static>>>,
    pub key: Option<Key>,
}

impl Default for CertRequest {
    /// A request with nothing known (a placeholder while a handler holds the real one).
    fn default() -> CertRequest {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        CertRequest {
            server_name: None,
            local: any,
            remote: any,
            listen: any,
            version: TLS1_2_VERSION,
            cleared: false,
            chain: None,
            key: None,
        }
    }
}

/// What a handshake serves once its handler has run.
pub enum Served {
    /// The server's configured certificates (the handler set nothing).
    Configured,
    /// The certificate the handler set.
    Own(Arc<ServerConfig>),
}

impl CertRequest {
    pub fn new(
        hello: &ClientHello<'_>,
        versions: &[&'static SupportedProtocolVersion],
        local: SocketAddr,
        remote: SocketAddr,
        listen: SocketAddr,
    ) -> CertRequest {
        // The version is settled after the ClientHello in rustls; a client offering a TLS
        // 1.3 suite to a server allowing TLS 1.3 will speak it.
        let tls13 = versions
            .iter()
            .any(|v| v.version == rustls::ProtocolVersion::TLSv1_3)
            && hello.cipher_suites().iter().any(|s| {
                matches!(
                    s,
                    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
                        | rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
                        | rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                )
            });
        CertRequest {
            server_name: hello.server_name().map(str::to_string),
            local,
            remote,
            listen,
            version: if tls13 {
                TLS1_3_VERSION
            } else {
                TLS1_2_VERSION
            },
            cleared: false,
            chain: None,
            key: None,
        }
    }

    /// `set_der_priv_key`/`set_priv_key`: refused (as OpenSSL's `SSL_use_PrivateKey`) when
    /// it does not match the certificate already set.
    pub fn set_key(&mut self, key: Key) -> Result<(), &'static str> {
        if let Some(chain) = &self.chain {
            let ck = CertifiedKey::new(chain.clone(), key.signer.clone());
            if ck.keys_match().is_err() {
                return Err("SSL_use_PrivateKey() failed");
            }
        }
        self.key = Some(key);
        Ok(())
    }

    /// The certificate to serve on a socket whose config is `base`; Err with the reason the
    /// handshake fails (a certificate without its key, or the reverse).
    pub fn served(&self, base: &Arc<ServerConfig>) -> Result<Served, String> {
        match (&self.chain, &self.key) {
            (None, None) if !self.cleared => Ok(Served::Configured),
            (Some(chain), Some(key)) => config_for(base, chain, key).map(Served::Own),
            (Some(_), None) => Err("no private key set by ssl_certificate_by_lua*".into()),
            (None, _) => Err("no certificate set by ssl_certificate_by_lua*".into()),
        }
    }
}

/// A DER certificate chain (certificates one after another, leaf first), each checked to
/// be a certificate.
pub fn certs_from_der(der: &[u8]) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    const ERR: &str = "d2i_X509_bio() failed";
    let mut out = vec![];
    let mut rest = der;
    while !rest.is_empty() {
        let len = der_len(rest).ok_or(ERR)?;
        let (one, tail) = rest.split_at(len);
        x509_parser::parse_x509_certificate(one).map_err(|_| ERR)?;
        out.push(CertificateDer::from(one.to_vec()));
        rest = tail;
    }
    if out.is_empty() {
        return Err(ERR);
    }
    Ok(out)
}

/// The whole length of the DER SEQUENCE at the start of `b` (header included).
fn der_len(b: &[u8]) -> Option<usize> {
    if b.len() < 2 || b[0] != 0x30 {
        return None;
    }
    let (body, header) = match b[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            if k == 0 || k > 4 || b.len() < 2 + k {
                return None;
            }
            let len = b[2..2 + k]
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | *x as usize);
            (len, 2 + k)
        }
    };
    let total = header.checked_add(body)?;
    (total <= b.len()).then_some(total)
}

/// A DER private key (PKCS#8, PKCS#1 or SEC1) ready to sign; parsed keys are cached.
pub fn key_from_der(der: &[u8]) -> Result<Key, &'static str> {
    const ERR: &str = "d2i_PrivateKey_bio() failed";
    let digest: [u8; 32] = Sha256::digest(der).into();
    if let Some(signer) = KEYS.with(|k| k.borrow().get(&digest).cloned()) {
        return Ok(Key { digest, signer });
    }
    let parsed = PrivateKeyDer::try_from(der.to_vec()).map_err(|_| ERR)?;
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(parsed)
        .map_err(|_| ERR)?;
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() >= CACHE_MAX {
            k.clear();
        }
        k.insert(digest, signer.clone());
    });
    Ok(Key { digest, signer })
}

/// The certificates of a PEM text (at least one).
pub fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let mut out = vec![];
    for c in CertificateDer::pem_slice_iter(pem) {
        match c {
            Ok(c) => out.push(c),
            Err(_) if out.is_empty() => return Err("PEM_read_bio_X509_AUX() failed"),
            Err(_) => return Err("PEM_read_bio_X509() failed"),
        }
    }
    if out.is_empty() {
        return Err("PEM_read_bio_X509_AUX() failed");
    }
    Ok(out)
}

/// The DER of the private key in a PEM text.
pub fn pem_key_der(pem: &[u8]) -> Result<Vec<u8>, &'static str> {
    PrivateKeyDer::from_pem_slice(pem)
        .map(|k| k.secret_der().to_vec())
        .map_err(|_| "PEM_read_bio_PrivateKey() failed")
}

/// A config made for a handler's certificate, with the socket's config it was made from.
type Made = (Arc<ServerConfig>, Arc<ServerConfig>);

thread_local! {
    static KEYS: RefCell<HashMap<[u8; 32], Arc<dyn SigningKey>>> = RefCell::default();
    /// Configs by digest of (base config, chain, key), with the base they were made from.
    static CONFIGS: RefCell<HashMap<[u8; 32], Made>> = RefCell::default();
}

/// `base` serving only `chain` with `key` (sessions and tickets shared with `base`).
fn config_for(
    base: &Arc<ServerConfig>,
    chain: &[CertificateDer<'static>],
    key: &Key,
) -> Result<Arc<ServerConfig>, String> {
    let mut h = Sha256::new();
    h.update((Arc::as_ptr(base) as usize).to_ne_bytes());
    for c in chain {
        h.update((c.len() as u64).to_ne_bytes());
        h.update(c.as_ref());
    }
    h.update(key.digest);
    let id: [u8; 32] = h.finalize().into();
    let hit = CONFIGS.with(|c| {
        c.borrow()
            .get(&id)
            .filter(|(b, _)| Arc::ptr_eq(b, base))
            .map(|(_, cfg)| cfg.clone())
    });
    if let Some(cfg) = hit {
        return Ok(cfg);
    }
    let ck = CertifiedKey::new(chain.to_vec(), key.signer.clone());
    ck.keys_match()
        .map_err(|_| "SSL_use_PrivateKey() failed (key values mismatch)".to_string())?;
    let mut cfg = (**base).clone();
    cfg.cert_resolver = Arc::new(Fixed(Arc::new(ck)));
    let cfg = Arc::new(cfg);
    CONFIGS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(id, (base.clone(), cfg.clone()));
    });
    Ok(cfg)
}

/// Serves one certificate whatever the client asks.
#[derive(Debug)]
struct Fixed(CertKey);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<CertKey> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_chains_split_and_garbage_is_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem = format!("{}{}", cert.pem(), cert.pem());
        let certs = pem_certs(pem.as_bytes()).unwrap();
        assert_eq!(certs.len(), 2);
        let der: Vec<u8> = certs.iter().flat_map(|c| c.to_vec()).collect();
        assert_eq!(certs_from_der(&der).unwrap(), certs);
        assert_eq!(
            certs_from_der(&der[..der.len() - 1]),
            Err("d2i_X509_bio() failed")
        );
        assert_eq!(certs_from_der(b"junk"), Err("d2i_X509_bio() failed"));
        assert_eq!(pem_certs(b"junk"), Err("PEM_read_bio_X509_AUX() failed"));
        let kder = pem_key_der(key.serialize_pem().as_bytes()).unwrap();
        assert!(key_from_der(&kder).is_ok());
        assert!(key_from_der(b"junk").is_err());
        assert_eq!(pem_key_der(b"x"), Err("PEM_read_bio_PrivateKey() failed"));
    }
}
