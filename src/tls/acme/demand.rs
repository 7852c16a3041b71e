//! On-demand issuance (`acme_on_demand on`): a handshake whose SNI names a server with it,
//! and that no configured certificate covers, gets a certificate of its own for that one
//! name. The first handshakes fail (no certificate) while it is ordered; later ones get it.
//! A certificate stored under `state_path` is served at once (read on the first handshake
//! for the name). At most [`MAX_ON_DEMAND`] names per process, so a flood of made-up names
//! matching a wildcard `server_name` cannot order without bound.

use super::{managed, valid_name, CertKey, Issuer, Managed};
use crate::observe::{log, Level};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// How many names on-demand issuance may take on.
pub const MAX_ON_DEMAND: usize = 100;

static LIMIT_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// On-demand certificates by task key.
static DEMAND: Mutex<Option<HashMap<String, Arc<Managed>>>> = Mutex::new(None);

/// The on-demand certificate for `name` from `issuer`, starting its issuance the first
/// time the name is seen. None while there is none yet (or the name is refused).
pub fn on_demand(issuer: &Arc<Issuer>, name: &str) -> Option<CertKey> {
    let name = name.to_ascii_lowercase();
    if !valid_name(&name) {
        return None;
    }
    let m = {
        let mut g = DEMAND.lock().unwrap_or_else(|e| e.into_inner());
        let map = g.get_or_insert_with(HashMap::new);
        let key = format!("{}|{name}", issuer.fingerprint());
        if let Some(m) = map.get(&key) {
            return m.slot.get();
        }
        if map.len() >= MAX_ON_DEMAND {
            // Said once: every later handshake for a new name would say it again.
            if LIMIT_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            log(
                Level::Error,
                &format!(
                    "acme: on-demand limit of {MAX_ON_DEMAND} names reached, \"{name}\" and later new names refused"
                ),
                None,
            );
            return None;
        }
        let m = Arc::new(managed(issuer.clone(), vec![name]));
        map.insert(m.key().to_string(), m.clone());
        m
    };
    super::start(&m);
    m.slot.get()
}

/// Keeps the on-demand certificates of the issuers still configured for it (by
/// fingerprint) and returns them; the others are forgotten.
pub(super) fn retain(issuers: &HashSet<String>) -> Vec<Arc<Managed>> {
    let mut g = DEMAND.lock().unwrap_or_else(|e| e.into_inner());
    let Some(map) = g.as_mut() else {
        return vec![];
    };
    map.retain(|_, m| issuers.contains(&m.issuer.fingerprint()));
    map.values().cloned().collect()
}
