//! The files under `state_path`: `account.json` (instant-acme's account credentials: the
//! account URL and its private key) and, per managed certificate, `NAME.crt` (the chain,
//! leaf first) and `NAME.key` (its key), NAME being the certificate's first name. Files
//! holding keys are written with mode 0600, through a temporary file and a rename.

use super::Issued;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn cert_paths(dir: &Path, names: &[String]) -> (PathBuf, PathBuf) {
    let stem = names.first().map(String::as_str).unwrap_or("certificate");
    (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    )
}

/// The stored certificate for `names`, if there is one that covers at least the first and
/// has not expired (`complete` when it covers them all). Ok(None) when there is none (or it
/// does not fit); Err when files are broken.
pub fn load_cert(dir: &Path, names: &[String]) -> Result<Option<Issued>, String> {
    let (c, k) = cert_paths(dir, names);
    if !c.exists() || !k.exists() {
        return Ok(None);
    }
    let chain = std::fs::read(&c).map_err(|e| format!("{}: {e}", c.display()))?;
    let key = std::fs::read(&k).map_err(|e| format!("{}: {e}", k.display()))?;
    let issued = parse(&chain, &key)?;
    let (leaf_names, _) = leaf_facts(&issued.key.cert[0])?;
    let covers = |n: &String| leaf_names.iter().any(|l| l == n);
    let first = names.first().is_some_and(covers);
    if !first || issued.not_after <= SystemTime::now() {
        return Ok(None);
    }
    Ok(Some(Issued {
        complete: names.iter().all(covers),
        ..issued
    }))
}

/// Stores a new certificate and its key.
pub fn save_cert(dir: &Path, names: &[String], chain: &str, key: &str) -> Result<(), String> {
    let (c, k) = cert_paths(dir, names);
    write_private(&k, key.as_bytes())?;
    write_private(&c, chain.as_bytes())
}

/// The stored account credentials, if any.
pub fn load_account(dir: &Path) -> Result<Option<String>, String> {
    let p = dir.join("account.json");
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

pub fn save_account(dir: &Path, json: &str) -> Result<(), String> {
    write_private(&dir.join("account.json"), json.as_bytes())
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A PEM chain and key made ready to serve.
pub fn parse(chain: &[u8], key: &[u8]) -> Result<Issued, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate PEM: {e:?}"))?;
    let Some(leaf) = certs.first() else {
        return Err("no certificate in the chain".into());
    };
    let (_, (not_before, not_after)) = leaf_facts(leaf)?;
    let der = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("bad key PEM: {e:?}"))?;
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("unusable key: {e}"))?;
    let ck = rustls::sign::CertifiedKey::new(certs, signer);
    ck.keys_match()
        .map_err(|e| format!("key does not match the certificate: {e}"))?;
    Ok(Issued {
        key: std::sync::Arc::new(ck),
        not_before,
        not_after,
        complete: true,
    })
}

/// A leaf's DNS names and validity.
type Facts = (Vec<String>, (SystemTime, SystemTime));

fn leaf_facts(leaf: &CertificateDer<'_>) -> Result<Facts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("cannot parse the certificate: {e}"))?;
    let at = |t: i64| UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    let validity = (
        at(cert.validity().not_before.timestamp()),
        at(cert.validity().not_after.timestamp()),
    );
    let mut names = vec![];
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    Ok((names, validity))
}
