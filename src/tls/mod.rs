//! TLS primitives over rustls (ring provider): loading PEM certificate pairs, choosing a
//! certificate by the client's signature schemes, nginx's `ssl_protocols`/`ssl_ciphers`
//! mapped to rustls, server and client configs. No config, router or hyper types here: the
//! server layer supplies the SNI choice through [`ResolvesServerCert`].

use rustls::crypto::ring::{cipher_suite as cs, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::{SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion};
use std::path::Path;
use std::sync::Arc;

pub mod acme;
pub mod dynamic;

pub use dynamic::CertRequest;
pub use rustls::server::ClientHello;
pub use rustls::{ClientConfig, ServerConfig};

/// A certificate chain with its key, ready to serve.
pub type CertKey = Arc<CertifiedKey>;

/// Loads `ssl_certificate` (a PEM chain, leaf first) and `ssl_certificate_key` (PKCS#8,
/// PKCS#1 or SEC1 PEM). Errors name the file and say what is wrong.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertKey, String> {
    let certs = load_certs(cert)?;
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "cannot load certificate key \"{}\": {}",
            key.display(),
            pem_error(&e)
        )
    })?;
    let signer = default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot load certificate key \"{}\": {e}", key.display()))?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match().map_err(|_| {
        format!(
            "SSL_CTX_use_PrivateKey(\"{}\") failed (key values mismatch)",
            key.display()
        )
    })?;
    Ok(Arc::new(ck))
}

/// Reads every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            format!(
                "cannot load certificate \"{}\": {}",
                path.display(),
                pem_error(&e)
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "cannot load certificate \"{}\": {}",
                path.display(),
                pem_error(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "cannot load certificate \"{}\": no certificate found",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => match io.raw_os_error() {
            Some(n) => format!("({n}: {})", crate::error::strerror(io)),
            None => io.to_string(),
        },
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM data found".into(),
        other => format!("{other:?}"),
    }
}

/// The certificate of a set that the client can verify: the first whose key signs with one
/// of the client's schemes (so one server can hold an ECDSA and an RSA pair), else the
/// first.
pub fn pick(certs: &[CertKey], schemes: &[SignatureScheme]) -> Option<CertKey> {
    certs
        .iter()
        .find(|c| c.key.choose_scheme(schemes).is_some())
        .or_else(|| certs.first())
        .cloned()
}

/// nginx's `ssl_protocols` as rustls versions. Only TLSv1.2 and TLSv1.3 exist in rustls;
/// older names are refused.
pub fn versions(names: &[String]) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut out = vec![];
    for n in names {
        match n.as_str() {
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                return Err(format!(
                    "\"{n}\" is not supported: openclaw speaks TLSv1.2 and TLSv1.3 only"
                ))
            }
            _ => return Err(format!("invalid value \"{n}\"")),
        }
    }
    Ok(out)
}

/// TLS 1.2 suites rustls offers, with their OpenSSL names and properties.
struct Suite {
    name: &'static str,
    suite: SupportedCipherSuite,
    ecdsa: bool,
    cipher: &'static str,
}

fn tls12_suites() -> [Suite; 6] {
    [
        Suite {
            name: "ECDHE-ECDSA-AES256-GCM-SHA384",
            suite: cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ecdsa: true,
            cipher: "AES256GCM",
        },
        Suite {
            name: "ECDHE-ECDSA-AES128-GCM-SHA256",
            suite: cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ecdsa: true,
            cipher: "AES128GCM",
        },
        Suite {
            name: "ECDHE-ECDSA-CHACHA20-POLY1305",
            suite: cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ecdsa: true,
            cipher: "CHACHA20",
        },
        Suite {
            name: "ECDHE-RSA-AES256-GCM-SHA384",
            suite: cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            ecdsa: false,
            cipher: "AES256GCM",
        },
        Suite {
            name: "ECDHE-RSA-AES128-GCM-SHA256",
            suite: cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ecdsa: false,
            cipher: "AES128GCM",
        },
        Suite {
            name: "ECDHE-RSA-CHACHA20-POLY1305",
            suite: cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ecdsa: false,
            cipher: "CHACHA20",
        },
    ]
}

/// OpenSSL keywords that name classes rustls has nothing of (valid, select nothing).
const EMPTY_CLASSES: &[&str] = &[
    "aNULL", "eNULL", "NULL", "MD5", "RC4", "DES", "3DES", "EXPORT", "EXP", "LOW", "MEDIUM", "PSK",
    "SRP", "DSS", "aDSS", "CAMELLIA", "SEED", "IDEA", "kRSA", "DH", "DHE", "EDH", "kDHE", "kEDH",
    "ADH", "AECDH", "SHA1", "SHA", "CBC", "AESCCM", "AESCCM8", "ARIA", "kPSK", "aPSK", "GOST",
    "RC2", "SSLv3", "TLSv1", "TLSv1.0",
];

/// Which TLS 1.2 suites an OpenSSL cipher-list atom (one side of `A+B`) selects.
fn atom(a: &str, all: &[Suite]) -> Result<Vec<usize>, String> {
    let idx = |f: &dyn Fn(&Suite) -> bool| -> Vec<usize> {
        all.iter()
            .enumerate()
            .filter(|(_, s)| f(s))
            .map(|(i, _)| i)
            .collect()
    };
    if let Some(i) = all.iter().position(|s| s.name == a) {
        return Ok(vec![i]);
    }
    Ok(match a {
        "ALL"
        | "HIGH"
        | "DEFAULT"
        | "COMPLEMENTOFDEFAULT"
        | "ECDHE"
        | "EECDH"
        | "ECDH"
        | "kECDHE"
        | "kEECDH"
        | "AEAD"
        | "TLSv1.2"
        | "FIPS" => idx(&|_| true),
        "ECDSA" | "aECDSA" => idx(&|s| s.ecdsa),
        "RSA" | "aRSA" => idx(&|s| !s.ecdsa),
        "AESGCM" | "AES" => idx(&|s| s.cipher.starts_with("AES")),
        "AES128" => idx(&|s| s.cipher == "AES128GCM"),
        "AES256" => idx(&|s| s.cipher == "AES256GCM"),
        "CHACHA20" => idx(&|s| s.cipher == "CHACHA20"),
        "SHA256" => idx(&|s| s.cipher != "AES256GCM"),
        "SHA384" => idx(&|s| s.cipher == "AES256GCM"),
        a if EMPTY_CLASSES.contains(&a) => vec![],
        a => {
            return Err(format!(
                "unsupported cipher \"{a}\" in \"ssl_ciphers\" directive"
            ))
        }
    })
}

/// nginx's `ssl_ciphers` (an OpenSSL cipher list) mapped onto rustls's TLS 1.2 suites, in
/// the list's order; TLS 1.3 suites are always all enabled (nginx sets those elsewhere).
/// A name that is neither a suite rustls implements nor an OpenSSL keyword is an error.
pub fn cipher_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = tls12_suites();
    let mut chosen: Vec<usize> = vec![];
    let mut banned: Vec<usize> = vec![];
    for tok in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if tok.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=N
        }
        let (op, body) = match tok.as_bytes()[0] {
            b'!' | b'-' | b'+' => (tok.as_bytes()[0], &tok[1..]),
            _ => (b' ', tok),
        };
        let mut set: Option<Vec<usize>> = None;
        for a in body.split('+') {
            let s = atom(a, &all)?;
            set = Some(match set {
                None => s,
                Some(prev) => prev.into_iter().filter(|i| s.contains(i)).collect(),
            });
        }
        let set = set.unwrap_or_default();
        match op {
            b'!' => {
                chosen.retain(|i| !set.contains(i));
                banned.extend(set);
            }
            b'-' => chosen.retain(|i| !set.contains(i)),
            b'+' => {
                // Move to the end, keeping them.
                let moved: Vec<usize> =
                    chosen.iter().copied().filter(|i| set.contains(i)).collect();
                chosen.retain(|i| !set.contains(i));
                chosen.extend(moved);
            }
            _ => {
                for i in set {
                    if !chosen.contains(&i) && !banned.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    let mut out: Vec<SupportedCipherSuite> = vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    out.extend(chosen.into_iter().map(|i| all[i].suite));
    Ok(out)
}

/// The OpenSSL name of a negotiated suite (`$ssl_cipher`).
pub fn cipher_name(s: SupportedCipherSuite) -> String {
    let id = s.suite();
    if let Some(x) = tls12_suites().iter().find(|x| x.suite.suite() == id) {
        return x.name.to_string();
    }
    // TLS 1.3: the IANA name without the TLS13_ prefix rustls uses.
    format!("{id:?}").replace("TLS13_", "TLS_")
}

/// `$ssl_protocol`.
pub fn protocol_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "unknown",
    }
}

/// Client certificates (`ssl_client_certificate` + `ssl_verify_client`): the handshake
/// asks for a certificate and checks the client's signature, but accepts any chain, so
/// the server can answer a missing or bad certificate with nginx's 400 pages; the chain
/// is judged after the handshake with [`ClientCa::verify`].
#[derive(Debug)]
pub struct ClientCa {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl ClientCa {
    /// From a PEM file of CA certificates; None (any chain) for `optional_no_ca` without one.
    pub fn new(ca: Option<&Path>) -> Result<Arc<ClientCa>, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(p) = ca {
            for c in load_certs(p)? {
                roots
                    .add(c)
                    .map_err(|e| format!("cannot load certificate \"{}\": {e}", p.display()))?;
            }
        }
        let inner: Arc<dyn rustls::server::danger::ClientCertVerifier> = if roots.is_empty() {
            // `optional_no_ca` without a CA file: any chain, signatures still checked.
            Arc::new(NoVerify(Arc::new(default_provider()), None))
        } else {
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(default_provider()),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| e.to_string())?
        };
        Ok(Arc::new(ClientCa { inner }))
    }

    /// Judges a client's chain (leaf first): `Err` with the reason for `$ssl_client_verify`.
    pub fn verify(&self, chain: &[CertificateDer<'_>]) -> Result<(), String> {
        let (leaf, rest) = chain.split_first().ok_or("no certificate")?;
        self.inner
            .verify_client_cert(leaf, rest, rustls::pki_types::UnixTime::now())
            .map(|_| ())
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                other => other.to_string(),
            })
    }
}

/// The verifier the handshake uses: signatures checked, chains accepted (see [`ClientCa`]).
#[derive(Debug)]
struct Lenient(Arc<ClientCa>);

impl rustls::server::danger::ClientCertVerifier for Lenient {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.inner.supported_verify_schemes()
    }
}

/// `$ssl_client_s_dn` (RFC 2253, as nginx prints it) and `$ssl_client_fingerprint` (SHA-1
/// of the DER, hex) of a leaf certificate.
pub fn client_cert_facts(leaf: &CertificateDer<'_>) -> (String, String) {
    use sha1::Digest;
    let fp: String = sha1::Sha1::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dn = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map(|(_, c)| {
            let mut parts: Vec<String> = c
                .subject()
                .iter_rdn()
                .map(|rdn| {
                    rdn.iter()
                        .map(|a| {
                            let key = x509_parser::objects::oid2abbrev(
                                a.attr_type(),
                                x509_parser::objects::oid_registry(),
                            )
                            .map(str::to_string)
                            .unwrap_or_else(|_| a.attr_type().to_id_string());
                            format!("{key}={}", a.as_str().unwrap_or(""))
                        })
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect();
            parts.reverse();
            parts.join(",")
        })
        .unwrap_or_default();
    (dn, fp)
}

/// What a TLS listener offers: built once per listen socket and generation.
pub struct ServerSettings {
    pub versions: Vec<&'static SupportedProtocolVersion>,
    pub suites: Vec<SupportedCipherSuite>,
    pub prefer_server_ciphers: bool,
    /// Sessions kept for resumption by ID (0: none).
    pub session_cache: usize,
    pub tickets: bool,
    pub h2: bool,
    /// Offer `acme-tls/1` too (a server on the socket answers TLS-ALPN-01 challenges).
    pub acme_alpn: bool,
    /// Ask for client certificates (`ssl_verify_client`).
    pub client_ca: Option<Arc<ClientCa>>,
}

/// A rustls server config choosing certificates through `resolver`.
pub fn server_config(
    s: &ServerSettings,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = CryptoProvider {
        cipher_suites: s.suites.clone(),
        ..default_provider()
    };
    let cfg = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&s.versions)
        .map_err(|e| format!("ssl_protocols and ssl_ciphers leave nothing to offer: {e}"))?;
    let mut cfg = match &s.client_ca {
        Some(ca) => cfg.with_client_cert_verifier(Arc::new(Lenient(ca.clone()))),
        None => cfg.with_no_client_auth(),
    }
    .with_cert_resolver(resolver);
    cfg.ignore_client_order = s.prefer_server_ciphers;
    cfg.session_storage = if s.session_cache > 0 {
        rustls::server::ServerSessionMemoryCache::new(s.session_cache)
    } else {
        Arc::new(rustls::server::NoServerSessionStorage {})
    };
    if s.tickets {
        cfg.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("cannot create session ticket keys: {e}"))?;
    }
    cfg.alpn_protocols = if s.h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    if s.acme_alpn {
        cfg.alpn_protocols.push(acme::ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(cfg))
}

/// A client config for TLS to upstreams: `verify` with the `trusted` CA file (nginx's
/// `proxy_ssl_verify on` + `proxy_ssl_trusted_certificate`), or no verification at all
/// (nginx's default `proxy_ssl_verify off`).
pub fn client_config(
    verify: bool,
    trusted: Option<&Path>,
    sni: bool,
    session_reuse: bool,
    client_cert: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, String> {
    client_config_with(
        verify,
        trusted,
        sni,
        session_reuse,
        client_cert,
        rustls::DEFAULT_VERSIONS,
    )
}

/// A client configuration for cosockets (`lua_ssl_*`): SNI on, sessions resumed, the given
/// protocol versions.
pub fn client_config_versions(
    verify: bool,
    trusted: Option<&Path>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, String> {
    client_config_with(verify, trusted, true, true, None, versions)
}

fn client_config_with(
    verify: bool,
    trusted: Option<&Path>,
    sni: bool,
    session_reuse: bool,
    client_cert: Option<(&Path, &Path)>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Arc<ClientConfig>, String> {
    // `proxy_ssl_certificate` + `_key`: a certificate to present to upstreams.
    let auth = match client_cert {
        Some((c, k)) => {
            let chain = load_certs(c)?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| {
                format!(
                    "cannot load certificate key \"{}\": {}",
                    k.display(),
                    pem_error(&e)
                )
            })?;
            Some((chain, key))
        }
        None => None,
    };
    let provider = Arc::new(default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let mut cfg = if verify {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(p) = trusted {
            for c in load_certs(p)? {
                roots
                    .add(c)
                    .map_err(|e| format!("cannot load certificate \"{}\": {e}", p.display()))?;
            }
        }
        let b = builder.with_root_certificates(roots);
        match auth {
            Some((chain, key)) => b
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?,
            None => b.with_no_client_auth(),
        }
    } else {
        let b = builder
            .dangerous()
            .with_custom_certificate_verifier(insecure_verifier(None));
        match auth {
            Some((chain, key)) => b
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?,
            None => b.with_no_client_auth(),
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.enable_sni = sni;
    if !session_reuse {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

/// A verifier that accepts any certificate (handshake signatures are still checked):
/// nginx's `proxy_ssl_verify off`. `schemes` limits the signature schemes offered (all of
/// the provider's when None), which is how a client asks for an RSA or ECDSA certificate.
pub fn insecure_verifier(
    schemes: Option<Vec<SignatureScheme>>,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    Arc::new(NoVerify(Arc::new(default_provider()), schemes))
}

#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>, Option<Vec<SignatureScheme>>);

/// The signature checks both verifier traits share: the handshake's signatures are
/// always checked, whatever is decided about the chain.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            match &self.1 {
                Some(s) => s.clone(),
                None => self.0.signature_verification_algorithms.supported_schemes(),
            }
        }
    };
}

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    signature_checks!();
}

impl rustls::server::danger::ClientCertVerifier for NoVerify {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    signature_checks!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_cipher_lists_map_to_rustls_suites() {
        // nginx's default: every TLS 1.2 suite rustls has, plus TLS 1.3.
        assert_eq!(cipher_suites("HIGH:!aNULL:!MD5").unwrap().len(), 9);
        let only = cipher_suites("ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(only.len(), 4);
        assert_eq!(cipher_name(only[3]), "ECDHE-RSA-AES128-GCM-SHA256");
        let ecdsa = cipher_suites("ECDHE+AESGCM:!RSA").unwrap();
        assert_eq!(ecdsa.len(), 5);
        let e = cipher_suites("HIGH:AES128-SHA").unwrap_err();
        assert!(e.contains("\"AES128-SHA\""), "{e}");
        assert_eq!(
            cipher_name(cs::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
    }

    #[test]
    fn old_protocols_are_refused() {
        assert_eq!(
            versions(&["TLSv1.2".into(), "TLSv1.3".into()])
                .unwrap()
                .len(),
            2
        );
        let e = versions(&["TLSv1.1".into()]).unwrap_err();
        assert!(e.contains("TLSv1.1"));
    }
}
