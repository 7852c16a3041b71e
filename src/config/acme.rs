//! `acme_issuer` blocks and `acme_certificate` (the names of nginx's ngx_http_acme_module),
//! turned into [`crate::tls::acme`] issuers and managed certificates.

use super::{Builder, Directive};
use crate::error::Result;
use crate::tls::acme::{Challenge, Issuer, Managed};
use std::collections::HashMap;
use std::sync::Arc;

/// Reads every `acme_issuer NAME { ... }` of the http block into `b.acme_issuers`.
pub fn build_issuers(b: &mut Builder, http_body: &[Directive]) -> Result<()> {
    for d in http_body.iter().filter(|x| x.name == "acme_issuer") {
        let name = d.args[0].clone();
        if b.acme_issuers.contains_key(&name) {
            return Err(d.err(format!("duplicate acme_issuer \"{name}\"")));
        }
        let issuer = issuer(b, d, &name)?;
        b.acme_issuers.insert(name, Arc::new(issuer));
    }
    Ok(())
}

fn issuer(b: &Builder, d: &Directive, name: &str) -> Result<Issuer> {
    let mut uri = None;
    let mut contacts = vec![];
    let mut state_dir = Some(b.full_path(&format!("acme_{name}")));
    let mut trusted = None;
    let mut verify = true;
    let mut challenge = Challenge::Http01;
    let mut accept_tos = false;
    let mut seen = std::collections::HashSet::new();
    for x in d.children() {
        let a = &x.args;
        if x.name != "contact" && !seen.insert(x.name.as_str()) {
            return Err(x.err(format!("\"{}\" directive is duplicate", x.name)));
        }
        match x.name.as_str() {
            "uri" => {
                let ok = a[0].parse::<http::Uri>().is_ok_and(|u| {
                    matches!(u.scheme_str(), Some("https" | "http")) && u.host().is_some()
                });
                if !ok {
                    return Err(x.err(format!("invalid \"uri\" value \"{}\"", a[0])));
                }
                uri = Some(a[0].clone());
            }
            "contact" => {
                let c = &a[0];
                if c.is_empty() || c.contains(char::is_whitespace) {
                    return Err(x.err(format!("invalid \"contact\" value \"{c}\"")));
                }
                contacts.push(if c.contains(':') {
                    c.clone()
                } else {
                    format!("mailto:{c}")
                });
            }
            "state_path" => {
                state_dir = (a[0] != "off").then(|| b.full_path(&a[0]));
            }
            "ssl_trusted_certificate" => {
                let p = b.conf_path(&a[0]);
                crate::tls::load_certs(&p).map_err(|e| x.err(e))?;
                trusted = Some(p);
            }
            "ssl_verify" => verify = a[0] == "on",
            "challenge" => {
                challenge = match a[0].as_str() {
                    "http-01" | "http" => Challenge::Http01,
                    "tls-alpn-01" | "tls-alpn" => Challenge::TlsAlpn01,
                    v => {
                        return Err(
                            x.err(format!("invalid value \"{v}\" in \"challenge\" directive"))
                        )
                    }
                }
            }
            "accept_terms_of_service" => accept_tos = true,
            _ => {}
        }
    }
    let Some(uri) = uri else {
        return Err(d.err(format!("\"uri\" is missing in acme_issuer \"{name}\"")));
    };
    Ok(Issuer {
        name: name.to_string(),
        uri,
        contacts,
        state_dir,
        trusted,
        verify,
        challenge,
        accept_tos,
    })
}

/// A server's ACME settings.
#[derive(Default)]
pub struct AcmeServer {
    /// `acme_certificate`: the certificate for its names.
    pub managed: Option<Arc<Managed>>,
    /// `acme_on_demand on`: the issuer asked for other names its `server_name` matches.
    pub on_demand: Option<Arc<Issuer>>,
}

impl AcmeServer {
    pub fn any(&self) -> bool {
        self.managed.is_some() || self.on_demand.is_some()
    }

    pub fn challenge(&self) -> Option<Challenge> {
        self.managed
            .as_ref()
            .map(|m| m.issuer.challenge)
            .or(self.on_demand.as_ref().map(|i| i.challenge))
    }
}

/// A server's `acme_certificate ISSUER [NAME...] [key=ecdsa]` (the names listed, else the
/// server's exact `server_name`s) and `acme_on_demand on|off`.
pub fn server_certificate(
    issuers: &HashMap<String, Arc<Issuer>>,
    body: &[Directive],
) -> Result<AcmeServer> {
    let demand = body.iter().rfind(|x| x.name == "acme_on_demand");
    let mut found = body.iter().filter(|x| x.name == "acme_certificate");
    let Some(d) = found.next() else {
        if let Some(x) = demand.filter(|x| x.args[0] == "on") {
            return Err(x.err("\"acme_on_demand\" needs \"acme_certificate\" in the server"));
        }
        return Ok(AcmeServer::default());
    };
    let on_demand = demand.is_some_and(|x| x.args[0] == "on");
    if let Some(dup) = found.next() {
        return Err(dup.err("\"acme_certificate\" directive is duplicate"));
    }
    let issuer = issuers
        .get(&d.args[0])
        .ok_or_else(|| d.err(format!("unknown acme_issuer \"{}\"", d.args[0])))?;
    let mut names: Vec<String> = vec![];
    for a in &d.args[1..] {
        if let Some(k) = a.strip_prefix("key=") {
            // instant-acme makes ECDSA P-256 keys.
            if !matches!(k, "ecdsa" | "ecdsa:256" | "ec" | "ec:256") {
                return Err(d.err(format!(
                    "unsupported key type \"{k}\": openclaw makes ecdsa:256 keys"
                )));
            }
            continue;
        }
        check_name(d, a)?;
        push_unique(&mut names, a.to_ascii_lowercase());
    }
    if d.args.len() == 1 || names.is_empty() {
        for x in body.iter().filter(|x| x.name == "server_name") {
            for n in &x.args {
                let n = n.to_ascii_lowercase();
                if n.is_empty() || n.starts_with('~') || n.contains('*') || n.starts_with('.') {
                    continue;
                }
                if n.parse::<std::net::IpAddr>().is_ok() || n == "localhost" || !n.contains('.') {
                    continue;
                }
                check_name(d, &n)?;
                push_unique(&mut names, n);
            }
        }
    }
    let on_demand = on_demand.then(|| issuer.clone());
    if names.is_empty() && on_demand.is_some() {
        return Ok(AcmeServer {
            managed: None,
            on_demand,
        });
    }
    if names.is_empty() {
        return Err(d.err(
            "no names for \"acme_certificate\": list them after the issuer or give the server exact names in \"server_name\"",
        ));
    }
    Ok(AcmeServer {
        managed: Some(Arc::new(crate::tls::acme::managed(issuer.clone(), names))),
        on_demand,
    })
}

fn push_unique(v: &mut Vec<String>, n: String) {
    if !v.contains(&n) {
        v.push(n);
    }
}

/// A DNS name an ACME CA can validate by HTTP-01 or TLS-ALPN-01 (no wildcards).
fn check_name(d: &Directive, n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        });
    if !ok {
        return Err(d.err(format!("invalid name \"{n}\" in \"acme_certificate\"")));
    }
    Ok(())
}
