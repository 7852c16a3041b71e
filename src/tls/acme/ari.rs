//! ACME Renewal Information (ARI, RFC 9773): the CA's suggested renewal window for a
//! certificate, asked of the `renewalInfo` URL when the issuer's directory offers one.
//!
//! [`Schedule`] is the renewal plan of one certificate in service: plain data, driven by the
//! issuance task (`issue.rs`), which does the asking. It starts at the fallback (two thirds
//! into the lifetime) and asks the CA at once. An answer moves renewal to a uniformly random
//! moment inside the window (kept while the window stays the same; a moment already past
//! means now) and sets the next question at the answer's `Retry-After`, held between a
//! minute and a day (RFC 9773, 4.3.2). A failed or malformed answer keeps the last window
//! the CA gave for this certificate, else the fallback, and asks again after [`RETRY`]. A
//! directory without `renewalInfo` is not asked again for this certificate. Waiting for the
//! next question never passes the renewal time.

use instant_acme::CertificateIdentifier;
use rustls::pki_types::{CertificateDer, Der};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When to ask again after a failed or malformed answer.
pub const RETRY: Duration = Duration::from_secs(6 * 3600);
/// The bounds put on the CA's `Retry-After`.
const MIN_ASK: Duration = Duration::from_secs(60);
const MAX_ASK: Duration = Duration::from_secs(86400);

/// A suggested renewal window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: SystemTime,
    pub end: SystemTime,
}

impl Window {
    /// The window from `start` to `end`; None when the end does not follow the start (such
    /// an answer is to be treated as no answer, RFC 9773, 4.2).
    pub fn new(start: SystemTime, end: SystemTime) -> Option<Window> {
        (end > start).then_some(Window { start, end })
    }

    /// The moment `pick` (in [0, 1]) of the way from start to end.
    pub fn moment(&self, pick: f64) -> SystemTime {
        let span = self.end.duration_since(self.start).unwrap_or_default();
        self.start + span.mul_f64(pick.clamp(0.0, 1.0))
    }
}

/// What the renewal task does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Renew now; `suggested` when the time came from the CA's window.
    Renew { suggested: bool },
    /// Ask the CA for the window.
    Ask,
    /// Nothing to do before this moment.
    Wait(SystemTime),
}

/// The renewal plan of one certificate.
#[derive(Debug)]
pub struct Schedule {
    fallback: SystemTime,
    /// The CA's window and the moment chosen in it.
    suggested: Option<(Window, SystemTime)>,
    /// When to ask the CA; None: never again.
    next_ask: Option<SystemTime>,
}

impl Schedule {
    /// A plan renewing at `fallback` until the CA says otherwise; asks at once.
    pub fn new(fallback: SystemTime, now: SystemTime) -> Schedule {
        Schedule {
            fallback,
            suggested: None,
            next_ask: Some(now),
        }
    }

    /// When the certificate is to be renewed.
    pub fn renew_at(&self) -> SystemTime {
        self.suggested.map_or(self.fallback, |(_, at)| at)
    }

    pub fn step(&self, now: SystemTime) -> Step {
        let at = self.renew_at();
        if now >= at {
            return Step::Renew {
                suggested: self.suggested.is_some(),
            };
        }
        match self.next_ask {
            Some(ask) if now >= ask => Step::Ask,
            Some(ask) => Step::Wait(ask.min(at)),
            None => Step::Wait(at),
        }
    }

    /// Takes the CA's answer: `window`, to be asked again after `retry_after`. A new window
    /// gets a new moment, `pick` (in [0, 1]) of the way through, which is returned; the same
    /// window as before keeps its moment (None).
    pub fn answered(
        &mut self,
        window: Window,
        retry_after: Duration,
        now: SystemTime,
        pick: f64,
    ) -> Option<SystemTime> {
        self.next_ask = Some(now + retry_after.clamp(MIN_ASK, MAX_ASK));
        if self.suggested.is_some_and(|(w, _)| w == window) {
            return None;
        }
        let at = window.moment(pick);
        self.suggested = Some((window, at));
        Some(at)
    }

    /// The question failed or the answer was malformed: ask again after [`RETRY`].
    pub fn failed(&mut self, now: SystemTime) {
        self.next_ask = Some(now + RETRY);
    }

    /// The CA offers no renewal information (or the certificate cannot be named to it).
    pub fn never_ask(&mut self) {
        self.next_ask = None;
    }
}

/// The certificate's ARI identifier: its Authority Key Identifier's keyIdentifier and its
/// serial number (both without DER tag and length), base64url-encoded.
pub fn cert_id(leaf: &CertificateDer<'_>) -> Result<CertificateIdentifier<'static>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| format!("cannot parse the certificate: {e}"))?;
    let aki = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
        .ok_or("the certificate has no Authority Key Identifier")?;
    let serial = cert.tbs_certificate.raw_serial();
    Ok(CertificateIdentifier::new(Der::from_slice(aki), Der::from_slice(serial)).into_owned())
}

/// A Unix time in seconds as a `SystemTime` (times before 1970 become 1970).
pub fn unix_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86400);

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000_000 + secs)
    }

    #[test]
    fn a_window_needs_its_end_after_its_start_and_moments_stay_inside() {
        assert_eq!(Window::new(t(10), t(10)), None);
        assert_eq!(Window::new(t(10), t(5)), None);
        let w = Window::new(t(100), t(200)).unwrap();
        assert_eq!(w.moment(0.0), t(100));
        assert_eq!(w.moment(0.5), t(150));
        assert_eq!(w.moment(1.0), t(200));
        assert_eq!(w.moment(7.0), t(200));
        assert_eq!(w.moment(-1.0), t(100));
    }

    #[test]
    fn without_an_answer_the_fallback_rules_after_one_question() {
        let mut s = Schedule::new(t(60 * 86400), t(0));
        assert_eq!(s.step(t(0)), Step::Ask);
        // No renewalInfo: wait for the fallback, never ask again.
        s.never_ask();
        assert_eq!(s.step(t(1)), Step::Wait(t(60 * 86400)));
        assert_eq!(s.step(t(60 * 86400)), Step::Renew { suggested: false });
    }

    #[test]
    fn an_answer_moves_renewal_into_the_window_and_sets_the_next_question() {
        let mut s = Schedule::new(t(60 * 86400), t(0));
        let w = Window::new(t(50 * 86400), t(52 * 86400)).unwrap();
        let at = s.answered(w, 6 * HOUR, t(0), 0.25);
        assert_eq!(at, Some(t(50 * 86400 + 43200)));
        assert_eq!(s.renew_at(), t(50 * 86400 + 43200));
        assert_eq!(s.step(t(1)), Step::Wait(t(6 * 3600)));
        assert_eq!(s.step(t(6 * 3600)), Step::Ask);
        // The same window again keeps the moment chosen (whatever the new pick).
        assert_eq!(s.answered(w, 6 * HOUR, t(6 * 3600), 0.9), None);
        assert_eq!(s.renew_at(), t(50 * 86400 + 43200));
        // A moved window gets a new moment.
        let earlier = Window::new(t(10 * 86400), t(11 * 86400)).unwrap();
        assert_eq!(
            s.answered(earlier, 6 * HOUR, t(7 * 3600), 0.5),
            Some(t(10 * 86400 + 43200))
        );
        assert_eq!(
            s.step(t(10 * 86400 + 43200)),
            Step::Renew { suggested: true }
        );
    }

    #[test]
    fn a_window_already_open_or_past_renews_now() {
        let mut s = Schedule::new(t(60 * 86400), t(1000));
        let past = Window::new(t(0), t(500)).unwrap();
        s.answered(past, HOUR, t(1000), 0.7);
        assert_eq!(s.step(t(1000)), Step::Renew { suggested: true });
        let mut s = Schedule::new(t(60 * 86400), t(1000));
        let open = Window::new(t(0), t(2000)).unwrap();
        s.answered(open, HOUR, t(1000), 0.25);
        assert_eq!(s.step(t(1000)), Step::Renew { suggested: true });
    }

    #[test]
    fn waiting_for_the_next_question_never_passes_the_renewal_time() {
        let mut s = Schedule::new(t(60 * 86400), t(0));
        let soon = Window::new(t(600), t(700)).unwrap();
        s.answered(soon, DAY, t(0), 0.0);
        assert_eq!(s.step(t(1)), Step::Wait(t(600)));
        // Nor does the fallback's wait pass a failed question's retry.
        let mut s = Schedule::new(t(60 * 86400), t(0));
        s.failed(t(0));
        assert_eq!(s.step(t(1)), Step::Wait(t(0) + RETRY));
    }

    #[test]
    fn retry_after_is_held_between_a_minute_and_a_day() {
        let w = Window::new(t(50 * 86400), t(51 * 86400)).unwrap();
        let mut s = Schedule::new(t(60 * 86400), t(0));
        s.answered(w, Duration::ZERO, t(0), 0.5);
        assert_eq!(s.step(t(1)), Step::Wait(t(60)));
        s.answered(w, 30 * DAY, t(60), 0.5);
        assert_eq!(s.step(t(61)), Step::Wait(t(60 + 86400)));
    }

    #[test]
    fn a_failed_question_keeps_the_last_window() {
        let mut s = Schedule::new(t(60 * 86400), t(0));
        let w = Window::new(t(40 * 86400), t(41 * 86400)).unwrap();
        s.answered(w, HOUR, t(0), 0.0);
        s.failed(t(3600));
        assert_eq!(s.renew_at(), t(40 * 86400));
        assert_eq!(s.step(t(3601)), Step::Wait(t(3600) + RETRY));
    }

    #[test]
    fn the_identifier_is_the_aki_key_id_and_the_serial() {
        // RFC 9773, appendix A: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
        // and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
        let mut p = rcgen_acme::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        p.serial_number = Some(rcgen_acme::SerialNumber::from_slice(&[
            0x00, 0x87, 0x65, 0x43, 0x21,
        ]));
        let mut ca = rcgen_acme::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen_acme::IsCa::Ca(rcgen_acme::BasicConstraints::Unconstrained);
        ca.key_identifier_method = rcgen_acme::KeyIdMethod::PreSpecified(vec![
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ]);
        p.use_authority_key_identifier_extension = true;
        let issuer = rcgen_acme::Issuer::new(ca, rcgen_acme::KeyPair::generate().unwrap());
        let key = rcgen_acme::KeyPair::generate().unwrap();
        let leaf = p.signed_by(&key, &issuer).unwrap();
        let id = cert_id(leaf.der()).unwrap();
        assert_eq!(id.to_string(), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
        // A certificate without the extension cannot be named.
        let plain = rcgen_acme::CertificateParams::new(vec!["a.example.com".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(cert_id(plain.der()).is_err());
    }
}
