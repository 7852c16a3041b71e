//! Automatic certificates with ACME (RFC 8555), over instant-acme.
//!
//! The configuration describes issuers ([`Issuer`]) and, per server, one managed certificate
//! ([`Managed`]: an issuer and the names to cover). Each managed certificate has a [`Slot`]
//! that the TLS resolver reads on every handshake; slots live in a process-wide registry
//! keyed by issuer and names, so a reload finds the same slot (and its certificate) again.
//!
//! [`sync`] (called by the running gateway after its start and after each reload) makes the
//! background manager run exactly one issuance task per key: new keys get a task, keys no
//! longer configured lose theirs, kept keys keep theirs. The manager is a thread of its own
//! with a current-thread tokio runtime, so ACME traffic never runs on a worker.
//!
//! On demand ([`on_demand`], `demand.rs`): the TLS resolver asks for a certificate of its own
//! for an SNI name that a server with `acme_on_demand on` matches; the first ask starts a
//! task like any other.
//!
//! Renewal (`issue.rs`) is two thirds into a certificate's lifetime, or inside the window
//! the CA suggests when its directory offers ACME Renewal Information (`ari.rs`).
//!
//! Challenges answered while an order is open: HTTP-01 tokens ([`http01`], asked by every
//! plain-HTTP listener) and TLS-ALPN-01 certificates ([`alpn_cert`], asked by the TLS
//! resolver for `acme-tls/1` handshakes).

mod alpn;
mod ari;
mod client;
mod demand;
mod issue;
mod store;

pub use demand::{on_demand, MAX_ON_DEMAND};

use super::CertKey;
use arc_swap::ArcSwapOption;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The path prefix of HTTP-01 challenges (RFC 8555, 8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// How a CA checks that we control a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Http01,
    TlsAlpn01,
}

/// An `acme_issuer` block.
#[derive(Debug)]
pub struct Issuer {
    pub name: String,
    /// The directory URL.
    pub uri: String,
    /// Contact URLs (`mailto:` added to bare addresses).
    pub contacts: Vec<String>,
    /// Where the account key and certificates are kept; None with `state_path off`.
    pub state_dir: Option<PathBuf>,
    /// CA file trusted for the directory's TLS (else the system's bundle).
    pub trusted: Option<PathBuf>,
    /// `ssl_verify off` skips checking the directory's certificate.
    pub verify: bool,
    pub challenge: Challenge,
    pub accept_tos: bool,
}

impl Issuer {
    /// Every setting, so a reload that changes any of them starts a fresh task (and
    /// account client) instead of keeping the old ones.
    fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{}|{:?}|{}",
            self.name,
            self.uri,
            self.contacts,
            self.state_dir,
            self.trusted,
            self.verify,
            self.challenge,
            self.accept_tos
        )
    }
}

/// A certificate in service, with its validity.
pub struct Issued {
    pub key: CertKey,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// Covers every configured name. A stored certificate for fewer names (names were
    /// added) still serves those while a complete one is ordered at once.
    pub complete: bool,
}

impl Issued {
    /// When to renew without the CA's renewal information: two thirds into the lifetime.
    pub fn renew_at(&self) -> SystemTime {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_before + life * 2 / 3
    }
}

/// Where a managed certificate is published for the TLS resolver.
pub struct Slot {
    current: ArcSwapOption<Issued>,
}

impl Slot {
    /// The certificate to serve, once there is one.
    pub fn get(&self) -> Option<CertKey> {
        self.current.load().as_ref().map(|i| i.key.clone())
    }

    fn issued(&self) -> Option<Arc<Issued>> {
        self.current.load_full()
    }

    fn set(&self, i: Issued) {
        self.current.store(Some(Arc::new(i)));
    }
}

/// One `acme_certificate`: issuer, names (the first is the file name under `state_path`)
/// and the slot it fills.
pub struct Managed {
    pub issuer: Arc<Issuer>,
    pub names: Vec<String>,
    pub slot: Arc<Slot>,
    key: String,
}

impl std::fmt::Debug for Managed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Managed({})", self.key)
    }
}

impl Managed {
    /// The registry key: the same issuer (name, directory, state) and names share a slot
    /// and a task across reloads.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn label(&self) -> String {
        format!("\"{}\" from \"{}\"", self.names.join(","), self.issuer.name)
    }
}

/// A DNS name an ACME CA can validate by HTTP-01 or TLS-ALPN-01: LDH labels, at least two,
/// no wildcard, not an IP address.
pub fn valid_name(n: &str) -> bool {
    n.len() <= 253
        && n.contains('.')
        && n.parse::<std::net::IpAddr>().is_err()
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

static SLOTS: Mutex<Option<HashMap<String, Weak<Slot>>>> = Mutex::new(None);

/// The managed certificate for `names` from `issuer`: the slot already in this process
/// (kept across reloads), or a new one filled from `state_path` when a stored certificate
/// covers the names. Reading the state never contacts the CA.
pub fn managed(issuer: Arc<Issuer>, names: Vec<String>) -> Managed {
    let key = format!("{}|{}", issuer.fingerprint(), names.join(","));
    let mut guard = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    let slot = match map.get(&key).and_then(Weak::upgrade) {
        Some(s) => s,
        None => {
            let s = Arc::new(Slot {
                current: ArcSwapOption::empty(),
            });
            if let Some(i) = issuer
                .state_dir
                .as_ref()
                .and_then(|d| store::load_cert(d, &names).ok().flatten())
            {
                s.set(i);
            }
            map.insert(key.clone(), Arc::downgrade(&s));
            s
        }
    };
    Managed {
        issuer,
        names,
        slot,
        key,
    }
}

/// HTTP-01 tokens in play: token -> key authorization.
static HTTP01: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// TLS-ALPN-01 certificates in play: name -> certificate.
static ALPN01: Mutex<Option<HashMap<String, CertKey>>> = Mutex::new(None);

/// The key authorization for an HTTP-01 token of an open order.
pub fn http01(token: &str) -> Option<String> {
    let g = HTTP01.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref()?.get(token).cloned()
}

/// The TLS-ALPN-01 certificate for `name` while its challenge is open.
pub fn alpn_cert(name: &str) -> Option<CertKey> {
    let g = ALPN01.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref()?.get(&name.to_ascii_lowercase()).cloned()
}

/// Removes a published challenge when an order attempt ends, however it ends.
pub(crate) enum ChallengeGuard {
    Http(String),
    Alpn(String),
}

impl ChallengeGuard {
    pub(crate) fn http(token: String, key_auth: String) -> Self {
        let mut g = HTTP01.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(HashMap::new)
            .insert(token.clone(), key_auth);
        ChallengeGuard::Http(token)
    }

    pub(crate) fn alpn(name: String, cert: CertKey) -> Self {
        let mut g = ALPN01.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(HashMap::new)
            .insert(name.clone(), cert);
        ChallengeGuard::Alpn(name)
    }
}

impl Drop for ChallengeGuard {
    fn drop(&mut self) {
        match self {
            ChallengeGuard::Http(t) => {
                let mut g = HTTP01.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(m) = g.as_mut() {
                    m.remove(t);
                }
            }
            ChallengeGuard::Alpn(n) => {
                let mut g = ALPN01.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(m) = g.as_mut() {
                    m.remove(n);
                }
            }
        }
    }
}

/// The background manager: its runtime and one task per managed key.
struct Manager {
    handle: tokio::runtime::Handle,
    /// Key -> (task, label for the log).
    tasks: HashMap<String, (tokio::task::JoinHandle<()>, String)>,
}

static MANAGER: Mutex<Option<Manager>> = Mutex::new(None);

/// Makes the background manager serve exactly `list` plus the on-demand certificates of
/// the `on_demand` issuers: starts a task for each key without a live one, stops the tasks
/// of the others. Call it after the start (after any fork) and after each successful reload.
pub fn sync(list: &[Arc<Managed>], on_demand: &[Arc<Issuer>]) {
    let fps: HashSet<String> = on_demand.iter().map(|i| i.fingerprint()).collect();
    let mut all: Vec<Arc<Managed>> = list.to_vec();
    all.extend(demand::retain(&fps));
    let mut guard = MANAGER.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() && all.is_empty() {
        return;
    }
    let Some(m) = manager(&mut guard) else { return };
    let wanted: HashSet<&str> = all.iter().map(|x| x.key()).collect();
    m.tasks.retain(|k, (h, label)| {
        let keep = wanted.contains(k.as_str()) && !h.is_finished();
        if !keep {
            h.abort();
            crate::observe::log(
                crate::observe::Level::Info,
                &format!("acme: no longer managing certificate {label}"),
                None,
            );
        }
        keep
    });
    for x in &all {
        m.spawn(x);
    }
}

/// Starts the task of one certificate unless it has one (on-demand issuance).
fn start(x: &Arc<Managed>) {
    let mut guard = MANAGER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = manager(&mut guard) {
        m.spawn(x);
    }
}

/// The running manager, started on first use.
fn manager(guard: &mut Option<Manager>) -> Option<&mut Manager> {
    if guard.is_none() {
        match start_runtime() {
            Ok(handle) => {
                *guard = Some(Manager {
                    handle,
                    tasks: HashMap::new(),
                })
            }
            Err(e) => {
                crate::observe::log(
                    crate::observe::Level::Alert,
                    &format!("acme: cannot start the certificate manager: {e}"),
                    None,
                );
                return None;
            }
        }
    }
    guard.as_mut()
}

impl Manager {
    fn spawn(&mut self, x: &Arc<Managed>) {
        if self.tasks.contains_key(x.key()) {
            return;
        }
        crate::observe::log(
            crate::observe::Level::Info,
            &format!("acme: managing certificate {}", x.label()),
            None,
        );
        let task = self.handle.spawn(issue::run(x.clone()));
        self.tasks.insert(x.key().to_string(), (task, x.label()));
    }
}

/// Starts the manager's thread and returns its runtime's handle.
fn start_runtime() -> std::io::Result<tokio::runtime::Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("openclaw-acme".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn issuer(name: &str) -> Arc<Issuer> {
        Arc::new(Issuer {
            name: name.into(),
            uri: "https://127.0.0.1:1/dir".into(),
            contacts: vec![],
            state_dir: None,
            trusted: None,
            verify: true,
            challenge: Challenge::Http01,
            accept_tos: true,
        })
    }

    #[test]
    fn a_reload_finds_the_same_slot_and_changes_make_new_ones() {
        let names = vec!["a.example.com".to_string()];
        let first = managed(issuer("slots"), names.clone());
        let again = managed(issuer("slots"), names.clone());
        assert!(Arc::ptr_eq(&first.slot, &again.slot));
        assert_eq!(first.key(), again.key());
        let other = managed(issuer("slots2"), names);
        assert!(!Arc::ptr_eq(&first.slot, &other.slot));
        assert!(first.slot.get().is_none());
    }

    #[test]
    fn only_names_a_ca_can_validate_are_ordered() {
        assert!(valid_name("a.example.com"));
        assert!(valid_name("xn--bcher-kva.example"));
        for bad in [
            "localhost",
            "127.0.0.1",
            "*.example.com",
            "a..b",
            "a_b.com",
            "",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn renewal_is_two_thirds_into_the_lifetime() {
        let cert = crate::tls::acme::alpn::challenge_cert("a.example.com", &[0; 32]).unwrap();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let i = Issued {
            key: cert,
            not_before: start,
            not_after: start + Duration::from_secs(90 * 86400),
            complete: true,
        };
        assert_eq!(i.renew_at(), start + Duration::from_secs(60 * 86400));
    }

    #[test]
    fn challenges_are_published_while_their_guard_lives() {
        let g = ChallengeGuard::http("tok".into(), "tok.thumb".into());
        assert_eq!(http01("tok").as_deref(), Some("tok.thumb"));
        drop(g);
        assert_eq!(http01("tok"), None);
        let cert = alpn::challenge_cert("b.example.com", &[1; 32]).unwrap();
        let g = ChallengeGuard::alpn("b.example.com".into(), cert);
        assert!(alpn_cert("B.example.com").is_some());
        drop(g);
        assert!(alpn_cert("b.example.com").is_none());
    }
}
