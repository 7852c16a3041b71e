//! ACME against a real CA: Debian's `pebble`, started by each test with its own config in
//! a temp dir, validating the gateway for real (HTTP-01 on its plain listener, TLS-ALPN-01 on
//! its TLS listener) through the test DNS server (`tests/common/dns.rs`).
//!
//! Ports: the gateway listens on port 0 and the test reads its ports from the error log;
//! pebble is started after it with those as `httpPort`/`tlsPort`, and the gateway's ACME
//! task retries (with backoff) until pebble answers. Pebble's own two ports have to be in
//! the gateway's config first, so they are reserved by binding port 0 and released right
//! before pebble starts: another process could take one in between (a small race that only
//! makes the test fail, never pass wrongly).

mod acme_front;
mod common;

use acme_front::Front;
use base64::Engine;
use common::certs::{Ca, Key};
use common::dns::Dns;
use common::Gateway;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const NAMES: [&str; 2] = ["example.com", "www.example.com"];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A free loopback port: bound, then released (see the race note above).
fn reserve_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client_trusting(roots_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(roots_pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Full handshakes only: a resumed session would report the first session's certificate.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// One HTTP/1.1 GET over TLS: (response text, served leaf) or the handshake's error.
fn https_get(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    sni: &str,
    path: &str,
) -> Result<(String, Vec<u8>), String> {
    common::tls::fetch(addr, cfg, sni, path).map(|f| (f.text, f.leaf))
}

/// A pebble process with its own config, killed on drop.
struct Pebble {
    child: Option<Child>,
    dir: tempfile::TempDir,
    mgmt: u16,
    /// The CA of its directory certificate.
    ca_pem: String,
}

impl Pebble {
    /// Starts pebble on `listen`/`mgmt` (reserved ports), validating on the gateway's
    /// ports through `dns`; returns once its directory accepts connections.
    fn start(
        ca: &Ca,
        listen: u16,
        mgmt: u16,
        http_port: u16,
        tls_port: u16,
        dns: SocketAddr,
        validity_secs: Option<u64>,
    ) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let (chain, key) = ca.issue(&["localhost", "127.0.0.1"], Key::Ecdsa);
        std::fs::write(dir.path().join("cert.pem"), chain).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let mut conf = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "retryAfter": { "authz": 1, "order": 1 }
            }
        });
        if let Some(v) = validity_secs {
            conf["pebble"]["certificateValidityPeriod"] = v.into();
        }
        std::fs::write(dir.path().join("pebble.json"), conf.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            // Every order is validated for real (no reuse of earlier authorizations).
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("pebble is installed (apt-get install pebble)");
        let p = Pebble {
            child: Some(child),
            dir,
            mgmt,
            ca_pem: ca.pem(),
        };
        let up = poll(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", listen)).is_ok()
                && TcpStream::connect(("127.0.0.1", mgmt)).is_ok()
        });
        assert!(up, "pebble did not start:\n{}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// Pebble's root (made anew by each pebble), from the management interface.
    fn root_pem(&self) -> Vec<u8> {
        let cfg = client_trusting(self.ca_pem.as_bytes());
        let addr = SocketAddr::from(([127, 0, 0, 1], self.mgmt));
        let (text, _) = https_get(addr, cfg, "localhost", "/roots/0").unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        assert!(body.contains("BEGIN CERTIFICATE"), "{text}");
        body.as_bytes().to_vec()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a test against pebble starts with: the test DNS server answering `names` with
/// `ip`, the CA of pebble's directory certificate (trusted by the gateway as
/// `conf/pebble-ca.pem`), a state dir, and pebble's two ports, reserved.
struct Setup {
    dns: Dns,
    ca: Ca,
    state: tempfile::TempDir,
    dir_port: u16,
    mgmt_port: u16,
}

impl Setup {
    fn new(names: &[&str], ip: Ipv4Addr) -> Setup {
        let answers: Vec<(&str, Ipv4Addr)> = names.iter().map(|n| (*n, ip)).collect();
        Setup {
            dns: Dns::start(&answers),
            ca: Ca::new("pebble directory CA"),
            state: tempfile::tempdir().unwrap(),
            dir_port: reserve_port(),
            mgmt_port: reserve_port(),
        }
    }

    /// The gateway's config (see [`config`]) with pebble's directory and a plain server
    /// on 127.0.0.2.
    fn config(&self, challenge: &str) -> String {
        config(self.dir_port, self.state.path(), challenge, "127.0.0.2")
    }

    fn gateway(&self, conf: &str) -> Gateway {
        let files = vec![("conf/pebble-ca.pem".to_string(), self.ca.pem())];
        Gateway::start_full(conf, &files).unwrap()
    }

    /// Starts pebble validating on `gw`'s listeners.
    fn pebble(&self, gw: &Gateway, validity_secs: Option<u64>) -> Pebble {
        Pebble::start(
            &self.ca,
            self.dir_port,
            self.mgmt_port,
            addr_on(gw, "127.0.0.2").port(),
            addr_on(gw, "127.0.0.1").port(),
            self.dns.addr,
            validity_secs,
        )
    }
}

/// Polls `f` until it holds or `limit` passes.
fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A gateway config: an ACME issuer, a TLS server on 127.0.0.1:0 using its certificate,
/// and a plain server on `plain_ip`:0 redirecting everything to HTTPS.
fn config(dir_port: u16, state: &Path, challenge: &str, plain_ip: &str) -> String {
    let http = format!(
        r#"
    acme_issuer pebble {{
        uri https://127.0.0.1:{dir_port}/dir;
        contact admin@example.com;
        state_path {state};
        ssl_trusted_certificate pebble-ca.pem;
        challenge {challenge};
        accept_terms_of_service;
    }}
    server {{
        listen 127.0.0.1:0 ssl;
        server_name example.com www.example.com;
        acme_certificate pebble;
        ssl_certificate $acme_certificate;
        ssl_certificate_key $acme_certificate_key;
        location / {{ return 200 "secure $ssl_server_name\n"; }}
    }}
    server {{
        listen {plain_ip}:0;
        location / {{ return 301 https://$host$request_uri; }}
    }}
"#,
        state = state.display()
    );
    format!(
        "worker_processes 2;\nerror_log logs/error.log info;\npid logs/nginx.pid;\nevents {{}}\nhttp {{\n    access_log logs/access.log;\n{http}}}\n"
    )
}

fn addr_on(gw: &Gateway, ip: &str) -> SocketAddr {
    *gw.addrs
        .iter()
        .find(|a| a.ip().to_string() == ip)
        .unwrap_or_else(|| panic!("no listener on {ip}: {:?}", gw.addrs))
}

/// Waits until the gateway serves a certificate that verifies against `root` for every
/// name; returns the leaf.
fn wait_for_certificate(gw: &Gateway, tls: SocketAddr, root: &[u8], pebble: &Pebble) -> Vec<u8> {
    let cfg = client_trusting(root);
    let mut last = String::new();
    let ok = poll(Duration::from_secs(60), || {
        match https_get(tls, cfg.clone(), NAMES[0], "/") {
            Ok(r) => {
                last = r.0;
                true
            }
            Err(e) => {
                last = e;
                false
            }
        }
    });
    assert!(
        ok,
        "no certificate: {last}\nerror.log:\n{}\npebble:\n{}",
        gw.error_log(),
        pebble.log()
    );
    let (text, leaf) = https_get(tls, cfg.clone(), NAMES[1], "/").unwrap();
    assert!(text.contains("secure www.example.com"), "{text}");
    leaf
}

#[test]
fn http01_issues_serves_survives_reload_and_restarts_without_the_ca() {
    let s = Setup::new(&NAMES, Ipv4Addr::new(127, 0, 0, 2));
    let conf = s.config("http-01");
    let gw = s.gateway(&conf);
    let tls = addr_on(&gw, "127.0.0.1");
    let plain = addr_on(&gw, "127.0.0.2");

    // No certificate yet (the CA is not even up): the handshake fails at once, cleanly.
    let insecure = {
        let mut c = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(openclaw::tls::insecure_verifier(None))
            .with_no_client_auth();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    };
    let started = Instant::now();
    let err = https_get(tls, insecure.clone(), NAMES[0], "/").unwrap_err();
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // HTTP-01 comes before the server's own handling: unknown tokens are 404, not 301.
    let r = common::client::get(plain, "/.well-known/acme-challenge/unknown", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(common::client::get(plain, "/x", &[]).status, 301);

    let mut pebble = s.pebble(&gw, None);
    let root = pebble.root_pem();
    let leaf = wait_for_certificate(&gw, tls, &root, &pebble);
    let log = gw.error_log();
    assert!(
        log.contains("[info]")
            && log.contains(
                "acme: requesting certificate \"example.com,www.example.com\" from \"pebble\""
            ),
        "{log}"
    );
    assert!(log.contains("acme: registered account"), "{log}");
    assert!(
        log.contains("answering Http01 challenge for \"www.example.com\""),
        "{log}"
    );
    assert!(
        log.contains("[error]") && log.contains("not obtained"),
        "{log}"
    );
    assert!(log.contains("acme: certificate \"example.com,www.example.com\" from \"pebble\" obtained, valid until"), "{log}");
    for f in ["account.json", "example.com.crt", "example.com.key"] {
        assert!(s.state.path().join(f).exists(), "{f} not stored");
    }
    // The access log shows pebble's HTTP-01 requests answered with 200.
    // (Access logs are buffered per worker and flushed each second.)
    let answered = poll(Duration::from_secs(5), || {
        gw.access_log()
            .lines()
            .any(|l| l.contains("GET /.well-known/acme-challenge/") && l.contains("\" 200 "))
    });
    assert!(answered, "{}", gw.access_log());

    // Reload: the same certificate keeps serving and no second task starts.
    let out = gw.cli(&["-s", "reload"]);
    assert!(out.status.success());
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    let (_, after) = https_get(tls, client_trusting(&root), NAMES[0], "/").unwrap();
    assert_eq!(after, leaf);
    let tasks = gw.error_log().matches("acme: managing certificate").count();
    assert_eq!(tasks, 1, "{}", gw.error_log());
    drop(gw);

    // Without its certificate files, a restart orders a new one with the stored account
    // (on the same plain port: pebble validates there).
    std::fs::remove_file(s.state.path().join("example.com.crt")).unwrap();
    std::fs::remove_file(s.state.path().join("example.com.key")).unwrap();
    let same_port = conf.replace(
        "listen 127.0.0.2:0;",
        &format!("listen 127.0.0.2:{};", plain.port()),
    );
    let gw1 = s.gateway(&same_port);
    let leaf = wait_for_certificate(&gw1, addr_on(&gw1, "127.0.0.1"), &root, &pebble);
    let log1 = gw1.error_log();
    assert!(!log1.contains("registered account"), "{log1}");
    assert!(log1.contains("obtained"), "{log1}");
    drop(gw1);

    // A restart with the CA gone serves the stored certificate at once.
    pebble.stop();
    let gw2 = s.gateway(&conf);
    let tls2 = addr_on(&gw2, "127.0.0.1");
    let (text, served) = https_get(tls2, client_trusting(&root), NAMES[0], "/").unwrap();
    assert!(text.contains("secure example.com"), "{text}");
    assert_eq!(served, leaf);
    let log2 = gw2.error_log();
    assert!(!log2.contains("acme: requesting"), "{log2}");
    assert!(!log2.contains("acme: renewing"), "{log2}");
    drop(gw2);

    // A name added: the stored certificate serves the names it has while a complete one
    // is ordered (here in vain: the CA is gone).
    let more = conf.replace(
        "acme_certificate pebble;",
        "acme_certificate pebble example.com www.example.com api.example.com;",
    );
    let gw3 = s.gateway(&more);
    let (_, served) = https_get(
        addr_on(&gw3, "127.0.0.1"),
        client_trusting(&root),
        NAMES[0],
        "/",
    )
    .unwrap();
    assert_eq!(served, leaf);
    assert!(gw3.wait_log("not obtained", Duration::from_secs(10)));
    assert!(
        gw3.error_log().contains("acme: the stored certificate lacks names of \"example.com,www.example.com,api.example.com\""),
        "{}",
        gw3.error_log()
    );
}

#[test]
fn tls_alpn01_issues_on_the_tls_listener() {
    let s = Setup::new(&NAMES, Ipv4Addr::LOCALHOST);
    let conf = s.config("tls-alpn-01");
    let gw = s.gateway(&conf);
    let tls = addr_on(&gw, "127.0.0.1");
    let pebble = s.pebble(&gw, None);
    let root = pebble.root_pem();
    let first = wait_for_certificate(&gw, tls, &root, &pebble);
    let log = gw.error_log();
    assert!(log.contains("answering TlsAlpn01 challenge"), "{log}");
    assert!(!gw.access_log().contains("acme-challenge"));

    // A reload that changes the names retires the old task and starts one for the new set
    // (no stored certificate for it: a new order).
    let changed = conf.replace(
        "acme_certificate pebble;",
        "acme_certificate pebble www.example.com;",
    );
    std::fs::write(gw.path("conf/openclaw.conf"), changed).unwrap();
    assert!(gw.cli(&["-s", "reload"]).status.success());
    let cfg = client_trusting(&root);
    let switched = poll(Duration::from_secs(30), || {
        https_get(tls, cfg.clone(), NAMES[1], "/").is_ok_and(|(_, leaf)| leaf != first)
    });
    assert!(switched, "{}", gw.error_log());
    let log = gw.error_log();
    assert!(
        log.contains(
            "acme: no longer managing certificate \"example.com,www.example.com\" from \"pebble\""
        ),
        "{log}"
    );
    assert!(
        log.contains("acme: managing certificate \"www.example.com\" from \"pebble\""),
        "{log}"
    );
}

#[test]
fn a_dead_ca_leaves_a_clean_handshake_failure_and_logged_errors() {
    let state = tempfile::tempdir().unwrap();
    // Nothing listens on the directory's port.
    let conf = config(reserve_port(), state.path(), "http-01", "127.0.0.2");
    let ca = Ca::new("unused");
    let files = vec![("conf/pebble-ca.pem".to_string(), ca.pem())];
    let gw = Gateway::start_full(&conf, &files).unwrap();
    let tls = addr_on(&gw, "127.0.0.1");
    let cfg = client_trusting(ca.pem().as_bytes());
    for _ in 0..3 {
        let started = Instant::now();
        let err = https_get(tls, cfg.clone(), NAMES[0], "/").unwrap_err();
        assert!(err.contains("AccessDenied"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    assert!(gw.wait_log("not obtained", Duration::from_secs(10)));
    let log = gw.error_log();
    assert!(
        log.contains("[error]") && log.contains("connect() to 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("SSL_do_handshake() failed"), "{log}");
    // Plain HTTP is unaffected.
    assert_eq!(
        common::client::get(addr_on(&gw, "127.0.0.2"), "/", &[]).status,
        301
    );
}

/// Config errors, each with its message and line (`openclaw -t`).
#[test]
fn acme_config_errors_name_file_and_line() {
    let issuer = "acme_issuer le {\n        uri https://127.0.0.1:1/dir;\n    }\n";
    let cases: &[(&str, String, &str)] = &[
        (
            "unknown issuer",
            format!("{issuer}    server {{ listen 127.0.0.1:0; server_name a.example.com;\n        acme_certificate other; }}\n"),
            "unknown acme_issuer \"other\" in {file}:7",
        ),
        (
            "missing uri",
            "acme_issuer le {\n        contact a@example.com;\n    }\n".to_string(),
            "\"uri\" is missing in acme_issuer \"le\" in {file}:3",
        ),
        (
            "$acme_certificate without acme_certificate",
            format!("{issuer}    server {{ listen 127.0.0.1:0 ssl; server_name a.example.com;\n        ssl_certificate $acme_certificate;\n        ssl_certificate_key $acme_certificate_key; }}\n"),
            "\"$acme_certificate\" is used in a server without \"acme_certificate\" in {file}:7",
        ),
        (
            "other variables stay refused",
            format!("{issuer}    server {{ listen 127.0.0.1:0 ssl; server_name a.example.com;\n        ssl_certificate $host.crt;\n        ssl_certificate_key $host.key; }}\n"),
            "variables in \"ssl_certificate\" are not supported by openclaw yet in {file}:7",
        ),
        (
            "$acme_certificate at http level, a server with TLS but no acme_certificate",
            format!("ssl_certificate $acme_certificate;\n    ssl_certificate_key $acme_certificate_key;\n    {issuer}    server {{ listen 127.0.0.1:0 ssl; server_name a.example.com; }}\n"),
            "\"$acme_certificate\" is used in a server without \"acme_certificate\" in {file}:3",
        ),
        (
            "$acme_certificate at http level, a plain server without acme_certificate: fine",
            format!("ssl_certificate $acme_certificate;\n    ssl_certificate_key $acme_certificate_key;\n    {issuer}    server {{ listen 127.0.0.1:0; server_name a.example.com; }}\n    server {{ listen 127.0.0.1:0 ssl; server_name b.example.com; acme_certificate le; }}\n"),
            "",
        ),
        (
            "acme_on_demand without acme_certificate",
            format!("{issuer}    server {{ listen 127.0.0.1:0; server_name .example.com;\n        acme_on_demand on; }}\n"),
            "\"acme_on_demand\" needs \"acme_certificate\" in the server in {file}:7",
        ),
        (
            "unknown challenge",
            "acme_issuer le {\n        uri https://127.0.0.1:1/dir;\n        challenge dns-01;\n    }\n".to_string(),
            "invalid value \"dns-01\" in \"challenge\" directive in {file}:5",
        ),
        (
            "no names",
            format!("{issuer}    server {{ listen 127.0.0.1:0; server_name _;\n        acme_certificate le; }}\n"),
            "no names for \"acme_certificate\": list them after the issuer or give the server exact names in \"server_name\" in {file}:7",
        ),
        (
            "wildcard name",
            format!("{issuer}    server {{ listen 127.0.0.1:0;\n        acme_certificate le *.example.com; }}\n"),
            "invalid name \"*.example.com\" in \"acme_certificate\" in {file}:7",
        ),
        (
            "acme_certificate outside server",
            "acme_certificate le;\n".to_string(),
            "\"acme_certificate\" directive is not allowed here in {file}:3",
        ),
        (
            "issuer directive outside acme_issuer",
            "server { listen 127.0.0.1:0; accept_terms_of_service; }\n".to_string(),
            "\"accept_terms_of_service\" directive is not allowed here in {file}:3",
        ),
    ];
    let mut failures = vec![];
    for (name, http, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, format!("events {{}}\nhttp {{\n    {http}}}\n")).unwrap();
        let out = Command::new(common::bin())
            .arg("-t")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = match *want {
            "" => String::new(),
            w => format!(
                "openclaw: [emerg] {}\n",
                w.replace("{file}", &file.display().to_string())
            ),
        };
        if want.is_empty() {
            if !out.status.success() {
                failures.push(format!("{name}: expected success, got: {stderr}"));
            }
            continue;
        }
        if out.status.code() != Some(1) || !stderr.starts_with(&want) {
            failures.push(format!("{name}:\n  want: {want}  got:  {stderr}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn renews_two_thirds_into_the_lifetime_without_a_reload() {
    let s = Setup::new(&NAMES, Ipv4Addr::new(127, 0, 0, 2));
    let conf = s.config("http-01");
    let gw = s.gateway(&conf);
    let tls = addr_on(&gw, "127.0.0.1");
    // Certificates valid for 9 s: renewal is due 6 s after each one starts.
    let pebble = s.pebble(&gw, Some(9));
    let root = pebble.root_pem();
    let first = wait_for_certificate(&gw, tls, &root, &pebble);
    let cfg = client_trusting(&root);
    let mut served_meanwhile = 0;
    let renewed = poll(Duration::from_secs(20), || {
        match https_get(tls, cfg.clone(), NAMES[0], "/") {
            Ok((_, leaf)) if leaf != first => true,
            Ok(_) => {
                served_meanwhile += 1;
                false
            }
            Err(_) => false,
        }
    });
    assert!(renewed, "not renewed:\n{}", gw.error_log());
    // The old certificate kept serving until the new one was in place.
    assert!(served_meanwhile > 0);
    let log = gw.error_log();
    assert!(log.contains("acme: renewing certificate \"example.com,www.example.com\" from \"pebble\" (renewal time reached)"), "{log}");
    // Pebble offers no renewal information (ARI): said at info for each certificate.
    assert!(log.lines().any(|l| l.contains("[info]") && l.contains("acme: issuer \"pebble\" offers no renewal information (ARI): certificate \"example.com,www.example.com\" from \"pebble\" renews at ")), "{log}");
    // One account for both orders.
    assert_eq!(log.matches("acme: registered account").count(), 1, "{log}");
}

#[test]
fn on_demand_orders_for_names_the_server_matches() {
    let s = Setup::new(
        &["a.example.com", "b.example.com"],
        Ipv4Addr::new(127, 0, 0, 2),
    );
    let conf = s
        .config("http-01")
        .replace(
            "server_name example.com www.example.com;",
            "server_name .example.com;",
        )
        .replace(
            "acme_certificate pebble;",
            "acme_certificate pebble;\n        acme_on_demand on;",
        );
    let gw = s.gateway(&conf);
    let tls = addr_on(&gw, "127.0.0.1");
    let pebble = s.pebble(&gw, None);
    let root = pebble.root_pem();
    let cfg = client_trusting(&root);
    // The first handshake for a name fails and starts its order; later ones get it.
    let err = https_get(tls, cfg.clone(), "a.example.com", "/").unwrap_err();
    assert!(err.contains("AccessDenied"), "{err}");
    let mut leaf = vec![];
    let ok = poll(Duration::from_secs(60), || {
        https_get(tls, cfg.clone(), "a.example.com", "/").is_ok_and(|(text, l)| {
            leaf = l;
            text.contains("secure a.example.com")
        })
    });
    assert!(ok, "{}\n{}", gw.error_log(), pebble.log());
    // A name the server does not match orders nothing.
    assert!(https_get(tls, cfg.clone(), "other.test", "/").is_err());
    let log = gw.error_log();
    assert!(
        log.contains("acme: managing certificate \"a.example.com\" from \"pebble\""),
        "{log}"
    );
    assert!(!log.contains("other.test"), "{log}");

    // Reload: the on-demand certificate and its task stay.
    assert!(gw.cli(&["-s", "reload"]).status.success());
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    let (_, again) = https_get(tls, cfg.clone(), "a.example.com", "/").unwrap();
    assert_eq!(again, leaf);
    assert_eq!(
        gw.error_log()
            .matches("managing certificate \"a.example.com\"")
            .count(),
        1
    );
    drop(gw);

    // A restart without the CA serves the stored certificate on the first handshake.
    drop(pebble);
    let gw2 = s.gateway(&conf);
    let (_, stored) = https_get(addr_on(&gw2, "127.0.0.1"), cfg, "a.example.com", "/").unwrap();
    assert_eq!(stored, leaf);
    assert!(!gw2.error_log().contains("acme: requesting"));
}

/// A certificate's ARI identifier (RFC 9773, 4.1): its Authority Key Identifier's
/// keyIdentifier and its serial number's bytes, base64url-encoded, joined by a dot.
fn ari_id(leaf: &[u8]) -> String {
    use x509_parser::extensions::ParsedExtension;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0),
            _ => None,
        })
        .expect("pebble's certificates have an Authority Key Identifier");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!("{}.{}", b64(aki), b64(cert.tbs_certificate.raw_serial()))
}

/// ACME Renewal Information through a front that adds it to pebble (`tests/acme_front`):
/// the first two certificates get a window already open, so each is renewed at once with
/// `replaces` naming it; the third gets a window 10 days ahead and stays. The second
/// replacing order is answered without `replaces` (as pebble itself answers), so the
/// gateway orders again without it.
#[test]
fn renewal_information_renews_in_the_suggested_window_replacing_the_old_certificate() {
    let s = Setup::new(&NAMES, Ipv4Addr::new(127, 0, 0, 2));
    let (chain, key) = s.ca.issue(&["localhost", "127.0.0.1"], Key::Ecdsa);
    let to_pebble = client_trusting(s.ca.pem().as_bytes());
    let front = Front::start(&chain, &key, s.dir_port, to_pebble, 2, 1);
    // The gateway's directory is the front's.
    let conf = config(front.addr().port(), s.state.path(), "http-01", "127.0.0.2");
    let gw = s.gateway(&conf);
    let tls = addr_on(&gw, "127.0.0.1");
    // Default validity (years): only renewal information can make it renew now.
    let pebble = s.pebble(&gw, None);
    let root = pebble.root_pem();
    let first = wait_for_certificate(&gw, tls, &root, &pebble);

    let label = "\"example.com,www.example.com\" from \"pebble\"";
    let suggests = format!("acme: the CA suggests renewing certificate {label} between ");
    let settled = poll(Duration::from_secs(60), || {
        gw.error_log().matches(&suggests).count() >= 3
    });
    assert!(
        settled,
        "{:?}\nerror.log:\n{}\npebble:\n{}",
        front.seen(),
        gw.error_log(),
        pebble.log()
    );
    let (_, last) = https_get(tls, client_trusting(&root), NAMES[0], "/").unwrap();
    assert_ne!(last, first);
    let seen = front.seen();
    // One question per certificate, about the certificate served.
    assert_eq!(seen.asked.len(), 3, "{seen:?}");
    assert!(seen.asked.contains(&ari_id(&first)), "{seen:?}");
    assert_eq!(seen.asked[2], ari_id(&last), "{seen:?}");
    // Each renewal named the certificate it replaces; the unanswered one was ordered again.
    let n = seen.orders.len();
    assert!(n >= 4, "{seen:?}");
    assert_eq!(
        seen.orders[n - 3..],
        [
            Some(seen.asked[0].clone()),
            Some(seen.asked[1].clone()),
            None
        ],
        "{seen:?}"
    );

    let log = gw.error_log();
    let windows: Vec<&str> = log.lines().filter(|l| l.contains(&suggests)).collect();
    assert!(
        windows.iter().all(|l| l.contains("[info]")
            && l.contains("(explained at https://ca.example/why): renewal at ")),
        "{log}"
    );
    // The third window is 10 days ahead, and so is its renewal.
    let at = windows[2].rsplit("renewal at ").next().unwrap();
    let at = httpdate::parse_http_date(at.trim()).unwrap();
    assert!(
        at > SystemTime::now() + Duration::from_secs(9 * 86400),
        "{log}"
    );
    let renewing = format!("acme: renewing certificate {label} (in the window the CA suggested)");
    assert_eq!(log.matches(&renewing).count(), 2, "{log}");
    assert!(!log.contains("(renewal time reached)"), "{log}");
    let retried = format!(
        "acme: order replacing {} for certificate {label} failed: ",
        seen.asked[1]
    );
    assert!(
        log.lines().any(|l| l.contains("[warn]")
            && l.contains(&retried)
            && l.ends_with("ordering without \"replaces\"")),
        "{log}"
    );
    assert_eq!(
        log.matches(&format!("acme: certificate {label} obtained"))
            .count(),
        3,
        "{log}"
    );
}
