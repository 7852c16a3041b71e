//! TLS-ALPN-01 (RFC 8737): the self-signed certificate served to the CA's `acme-tls/1`
//! handshake, carrying the key authorization's SHA-256 in the acmeIdentifier extension.

use crate::tls::CertKey;
use rcgen_acme::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// The challenge certificate for `name` with the key authorization `digest`.
pub fn challenge_cert(name: &str, digest: &[u8]) -> Result<CertKey, String> {
    let err = |e: rcgen_acme::Error| format!("cannot make the TLS-ALPN-01 certificate: {e}");
    let mut p = CertificateParams::new(vec![name.to_string()]).map_err(err)?;
    p.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate().map_err(err)?;
    let cert = p.self_signed(&key).map_err(err)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot load the TLS-ALPN-01 key: {e}"))?;
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    Ok(Arc::new(rustls::sign::CertifiedKey::new(chain, signer)))
}
