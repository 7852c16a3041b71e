//! Test::Nginx-style data-driven cases.
//!
//! ```text
//! === TEST 1: name
//! --- main_config        (optional, main context)
//! --- http_config        (optional, http context)
//! --- config             (server context; the server listens on 127.0.0.1:0)
//! --- user_files         (">>> path" lines start files under html/)
//! --- request            ("GET /t", or a full "METHOD /path HTTP/1.x" line)
//! --- raw_request        (exact bytes; \r and \n escapes are translated)
//! --- more_headers       ("Name: value" lines)
//! --- request_body
//! --- error_code: 200
//! --- response_body      (exact; "chomp" after the header drops the final newline)
//! --- response_body_like (a regex)
//! --- response_headers   ("Name: value", "!Name" for absent, "Name: ~regex")
//! --- error_log          (substrings that must appear in error.log, one per line)
//! --- no_error_log       (substrings that must not appear)
//! --- access_log         (substrings that must appear in access.log)
//! --- access_log_like    (regexes that must match some access.log line)
//! --- config_error       (the start must fail with this message on stderr)
//! --- requests           (several "METHOD /path" lines, sent one after another)
//! --- error_codes        (their statuses, space-separated)
//! --- bodies             (their bodies, one line each, trimmed)
//! ```
//!
//! `$UP1`, `$UP2`, `$UP3` anywhere in a case become the `127.0.0.1:port` of test upstreams
//! named up1..up3 (see `upstream.rs`), `$DEAD` a port that refuses connections and
//! `$BLACKHOLE` one whose handshakes hang.

use super::client::{self, Resp};
use super::{wrap, Gateway};
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Case {
    pub name: String,
    pub sections: HashMap<String, String>,
    pub chomp: Vec<String>,
}

impl Case {
    fn get(&self, k: &str) -> Option<&str> {
        self.sections.get(k).map(String::as_str)
    }
}

pub fn parse(text: &str) -> Vec<Case> {
    let mut cases = vec![];
    let mut cur: Option<Case> = None;
    let mut section: Option<String> = None;
    let mut buf = String::new();
    let flush = |cur: &mut Option<Case>, section: &mut Option<String>, buf: &mut String| {
        if let (Some(c), Some(s)) = (cur.as_mut(), section.take()) {
            let trimmed = buf.trim_matches('\n');
            let mut v = trimmed.to_string();
            if !v.is_empty() {
                v.push('\n');
            }
            if c.chomp.contains(&s) {
                v.pop();
            }
            c.sections.insert(s, v);
        }
        buf.clear();
    };
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            flush(&mut cur, &mut section, &mut buf);
            if let Some(c) = cur.take() {
                cases.push(c);
            }
            cur = Some(Case {
                name: name.to_string(),
                ..Default::default()
            });
        } else if let Some(h) = line.strip_prefix("--- ") {
            flush(&mut cur, &mut section, &mut buf);
            let (name, inline) = match h.split_once(':') {
                Some((n, v)) if !n.contains(' ') => (n.trim().to_string(), Some(v.trim())),
                _ => (h.split_whitespace().next().unwrap_or("").to_string(), None),
            };
            if h.split_whitespace().nth(1) == Some("chomp") {
                if let Some(c) = cur.as_mut() {
                    c.chomp.push(name.clone());
                }
            }
            match inline {
                Some(v) => {
                    if let Some(c) = cur.as_mut() {
                        c.sections.insert(name, v.to_string());
                    }
                }
                None => section = Some(name),
            }
        } else if section.is_some() {
            buf.push_str(line);
            buf.push('\n');
        }
    }
    flush(&mut cur, &mut section, &mut buf);
    if let Some(c) = cur.take() {
        cases.push(c);
    }
    cases
}

fn unescape(s: &str) -> String {
    s.replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
}

fn user_files(spec: &str) -> Vec<(String, String)> {
    let mut files = vec![];
    let mut cur: Option<(String, String)> = None;
    for line in spec.lines() {
        if let Some(p) = line.strip_prefix(">>> ") {
            if let Some(f) = cur.take() {
                files.push(f);
            }
            cur = Some((format!("html/{}", p.trim()), String::new()));
        } else if let Some((_, c)) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
    }
    files.extend(cur);
    files
}

/// Starts the upstreams a case names and substitutes their addresses.
fn with_upstreams(case: &Case) -> (Case, Vec<Box<dyn std::any::Any>>) {
    use super::upstream::{dead_port, Backend, Blackhole};
    let all: String = case.sections.values().cloned().collect();
    let mut keep: Vec<Box<dyn std::any::Any>> = vec![];
    let mut subst: Vec<(String, String)> = vec![];
    for i in 1..=3 {
        let tok = format!("$UP{i}");
        if all.contains(&tok) {
            let b = Backend::start(&format!("up{i}"));
            subst.push((tok, b.addr.to_string()));
            keep.push(Box::new(b));
        }
    }
    if all.contains("$DEAD") {
        let d = dead_port();
        subst.push(("$DEAD".into(), d.addr.to_string()));
        keep.push(Box::new(d));
    }
    if all.contains("$BLACKHOLE") {
        let b = Blackhole::start();
        subst.push(("$BLACKHOLE".into(), b.addr.to_string()));
        keep.push(Box::new(b));
    }
    let mut c = Case {
        name: case.name.clone(),
        sections: case.sections.clone(),
        chomp: case.chomp.clone(),
    };
    for v in c.sections.values_mut() {
        for (k, to) in &subst {
            *v = v.replace(k.as_str(), to);
        }
    }
    (c, keep)
}

/// Runs one case; returns a description of every mismatch.
pub fn run(case: &Case) -> Vec<String> {
    let (case, _upstreams) = with_upstreams(case);
    let case = &case;
    let mut errs = vec![];
    let conf = wrap(
        case.get("main_config").unwrap_or(""),
        case.get("http_config").unwrap_or(""),
        case.get("config").unwrap_or(""),
    );
    let files = case.get("user_files").map(user_files).unwrap_or_default();
    let started = Gateway::start_full(&conf, &files);
    if let Some(want) = case.get("config_error") {
        match started {
            Ok(_) => errs.push("expected the start to fail".into()),
            Err(stderr) => {
                if !stderr.contains(want.trim()) {
                    errs.push(format!("config error: want {want:?}, got {stderr:?}"));
                }
            }
        }
        return errs;
    }
    let mut gw = match started {
        Ok(g) => g,
        Err(e) => return vec![format!("start failed: {e}")],
    };
    let addr = gw.addr();
    if let Some(reqs) = case.get("requests") {
        let mut got = vec![];
        let mut bodies = vec![];
        for line in reqs.lines().filter(|l| !l.trim().is_empty()) {
            let (method, path) = line.trim().split_once(' ').unwrap_or(("GET", line.trim()));
            let r = client::request(addr, method, path, &[], b"");
            got.push(r.status.to_string());
            bodies.push(r.text().trim().to_string());
        }
        if let Some(want) = case.get("bodies") {
            let want: Vec<String> = want.lines().map(|l| l.trim().to_string()).collect();
            if bodies != want {
                errs.push(format!("bodies: want {want:?}, got {bodies:?}"));
            }
        }
        gw.stop();
        let want = case
            .get("error_codes")
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>();
        if !want.is_empty() && got != want {
            errs.push(format!("statuses: want {want:?}, got {got:?}"));
        }
        let log = gw.error_log();
        if let Some(w) = case.get("error_log") {
            for l in w.lines().filter(|l| !l.trim().is_empty()) {
                if !log.contains(l.trim()) {
                    errs.push(format!("error.log lacks {:?}; it has:\n{log}", l.trim()));
                }
            }
        }
        if let Some(w) = case.get("access_log") {
            let alog = gw.access_log();
            for l in w.lines().filter(|l| !l.trim().is_empty()) {
                if !alog.contains(l.trim()) {
                    errs.push(format!("access.log lacks {:?}; it has:\n{alog}", l.trim()));
                }
            }
        }
        return errs;
    }
    let resp: Option<Resp> = if let Some(raw) = case.get("raw_request") {
        let bytes = unescape(raw.trim_end_matches('\n'));
        client::raw(addr, bytes.as_bytes(), raw.starts_with("HEAD "))
    } else {
        let line = case.get("request").unwrap_or("GET /\n").trim();
        let mut parts = line.splitn(2, ' ');
        let method = parts.next().unwrap_or("GET");
        let rest = parts.next().unwrap_or("/");
        let (path, proto) = match rest.rsplit_once(' ') {
            Some((p, v)) if v.starts_with("HTTP/") => (p, v),
            _ => (rest, "HTTP/1.1"),
        };
        let mut req = format!("{method} {path} {proto}\r\n");
        let more = case.get("more_headers").unwrap_or("");
        if !more.to_ascii_lowercase().contains("host:") {
            req.push_str("Host: localhost\r\n");
        }
        for h in more.lines().filter(|l| !l.trim().is_empty()) {
            req.push_str(h);
            req.push_str("\r\n");
        }
        let body = case.get("request_body").unwrap_or("");
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("Connection: close\r\n\r\n");
        req.push_str(body);
        client::raw(addr, req.as_bytes(), method == "HEAD")
    };
    // Access log lines are buffered per worker: stop first so they are flushed.
    gw.stop();
    let Some(resp) = resp else {
        if case.get("error_code").map(str::trim) != Some("none") {
            errs.push("no response (connection closed)".into());
        }
        return errs;
    };
    if let Some(code) = case.get("error_code") {
        if code.trim() != resp.status.to_string() {
            errs.push(format!("status: want {}, got {}", code.trim(), resp.status));
        }
    }
    if let Some(body) = case.get("response_body") {
        if body.as_bytes() != resp.body.as_slice() {
            errs.push(format!("body: want {:?}, got {:?}", body, resp.text()));
        }
    }
    if let Some(re) = case.get("response_body_like") {
        let pat = regex_lite(re.trim());
        if !pat(&resp.text()) {
            errs.push(format!(
                "body {:?} does not match {:?}",
                resp.text(),
                re.trim()
            ));
        }
    }
    if let Some(hs) = case.get("response_headers") {
        for line in hs.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(name) = line.strip_prefix('!') {
                if let Some(v) = resp.header(name.trim()) {
                    errs.push(format!("header {name} should be absent, got {v:?}"));
                }
                continue;
            }
            // With a repeated header, any of its values may match.
            let (name, want) = line.split_once(':').unwrap_or((line, ""));
            let want = want.trim();
            let got: Vec<&str> = resp
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name.trim()))
                .map(|(_, v)| v.as_str())
                .collect();
            if got.is_empty() {
                errs.push(format!("header {name} missing"));
                continue;
            }
            let ok = got.iter().any(|g| match want.strip_prefix('~') {
                Some(re) => regex_lite(re.trim())(g),
                None => *g == want,
            });
            if !ok {
                errs.push(format!("header {name}: want {want:?}, got {got:?}"));
            }
        }
    }
    let log = gw.error_log();
    if let Some(want) = case.get("error_log") {
        for l in want.lines().filter(|l| !l.trim().is_empty()) {
            if !log.contains(l.trim()) {
                errs.push(format!("error.log lacks {:?}; it has:\n{log}", l.trim()));
            }
        }
    }
    if let Some(not) = case.get("no_error_log") {
        for l in not.lines().filter(|l| !l.trim().is_empty()) {
            if log.contains(l.trim()) {
                errs.push(format!("error.log has {:?}:\n{log}", l.trim()));
            }
        }
    }
    if let Some(want) = case.get("access_log") {
        let alog = gw.access_log();
        for l in want.lines().filter(|l| !l.trim().is_empty()) {
            if !alog.contains(l.trim()) {
                errs.push(format!("access.log lacks {:?}; it has:\n{alog}", l.trim()));
            }
        }
    }
    if let Some(want) = case.get("access_log_like") {
        let alog = gw.access_log();
        for l in want.lines().filter(|l| !l.trim().is_empty()) {
            let re = regex_lite(l.trim());
            if !alog.lines().any(&re) {
                errs.push(format!(
                    "no access.log line matches {:?}; it has:\n{alog}",
                    l.trim()
                ));
            }
        }
    }
    errs
}

/// Regex matching through the same PCRE engine the gateway uses.
fn regex_lite(pat: &str) -> impl Fn(&str) -> bool {
    let re = openclaw::re::Regex::new(pat, false).expect("valid test regex");
    move |s: &str| re.is_match(s)
}

/// Runs every case of a file, in parallel threads, and panics with all failures.
pub fn run_file(rel: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let cases = parse(&text);
    assert!(!cases.is_empty(), "{rel} has no cases");
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| s.spawn(move || (c.name.clone(), run(c))))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                let (name, errs) = h.join().unwrap();
                errs.into_iter().map(move |e| format!("{rel}: {name}: {e}"))
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{rel}: {} cases passed", cases.len());
}
