//! The issuance task of one managed certificate: obtain it when there is none, renew it
//! when its [`Schedule`] says (the CA's suggested window when the issuer offers renewal
//! information, else two thirds into its lifetime), back off on failure (the certificate in
//! service keeps serving meanwhile). Steps are logged at `info`, failures at `error`.

use super::ari::{self, Schedule, Step, Window};
use super::{client::Client, store, Challenge, ChallengeGuard, Issued, Issuer, Managed};
use crate::observe::{log, Level};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
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

fn warn(msg: &str) {
    log(Level::Warn, msg, None);
}

fn date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Runs until aborted (by [`super::sync`] when the certificate leaves the configuration).
pub async fn run(m: Arc<Managed>) {
    let mut backoff = MIN_BACKOFF;
    // The renewal plan of the certificate in service, made anew for each certificate.
    let mut plan: Option<(Arc<Issued>, Schedule)> = None;
    loop {
        let mut replaces = None;
        match m.slot.issued() {
            Some(cur) if !cur.complete => info(&format!(
                "acme: the stored certificate lacks names of {}: ordering a complete one",
                m.label()
            )),
            Some(cur) => {
                if plan.as_ref().is_some_and(|(c, _)| !Arc::ptr_eq(c, &cur)) {
                    plan = None;
                }
                let (_, sched) = plan.get_or_insert_with(|| {
                    (
                        cur.clone(),
                        Schedule::new(cur.renew_at(), SystemTime::now()),
                    )
                });
                let now = SystemTime::now();
                match sched.step(now) {
                    Step::Wait(until) => {
                        let wait = until.duration_since(now).unwrap_or_default();
                        tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                        continue;
                    }
                    Step::Ask => {
                        ask(&m, &cur, sched).await;
                        continue;
                    }
                    Step::Renew { suggested: true } => {
                        info(&format!(
                            "acme: renewing certificate {} (in the window the CA suggested)",
                            m.label()
                        ));
                        replaces = ari::cert_id(&cur.key.cert[0]).ok();
                    }
                    Step::Renew { suggested: false } => info(&format!(
                        "acme: renewing certificate {} (renewal time reached)",
                        m.label()
                    )),
                }
            }
            None => info(&format!("acme: requesting certificate {}", m.label())),
        }
        match obtain(&m, replaces).await {
            Ok(issued) => {
                let until = date(issued.not_after);
                let renew = date(issued.renew_at());
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

/// Asks the CA for the renewal window of `cur` (RFC 9773) and records the answer in
/// `sched`. Nothing here is fatal: without an answer the schedule keeps its renewal time.
async fn ask(m: &Managed, cur: &Issued, sched: &mut Schedule) {
    let now = SystemTime::now();
    let renew = date(sched.renew_at());
    let id = match ari::cert_id(&cur.key.cert[0]) {
        Ok(id) => id,
        Err(e) => {
            warn(&format!(
                "acme: no renewal information for certificate {}: {e}; renewal at {renew}",
                m.label()
            ));
            sched.never_ask();
            return;
        }
    };
    let answer = match account(&m.issuer).await {
        Ok(a) => a.renewal_info(&id).await.map_err(|e| match e {
            instant_acme::Error::Unsupported(_) => None,
            e => Some(e.to_string()),
        }),
        Err(e) => Err(Some(e)),
    };
    // A failed question or a malformed answer: the schedule keeps its time, asks later.
    let unusable = |sched: &mut Schedule, why: String| {
        sched.failed(now);
        warn(&format!(
            "acme: no usable renewal information for certificate {}: {why}; renewal at {renew}, next question in {}s",
            m.label(),
            ari::RETRY.as_secs()
        ));
    };
    let (reply, retry_after) = match answer {
        Ok(a) => a,
        Err(None) => {
            info(&format!(
                "acme: issuer \"{}\" offers no renewal information (ARI): certificate {} renews at {renew}",
                m.issuer.name,
                m.label(),
            ));
            sched.never_ask();
            return;
        }
        Err(Some(e)) => return unusable(sched, e),
    };
    let w = &reply.suggested_window;
    let Some(window) = Window::new(
        ari::unix_time(w.start.unix_timestamp()),
        ari::unix_time(w.end.unix_timestamp()),
    ) else {
        return unusable(sched, "the suggested window ends before it starts".into());
    };
    if let Some(at) = sched.answered(window, retry_after, now, rand::random::<f64>()) {
        let why = reply
            .explanation_url
            .as_deref()
            .map(|u| format!(" (explained at {u})"))
            .unwrap_or_default();
        info(&format!(
            "acme: the CA suggests renewing certificate {} between {} and {}{why}: renewal at {}",
            m.label(),
            date(window.start),
            date(window.end),
            date(at)
        ));
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

/// One order, from creation to the stored certificate; `replaces` names the certificate
/// it succeeds (RFC 9773, 5).
async fn obtain(
    m: &Managed,
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Issued, String> {
    let issuer = &m.issuer;
    let account = account(issuer).await?;
    let ids: Vec<Identifier> = m.names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut replacing = None;
    if let Some(id) = replaces {
        match account.new_order(&NewOrder::new(&ids).replaces(id.clone())).await {
            Ok(o) => replacing = Some(o),
            // The CA may refuse it (already replaced) or not echo it: order plainly.
            Err(e) => warn(&format!(
                "acme: order replacing {id} for certificate {} failed: {e}; ordering without \"replaces\"",
                m.label()
            )),
        }
    }
    let mut order = match replacing {
        Some(o) => o,
        None => account
            .new_order(&NewOrder::new(&ids))
            .await
            .map_err(|e| format!("new order failed: {e}"))?,
    };
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
