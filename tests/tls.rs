//! TLS termination and TLS to upstreams, with certificates made by the tests (rcgen) and a
//! rustls client: SNI choice, default certificate, RSA/ECDSA choice, ALPN, protocol policy,
//! `$ssl_*` variables, plain HTTP on a TLS port, resumption, reload, `proxy_pass https://`.

mod common;

use common::certs::{Ca, Key};
use common::tls::{all_schemes, client, fetch, leaf_of, provider};
use common::Gateway;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

fn files(ca: &Ca, list: &[(&str, &[&str], Key)]) -> Vec<(String, String)> {
    list.iter()
        .flat_map(|(name, names, key)| {
            let (c, k) = ca.issue(names, *key);
            [
                (format!("conf/{name}.crt"), c),
                (format!("conf/{name}.key"), k),
            ]
        })
        .collect()
}

fn tls_gateway(ca: &Ca, servers: &str, certs: &[(&str, &[&str], Key)]) -> Gateway {
    let conf = common::wrap("", servers, "location / { return 200 \"plain\\n\"; }");
    let f = files(ca, certs);
    Gateway::start_full(&conf, &f).unwrap()
}

/// The one ephemeral socket every `listen 127.0.0.1:0` of a test config shares.
fn tls_addr(gw: &Gateway) -> SocketAddr {
    gw.addrs[0]
}

const TWO_SERVERS: &str = r#"
    server {
        listen 127.0.0.1:0 ssl http2;
        server_name a.test;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        location / { return 200 "a $scheme $https $ssl_protocol $ssl_server_name $ssl_session_reused\n"; }
    }
    server {
        listen 127.0.0.1:0 ssl;
        server_name b.test;
        ssl_certificate b.crt;
        ssl_certificate_key b.key;
        location / { return 200 "b $ssl_cipher\n"; }
    }
"#;

/// A gateway with TWO_SERVERS and their certificates.
fn two_servers(ca: &Ca) -> Gateway {
    tls_gateway(
        ca,
        TWO_SERVERS,
        &[
            ("a", &["a.test"], Key::Ecdsa),
            ("b", &["b.test"], Key::Ecdsa),
        ],
    )
}

#[test]
fn sni_picks_the_server_and_its_certificate() {
    let ca = Ca::new("Test CA");
    // Every `listen 127.0.0.1:0` of a config is one ephemeral socket: the servers share it.
    let gw = two_servers(&ca);
    let a = fetch(
        tls_addr(&gw),
        client(Some(&ca), &["http/1.1"], vec![]),
        "a.test",
        "/",
    )
    .unwrap();
    assert!(a.text.starts_with("HTTP/1.1 200"), "{}", a.text);
    assert!(
        a.text.ends_with("a https on TLSv1.3 a.test .\n"),
        "{}",
        a.text
    );
    let b = fetch(tls_addr(&gw), client(Some(&ca), &[], vec![]), "b.test", "/").unwrap();
    assert!(b.text.ends_with("b TLS_AES_256_GCM_SHA384\n"), "{}", b.text);
}

#[test]
fn one_port_many_names_default_certificate_and_alpn() {
    let ca = Ca::new("Test CA");
    // a.test is first, so the socket's default server; its listen has http2.
    let gw = two_servers(&ca);
    let addr = tls_addr(&gw);
    let any = || client(None, &["h2", "http/1.1"], all_schemes());
    let b = fetch(
        addr,
        client(Some(&ca), &["http/1.1"], vec![]),
        "b.test",
        "/",
    )
    .unwrap();
    assert!(b.text.ends_with("b TLS_AES_256_GCM_SHA384\n"), "{}", b.text);
    assert_eq!(b.leaf, leaf_of(&gw, "conf/b.crt"));
    // An unknown name gets the default server's certificate (and its content).
    let u = fetch(
        addr,
        client(None, &["http/1.1"], all_schemes()),
        "unknown.test",
        "/",
    )
    .unwrap();
    assert_eq!(u.leaf, leaf_of(&gw, "conf/a.crt"));
    assert!(
        u.text.contains("\r\n\r\na https on TLSv1.3 unknown.test"),
        "{}",
        u.text
    );
    // ALPN: h2 offered on an http2 listen.
    let mut conn =
        rustls::ClientConnection::new(any(), ServerName::try_from("a.test").unwrap()).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
}

#[test]
fn rsa_and_ecdsa_pairs_are_chosen_by_the_clients_schemes() {
    let ca = Ca::new("Test CA");
    let servers = r#"
    server {
        listen 127.0.0.1:0 ssl;
        server_name a.test;
        ssl_certificate ec.crt;
        ssl_certificate_key ec.key;
        ssl_certificate rsa.crt;
        ssl_certificate_key rsa.key;
        location / { return 200 "ok\n"; }
    }
"#;
    let gw = tls_gateway(
        &ca,
        servers,
        &[
            ("ec", &["a.test"], Key::Ecdsa),
            ("rsa", &["a.test"], Key::Rsa),
        ],
    );
    let addr = tls_addr(&gw);
    let ec = fetch(addr, client(None, &[], all_schemes()), "a.test", "/").unwrap();
    assert_eq!(ec.leaf, leaf_of(&gw, "conf/ec.crt"));
    let rsa_only = vec![
        rustls::SignatureScheme::RSA_PSS_SHA256,
        rustls::SignatureScheme::RSA_PKCS1_SHA256,
    ];
    let rsa = fetch(addr, client(None, &[], rsa_only), "a.test", "/").unwrap();
    assert_eq!(rsa.leaf, leaf_of(&gw, "conf/rsa.crt"));
    assert!(rsa.text.ends_with("ok\n"));
}

#[test]
fn ssl_protocols_limit_the_versions() {
    let ca = Ca::new("Test CA");
    let servers = r#"
    server {
        listen 127.0.0.1:0 ssl;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        location / { return 200 "$ssl_protocol $ssl_cipher\n"; }
    }
"#;
    let gw = tls_gateway(&ca, servers, &[("a", &["a.test"], Key::Ecdsa)]);
    let r = fetch(tls_addr(&gw), client(Some(&ca), &[], vec![]), "a.test", "/").unwrap();
    assert!(
        r.text.ends_with("TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256\n"),
        "{}",
        r.text
    );
    // A TLS 1.3-only client cannot connect.
    let only13 = Arc::new({
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
            .unwrap();
        rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    });
    assert!(fetch(tls_addr(&gw), only13, "a.test", "/").is_err());
}

#[test]
fn session_resumption_is_reported() {
    let ca = Ca::new("Test CA");
    let gw = two_servers(&ca);
    let cfg = client(Some(&ca), &[], vec![]);
    let first = fetch(tls_addr(&gw), cfg.clone(), "a.test", "/").unwrap();
    assert!(first.text.ends_with(" .\n"), "{}", first.text);
    let second = fetch(tls_addr(&gw), cfg, "a.test", "/").unwrap();
    assert!(second.text.ends_with(" r\n"), "{}", second.text);
}

#[test]
fn plain_http_on_a_tls_port_gets_nginxs_400() {
    let ca = Ca::new("Test CA");
    let gw = two_servers(&ca);
    let r = common::client::get(tls_addr(&gw), "/", &[]);
    assert_eq!(r.status, 400);
    assert!(r
        .text()
        .contains("<center>The plain HTTP request was sent to HTTPS port</center>"));
    assert!(gw.wait_log(
        "client sent plain HTTP request to HTTPS port",
        Duration::from_secs(5)
    ));
}

#[test]
fn reload_switches_certificates_and_a_bad_one_keeps_the_old() {
    let ca = Ca::new("Test CA");
    let gw = two_servers(&ca);
    let addr = tls_addr(&gw);
    let before = leaf_of(&gw, "conf/a.crt");
    let any = || client(None, &[], all_schemes());
    assert_eq!(fetch(addr, any(), "a.test", "/").unwrap().leaf, before);
    // A new certificate: served after the reload.
    ca.write(&gw.path("conf"), "a", &["a.test"], Key::Ecdsa);
    let after = leaf_of(&gw, "conf/a.crt");
    assert_ne!(before, after);
    let out = gw.cli(&["-s", "reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gw.wait_log(
        "configuration generation 2 is serving",
        Duration::from_secs(10)
    ));
    assert_eq!(fetch(addr, any(), "a.test", "/").unwrap().leaf, after);
    // A broken key: the reload fails, the last good certificate keeps serving.
    std::fs::write(gw.path("conf/a.key"), "not a key").unwrap();
    // As with nginx, `-s reload` checks the configuration first and refuses...
    let out = gw.cli(&["-s", "reload"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot load certificate key"));
    // ...and a SIGHUP sent anyway leaves the running configuration in place.
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_log("reload failed", Duration::from_secs(10)));
    assert!(gw.error_log().contains("cannot load certificate key"));
    assert_eq!(fetch(addr, any(), "a.test", "/").unwrap().leaf, after);
}

/// A TLS server for `backend.test` (certificate from `ca`) answering
/// `tls upstream <what>\n`.
fn tls_backend(ca: &Ca, what: &str) -> Gateway {
    let servers = format!(
        r#"
    server {{
        listen 127.0.0.1:0 ssl;
        server_name backend.test;
        ssl_certificate be.crt;
        ssl_certificate_key be.key;
        location / {{ return 200 "tls upstream {what}\n"; }}
    }}
"#
    );
    tls_gateway(ca, &servers, &[("be", &["backend.test"], Key::Ecdsa)])
}

#[test]
fn proxy_to_a_tls_upstream_verifies_it() {
    let ca = Ca::new("Upstream CA");
    let upstream = tls_backend(&ca, "$ssl_server_name $request_uri");
    let up = tls_addr(&upstream);
    let other = Ca::new("Other CA");
    let front = format!(
        r#"
    location /verified/ {{
        proxy_pass https://{up}/;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate ca.pem;
        proxy_ssl_name backend.test;
        proxy_ssl_server_name on;
    }}
    location /wrong-ca/ {{
        proxy_pass https://{up}/;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate other.pem;
        proxy_ssl_name backend.test;
    }}
    location /unverified/ {{
        proxy_pass https://{up}/;
    }}
"#
    );
    let gw = Gateway::start_full(
        &common::wrap("", "", &front),
        &[
            ("conf/ca.pem".into(), ca.pem()),
            ("conf/other.pem".into(), other.pem()),
        ],
    )
    .unwrap();
    let r = common::client::get(gw.addr(), "/verified/x?y=1", &[]);
    assert_eq!(r.status, 200, "{}", gw.error_log());
    assert_eq!(r.text(), "tls upstream backend.test /x?y=1\n");
    let r = common::client::get(gw.addr(), "/wrong-ca/x", &[]);
    assert_eq!(r.status, 502);
    assert!(
        gw.error_log()
            .contains("upstream SSL certificate verify error"),
        "{}",
        gw.error_log()
    );
    // nginx's default: no verification and no SNI.
    let r = common::client::get(gw.addr(), "/unverified/x", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "tls upstream  /x\n");
}

/// A client presenting a certificate issued by `ca` for `name`.
fn client_with_cert(server_ca: &Ca, ca: &Ca, name: &str) -> Arc<rustls::ClientConfig> {
    let (chain, key) = ca.issue(&[name], Key::Ecdsa);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server_ca.pem().as_bytes()).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap(),
    )
}

#[test]
fn client_certificates_are_verified_like_nginx() {
    let ca = Ca::new("Server CA");
    let clients = Ca::new("Client CA");
    let stranger = Ca::new("Other CA");
    let servers = r#"
    server {
        listen 127.0.0.1:0 ssl;
        server_name a.test;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_client_certificate clients.pem;
        ssl_verify_client on;
        location / { return 200 "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_fingerprint\n"; }
    }
    server {
        listen 127.0.0.1:0 ssl;
        server_name b.test;
        ssl_certificate b.crt;
        ssl_certificate_key b.key;
        ssl_client_certificate clients.pem;
        ssl_verify_client optional;
        location / { return 200 "$ssl_client_verify\n"; }
    }
"#;
    let mut f = files(
        &ca,
        &[
            ("a", &["a.test"], Key::Ecdsa),
            ("b", &["b.test"], Key::Ecdsa),
        ],
    );
    f.push(("conf/clients.pem".into(), clients.pem()));
    let gw = Gateway::start_full(&common::wrap("", servers, ""), &f).unwrap();
    let addr = tls_addr(&gw);

    let good = client_with_cert(&ca, &clients, "client.test");
    let r = fetch(addr, good.clone(), "a.test", "/").unwrap();
    assert!(r.text.starts_with("HTTP/1.1 200"), "{}", r.text);
    let body = r.text.rsplit("\r\n\r\n").next().unwrap();
    let parts: Vec<&str> = body.trim_end().split('|').collect();
    assert_eq!(parts[0], "SUCCESS");
    assert_eq!(parts[1], "CN=client.test");
    assert_eq!(parts[2].len(), 40);

    let anon = client(Some(&ca), &[], vec![]);
    let r = fetch(addr, anon.clone(), "a.test", "/").unwrap();
    assert!(r.text.starts_with("HTTP/1.1 400"), "{}", r.text);
    assert!(r.text.contains("No required SSL certificate was sent"));

    let bad = client_with_cert(&ca, &stranger, "client.test");
    let r = fetch(addr, bad, "a.test", "/").unwrap();
    assert!(r.text.starts_with("HTTP/1.1 400"), "{}", r.text);
    assert!(r.text.contains("The SSL certificate error"));
    assert!(gw.wait_log(
        "client SSL certificate verify error",
        Duration::from_secs(5)
    ));

    // optional: no certificate is fine and says NONE.
    let r = fetch(addr, anon, "b.test", "/").unwrap();
    assert!(r.text.ends_with("\r\n\r\nNONE\n"), "{}", r.text);
    let r = fetch(addr, good, "b.test", "/").unwrap();
    assert!(r.text.ends_with("\r\n\r\nSUCCESS\n"), "{}", r.text);
}

#[test]
fn ssl_verify_client_needs_a_ca() {
    let ca = Ca::new("Test CA");
    let servers = r#"
    server {
        listen 127.0.0.1:0 ssl;
        ssl_certificate a.crt;
        ssl_certificate_key a.key;
        ssl_verify_client on;
    }
"#;
    let f = files(&ca, &[("a", &["a.test"], Key::Ecdsa)]);
    let e = Gateway::start_full(&common::wrap("", servers, ""), &f)
        .err()
        .unwrap();
    assert!(
        e.contains("no ssl_client_certificate for ssl_verify_client"),
        "{e}"
    );
}

#[test]
fn proxy_presents_a_client_certificate_to_the_upstream() {
    let ca = Ca::new("Upstream CA");
    let clients = Ca::new("Client CA");
    let mut f = files(&ca, &[("be", &["backend.test"], Key::Ecdsa)]);
    f.push(("conf/clients.pem".into(), clients.pem()));
    let upstream = Gateway::start_full(
        &common::wrap(
            "",
            r#"
    server {
        listen 127.0.0.1:0 ssl;
        server_name backend.test;
        ssl_certificate be.crt;
        ssl_certificate_key be.key;
        ssl_client_certificate clients.pem;
        ssl_verify_client on;
        location / { return 200 "$ssl_client_verify $ssl_client_s_dn\n"; }
    }
"#,
            "",
        ),
        &f,
    )
    .unwrap();
    let up = tls_addr(&upstream);
    let (chain, key) = clients.issue(&["gateway.test"], Key::Ecdsa);
    let front = format!(
        r#"
    location /with/ {{
        proxy_pass https://{up}/;
        proxy_ssl_certificate gw.crt;
        proxy_ssl_certificate_key gw.key;
    }}
    location /without/ {{
        proxy_pass https://{up}/;
    }}
"#
    );
    let gw = Gateway::start_full(
        &common::wrap("", "", &front),
        &[("conf/gw.crt".into(), chain), ("conf/gw.key".into(), key)],
    )
    .unwrap();
    let r = common::client::get(gw.addr(), "/with/x", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "SUCCESS CN=gateway.test\n")
    );
    // Without a certificate the upstream answers nginx's 400 (passed through).
    let r = common::client::get(gw.addr(), "/without/x", &[]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("No required SSL certificate was sent"));
}

#[test]
fn cosocket_sslhandshake_verifies_like_openresty_and_pools_tls_connections() {
    let ca = Ca::new("Upstream CA");
    let upstream = tls_backend(&ca, "$ssl_server_name");
    let port = tls_addr(&upstream).port();
    let lua = r#"
    location /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(3000)
            assert(sock:connect("127.0.0.1", tonumber(ngx.var.arg_port)))
            if ngx.var.arg_idle then
                -- An idle pooled connection older than its keepalive timeout is dropped.
                assert(sock:setkeepalive(tonumber(ngx.var.arg_idle)))
                ngx.sleep(0.02)
                assert(sock:connect("127.0.0.1", tonumber(ngx.var.arg_port)))
                ngx.say("reused ", sock:getreusedtimes())
                return
            end
            local name = ngx.var.arg_name
            if name == "" then name = nil end
            local reuse = nil
            if ngx.var.arg_reuse == "0" then reuse = false end
            local sess, err = sock:sslhandshake(reuse, name, ngx.var.arg_verify == "1")
            if not sess then
                ngx.say("handshake: ", err)
                return
            end
            ngx.say(type(sess), " reused ", sock:getreusedtimes())
            for i = 1, 2 do
                assert(sock:send("GET /r" .. i .. " HTTP/1.1\r\nHost: backend.test\r\n\r\n"))
                local reader = sock:receiveuntil("\r\n\r\n")
                local head = assert(reader())
                local len = tonumber(head:match("Content%-Length: (%d+)"))
                ngx.print(assert(sock:receive(len)))
            end
            assert(sock:setkeepalive(10000))
            -- The pooled TLS connection comes back already encrypted.
            assert(sock:connect("127.0.0.1", tonumber(ngx.var.arg_port)))
            ngx.say("reused ", sock:getreusedtimes(), " ", tostring(sock:sslhandshake(false, name)))
            assert(sock:send("GET /again HTTP/1.1\r\nHost: backend.test\r\nConnection: close\r\n\r\n"))
            ngx.say((assert(sock:receive("*a")):match("tls upstream[^\n]*")))
        }
    }
"#;
    let trusting = Gateway::start_full(
        &common::wrap(
            "",
            "lua_ssl_trusted_certificate ca.pem; lua_ssl_verify_depth 2;",
            lua,
        ),
        &[("conf/ca.pem".into(), ca.pem())],
    )
    .unwrap();
    let get = |gw: &Gateway, q: &str| {
        let r = common::client::get(gw.addr(), &format!("/t?port={port}&{q}"), &[]);
        assert_eq!(r.status, 200, "{}", gw.error_log());
        r.text()
    };
    assert_eq!(
        get(&trusting, "name=backend.test&verify=1"),
        "userdata reused 0\ntls upstream backend.test\ntls upstream backend.test\nreused 1 true\ntls upstream backend.test\n"
    );
    assert_eq!(
        get(&trusting, "name=backend.test&verify=1&reuse=0")
            .lines()
            .next(),
        Some("boolean reused 0")
    );
    assert_eq!(
        get(&trusting, "name=other.test&verify=1"),
        "handshake: certificate host mismatch\n"
    );
    assert_eq!(get(&trusting, "idle=1"), "reused 0\n");
    assert_eq!(get(&trusting, "idle=0"), "reused 1\n");
    // Without verification any certificate does, and no name means no SNI.
    assert!(get(&trusting, "name=other.test&verify=0")
        .starts_with("userdata reused 0\ntls upstream other.test\n"));
    assert!(get(&trusting, "name=&verify=0").contains("\ntls upstream \n"));
    // No lua_ssl_trusted_certificate: nothing verifies, as in OpenResty.
    let bare = Gateway::start_full(&common::wrap("", "", lua), &[]).unwrap();
    assert_eq!(
        get(&bare, "name=backend.test&verify=1"),
        "handshake: 20: unable to get local issuer certificate\n"
    );
}

#[test]
fn lua_ssl_directives_are_checked_at_load() {
    let conf = common::wrap("", "lua_ssl_trusted_certificate missing.pem;", "");
    let err = Gateway::start_full(&conf, &[]).err().unwrap();
    assert!(err.contains("missing.pem"), "{err}");
    let conf = common::wrap("", "lua_ssl_protocols TLSv1 TLSv1.2;", "");
    let err = Gateway::start_full(&conf, &[]).err().unwrap();
    assert!(
        err.contains("\"TLSv1\" is not supported: openclaw speaks TLSv1.2 and TLSv1.3 only in \"lua_ssl_protocols\" directive"),
        "{err}"
    );
}

#[test]
fn a_tls_upstream_connection_is_kept_and_reused() {
    let ca = Ca::new("Upstream CA");
    let upstream = tls_backend(&ca, "$connection $connection_requests");
    let up = tls_addr(&upstream);
    let front = r#"
    location / {
        proxy_pass https://be;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
"#;
    let gw = Gateway::start_full(
        &common::wrap(
            "",
            &format!("upstream be {{ server {up}; keepalive 4; }}"),
            front,
        ),
        &[],
    )
    .unwrap();
    // One client connection, so one worker and one pool on the gateway.
    let mut c = common::client::Conn::open(gw.addr()).unwrap();
    let seen: Vec<String> = (0..4)
        .map(|_| {
            let r = c.get("/x").unwrap();
            assert_eq!(r.status, 200, "{}", gw.error_log());
            r.text()
        })
        .collect();
    // The upstream saw one TLS connection carrying all four requests.
    let conn = seen[0].split_whitespace().nth(2).unwrap().to_string();
    for (i, b) in seen.iter().enumerate() {
        assert_eq!(b, &format!("tls upstream {conn} {}\n", i + 1), "{seen:?}");
    }
}
