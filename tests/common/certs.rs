//! Test certificates: a self-made CA (rcgen) issuing ECDSA P-256 or RSA leaf certificates,
//! written as PEM files where a config can name them.

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use std::path::Path;

pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

/// Which key a leaf certificate gets.
#[derive(Clone, Copy)]
pub enum Key {
    Ecdsa,
    /// A fixed 2048-bit key from tests/data (ring cannot generate RSA keys).
    Rsa,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (the first is also its common name): (chain PEM, key PEM). The
    /// chain holds the leaf and the CA, as `ssl_certificate` files usually do.
    pub fn issue(&self, names: &[&str], key: Key) -> (String, String) {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let k = match key {
            Key::Ecdsa => KeyPair::generate().unwrap(),
            Key::Rsa => {
                let pem = std::fs::read_to_string(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/test-rsa.key"),
                )
                .unwrap();
                KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap()
            }
        };
        let cert = p.signed_by(&k, &self.cert, &self.key).unwrap();
        (
            format!("{}{}", cert.pem(), self.cert.pem()),
            k.serialize_pem(),
        )
    }

    /// Writes a leaf's files as `dir/NAME.crt` and `dir/NAME.key`.
    pub fn write(&self, dir: &Path, file: &str, names: &[&str], key: Key) {
        let (c, k) = self.issue(names, key);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{file}.crt")), c).unwrap();
        std::fs::write(dir.join(format!("{file}.key")), k).unwrap();
    }
}
