//! The issuance task of one managed certificate: obtain it when there is none, renew it
//! two thirds into its lifetime, back off on failure (the certificate in service keeps
//! serving meanwhile). Steps are logged at `info`, failures at `error`.

use super::{client::Client, store, Challenge, ChallengeGuard, Issued, Issuer, Managed};
use crate::observe::{log, Level};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Long waits are cut in pieces so a clock change is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Accounts by issuer key, shared by the tasks of one issuer (so a first start creates
/// one account, not one per certificate).
type AccountCell = Arc<tokio::sync::Mutex<Option<Account>>>;
static ACCOUNTS: Mutex<Option<HashMap<String, AccountCell>>> = Mutex::new(None);

fn account_cell(issuer: &Issuer) -> AccountCell {
    let key = issuer.fingerprint();
    let mut g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default()
        .clone()
}

fn info(msg: &str) {
    log(Level::Info, msg, None);
}

/// Runs until aborted (by [`super::sync`] when the certificate leaves the configuration).
pub async fn run(m: Arc<Managed>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match m.slot.issued() {
            Some(cur) if !cur.complete => info(&format!(
                "acme: the stored certificate lacks names of {}: ordering a complete one",
                m.label()
            )),
            Some(cur) => {
                if let Ok(wait) = cur.renew_at().duration_since(SystemTime::now()) {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                        continue;
                    }
                }
                info(&format!(
                    "acme: renewing certificate {} (renewal time reached)",
                    m.label()
                ));
            }
            None => info(&format!("acme: requesting certificate {}", m.label())),
        }
        match obtain(&m).await {
            Ok(issued) => {
                let until = httpdate::fmt_http_date(issued.not_after);
                let renew = httpdate::fmt_http_date(issued.renew_at());
                m.slot.set(issued);
                info(&format!(
                    "acme: certificate {} obtained, valid until {until}, renewal at {renew}",
                    m.label()
                ));
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                log(
                    Level::Error,
                    &format!(
                        "acme: certificate {} not obtained: {e}; next try in {}s",
                        m.label(),
                        backoff.as_secs()
                    ),
                    None,
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The issuer's account: from memory, from `state_path`, or newly registered.
async fn account(issuer: &Issuer) -> Result<Account, String> {
    let cell = account_cell(issuer);
    let mut guard = cell.lock().await;
    if let Some(a) = guard.as_ref() {
        return Ok(a.clone());
    }
    let http = || -> Result<Box<Client>, String> {
        Ok(Box::new(Client::new(
            &issuer.uri,
            issuer.trusted.as_deref(),
            issuer.verify,
        )?))
    };
    let stored = match &issuer.state_dir {
        Some(d) => store::load_account(d)?,
        None => None,
    };
    let mut reused = None;
    if let Some(json) = stored {
        match serde_json::from_str::<AccountCredentials>(&json) {
            Ok(creds) => {
                let a = Account::builder_with_http(http()?)
                    .from_credentials(creds)
                    .await
                    .map_err(|e| format!("cannot restore the ACME account: {e}"))?;
                reused = Some(a);
            }
            Err(e) => log(
                Level::Error,
                &format!(
                    "acme: stored account of issuer \"{}\" is unreadable ({e}), registering a new one",
                    issuer.name
                ),
                None,
            ),
        }
    }
    let a = match reused {
        Some(a) => a,
        None => {
            let contacts: Vec<&str> = issuer.contacts.iter().map(String::as_str).collect();
            let (a, creds) = Account::builder_with_http(http()?)
                .create(
                    &NewAccount {
                        contact: &contacts,
                        terms_of_service_agreed: issuer.accept_tos,
                        only_return_existing: false,
                    },
                    issuer.uri.clone(),
                    None,
                )
                .await
                .map_err(|e| format!("cannot register an ACME account: {e}"))?;
            if let Some(d) = &issuer.state_dir {
                let json = serde_json::to_string(&creds).map_err(|e| e.to_string())?;
                store::save_account(d, &json)?;
            }
            info(&format!(
                "acme: registered account {} with issuer \"{}\"",
                a.id(),
                issuer.name
            ));
            a
        }
    };
    *guard = Some(a.clone());
    Ok(a)
}

/// One order, from creation to the stored certificate.
async fn obtain(m: &Managed) -> Result<Issued, String> {
    let issuer = &m.issuer;
    let account = account(issuer).await?;
    let ids: Vec<Identifier> = m.names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| format!("new order failed: {e}"))?;
    // Challenges stay published until this attempt ends.
    let mut guards = vec![];
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a.map_err(|e| format!("cannot read an authorization: {e}"))?;
        match a.status {
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            other => return Err(format!("authorization is {other:?}")),
        }
        let kind = match issuer.challenge {
            Challenge::Http01 => ChallengeType::Http01,
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        };
        let mut ch = a
            .challenge(kind.clone())
            .ok_or_else(|| format!("the CA offers no {kind:?} challenge"))?;
        let name = ch.identifier().to_string();
        let ka = ch.key_authorization();
        match issuer.challenge {
            Challenge::Http01 => {
                guards.push(ChallengeGuard::http(
                    ch.token.clone(),
                    ka.as_str().to_string(),
                ));
            }
            Challenge::TlsAlpn01 => {
                let cert = super::alpn::challenge_cert(&name, ka.digest().as_ref())?;
                guards.push(ChallengeGuard::alpn(name.to_ascii_lowercase(), cert));
            }
        }
        info(&format!(
            "acme: answering {kind:?} challenge for \"{name}\" ({})",
            m.label()
        ));
        ch.set_ready()
            .await
            .map_err(|e| format!("challenge for \"{name}\" not accepted: {e}"))?;
    }
    let status = order
        .poll_ready(&RetryPolicy::default())
        .await
        .map_err(|e| format!("order did not become ready: {e}"))?;
    if status != OrderStatus::Ready {
        let detail = order
            .refresh()
            .await
            .ok()
            .and_then(|s| s.error.as_ref().map(|p| p.to_string()))
            .unwrap_or_default();
        return Err(format!("order is {status:?} {detail}")
            .trim_end()
            .to_string());
    }
    drop(guards);
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| format!("finalizing the order failed: {e}"))?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .map_err(|e| format!("certificate download failed: {e}"))?;
    let issued = store::parse(chain_pem.as_bytes(), key_pem.as_bytes())?;
    if let Some(d) = &issuer.state_dir {
        // Served all the same; only a restart would miss it.
        if let Err(e) = store::save_cert(d, &m.names, &chain_pem, &key_pem) {
            log(
                Level::Error,
                &format!("acme: cannot store certificate {}: {e}", m.label()),
                None,
            );
        }
    }
    Ok(issued)
}
