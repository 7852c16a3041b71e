//! `ssl_certificate_by_lua*` and `ngx.ssl` through the real binary: certificates chosen by
//! Lua per SNI name from PEM files and from a shared dict, a handler that yields, a failing
//! handler, and a handler that sets nothing (the configured certificate is served).

mod common;

use common::certs::{Ca, Key};
use common::tls::{client, fetch, leaf_of};
use common::Gateway;
use std::time::{Duration, Instant};

/// The handler: PEM files for a.test (and slow.test, after a sleep), the shared dict for
/// b.test, nothing for other names; bad.test raises, exit.test ends with ngx.ERROR.
const HANDLER: &str = r#"
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local name = ssl.server_name()
            if name == "bad.test" then
                error("no certificate for " .. name)
            end
            if name == "exit.test" then
                return ngx.exit(ngx.ERROR)
            end
            local dict = ngx.shared.certs
            local ok, var_err = pcall(function() return ngx.var.uri end)
            local addr, family = ssl.raw_server_addr()
            dict:set("facts", table.concat({ngx.get_phase(), tostring(name),
                ssl.get_tls1_version_str(), string.format("%#x", ssl.get_tls1_version()),
                family, #addr, tostring(ssl.server_port() > 0), var_err}, " "))
            if name == "slow.test" then
                ngx.sleep(0.2)
                ngx.log(ngx.NOTICE, "slow handshake woke up")
            end
            if name == "a.test" or name == "slow.test" then
                local f = assert(io.open(DIR .. "/conf/a.crt"))
                local der = assert(ssl.cert_pem_to_der(f:read("*a")))
                f:close()
                f = assert(io.open(DIR .. "/conf/a.key"))
                local key = assert(ssl.priv_key_pem_to_der(f:read("*a")))
                f:close()
                assert(ssl.clear_certs())
                assert(ssl.set_der_cert(der))
                assert(ssl.set_der_priv_key(key))
            elseif name == "b.test" then
                local chain = assert(ssl.parse_pem_cert(dict:get("b.crt")))
                local key = assert(ssl.parse_pem_priv_key(dict:get("b.key")))
                assert(ssl.clear_certs())
                assert(ssl.set_cert(chain))
                assert(ssl.set_priv_key(key))
            end
        }
"#;

/// The configured listen address, which nginx names as `server:` in error log lines.
const LISTEN: &str = "127.0.0.1:0";

fn gateway(ca: &Ca) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let mut files = vec![];
    for (file, names) in [
        ("default", &["default.test"][..]),
        ("a", &["a.test", "slow.test"][..]),
        ("b", &["b.test"][..]),
    ] {
        let (c, k) = ca.issue(names, Key::Ecdsa);
        files.push((format!("conf/{file}.crt"), c));
        files.push((format!("conf/{file}.key"), k));
    }
    let http = format!(
        r#"
    lua_shared_dict certs 1m;
    init_by_lua_block {{
        DIR = "{root}"
        local function read(p)
            local f = assert(io.open(DIR .. "/conf/" .. p))
            local s = f:read("*a")
            f:close()
            return s
        end
        ngx.shared.certs:set("b.crt", read("b.crt"))
        ngx.shared.certs:set("b.key", read("b.key"))
    }}
    server {{
        listen 127.0.0.1:0 ssl;
        server_name default.test a.test b.test slow.test bad.test exit.test;
        ssl_certificate default.crt;
        ssl_certificate_key default.key;
{HANDLER}
        location /facts {{
            content_by_lua_block {{
                local ssl = require "ngx.ssl"
                ngx.say(ngx.shared.certs:get("facts"))
                ngx.say("request: ", ssl.server_name(), " ", ssl.get_tls1_version_str(),
                    " ", select(2, ssl.set_der_cert("x")))
            }}
        }}
        location / {{ return 200 "served $ssl_server_name\n"; }}
    }}
"#
    );
    let conf = common::wrap("", &http, "");
    Gateway::start_in(dir, &conf, &files).unwrap()
}

#[test]
fn lua_chooses_certificates_by_sni_and_may_yield() {
    let ca = Ca::new("Test CA");
    let gw = gateway(&ca);
    let addr = gw.addrs[0];
    let verified = || client(Some(&ca), &["http/1.1"], vec![]);
    // From PEM files, verified by the client against the SNI name.
    let a = fetch(addr, verified(), "a.test", "/").unwrap();
    assert!(a.text.ends_with("served a.test\n"), "{}", a.text);
    assert_eq!(a.leaf, leaf_of(&gw, "conf/a.crt"));
    // The handler saw the handshake's facts, and request APIs were refused.
    let facts = fetch(addr, verified(), "a.test", "/facts").unwrap();
    assert!(
        facts.text.contains(
            "ssl_cert a.test TLSv1.3 0x304 inet 4 true ssl_certificate_by_lua(openclaw.conf:"
        ),
        "{}",
        facts.text
    );
    assert!(
        facts
            .text
            .contains(":11: API disabled in the context of ssl_certificate_by_lua*\n"),
        "{}",
        facts.text
    );
    // In a request, ngx.ssl reads the connection; the certificate cannot change any more.
    assert!(
        facts
            .text
            .contains("request: a.test TLSv1.3 no handshake in progress\n"),
        "{}",
        facts.text
    );
    // From the shared dict, through parse_pem_cert/set_cert; a second handshake is served
    // from the worker's cache the same way.
    for _ in 0..2 {
        let b = fetch(addr, verified(), "b.test", "/").unwrap();
        assert!(b.text.ends_with("served b.test\n"), "{}", b.text);
        assert_eq!(b.leaf, leaf_of(&gw, "conf/b.crt"));
    }
    // A handler that sleeps holds only its own handshake.
    let slow = std::thread::spawn({
        let cfg = verified();
        move || {
            let t = Instant::now();
            let r = fetch(addr, cfg, "slow.test", "/").unwrap();
            (r, t.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let quick = fetch(addr, verified(), "b.test", "/").unwrap();
    assert!(quick.text.ends_with("served b.test\n"));
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    let (r, took) = slow.join().unwrap();
    assert!(r.text.ends_with("served slow.test\n"), "{}", r.text);
    assert_eq!(r.leaf, leaf_of(&gw, "conf/a.crt"));
    assert!(took >= Duration::from_millis(200), "{took:?}");
    let log = gw.error_log();
    let woke = log
        .lines()
        .find(|l| l.contains("slow handshake woke up"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        woke.contains("[notice]")
            && woke.ends_with(&format!(
                ", context: ssl_certificate_by_lua*, client: 127.0.0.1, server: {LISTEN}"
            )),
        "{woke}"
    );
}

#[test]
fn a_handler_setting_nothing_leaves_the_configured_certificate() {
    let ca = Ca::new("Test CA");
    let gw = gateway(&ca);
    let r = fetch(
        gw.addrs[0],
        client(Some(&ca), &["http/1.1"], vec![]),
        "default.test",
        "/",
    )
    .unwrap();
    assert!(r.text.ends_with("served default.test\n"), "{}", r.text);
    assert_eq!(r.leaf, leaf_of(&gw, "conf/default.crt"));
}

#[test]
fn a_failing_handler_fails_the_handshake() {
    let ca = Ca::new("Test CA");
    let gw = gateway(&ca);
    let addr = gw.addrs[0];
    let e = fetch(addr, client(Some(&ca), &[], vec![]), "bad.test", "/")
        .err()
        .expect("the handshake fails");
    assert!(!e.is_empty());
    let conf = std::fs::read_to_string(gw.path("conf/openclaw.conf")).unwrap();
    let line = conf
        .lines()
        .position(|l| l.contains("ssl_certificate_by_lua_block"))
        .unwrap()
        + 1;
    // OpenResty's words, with the stack traceback and nginx's context after it.
    let first = format!(
        "lua entry thread aborted: runtime error: ssl_certificate_by_lua(openclaw.conf:{line}):5: no certificate for bad.test\nstack traceback:"
    );
    assert!(
        gw.wait_log(&first, Duration::from_secs(5)),
        "{}",
        gw.error_log()
    );
    let tail = format!(
        "in main chunk, context: ssl_certificate_by_lua*, client: 127.0.0.1, server: {LISTEN}\n"
    );
    assert!(gw.error_log().contains(&tail), "{}", gw.error_log());
    assert!(gw.wait_log(
        "SSL_do_handshake() failed (cert cb error) while SSL handshaking",
        Duration::from_secs(5)
    ));
    // ngx.exit(ngx.ERROR) fails it too, without an error line.
    assert!(fetch(addr, client(Some(&ca), &[], vec![]), "exit.test", "/").is_err());
    // The worker goes on serving.
    let ok = fetch(addr, client(Some(&ca), &[], vec![]), "a.test", "/").unwrap();
    assert!(ok.text.ends_with("served a.test\n"), "{}", ok.text);
}

#[test]
fn a_handler_file_relative_to_the_prefix() {
    let ca = Ca::new("Test CA");
    let (fallback_crt, fallback_key) = ca.issue(&["fallback.test"], Key::Ecdsa);
    let (crt, key) = ca.issue(&["file.test"], Key::Rsa);
    let lua = r#"
local ssl = require "ngx.ssl"
local chain = assert(ssl.parse_pem_cert(CRT))
local key = assert(ssl.parse_pem_priv_key(KEY))
assert(ssl.clear_certs())
assert(ssl.set_cert(chain))
assert(ssl.set_priv_key(key))
"#;
    let http = format!(
        "init_by_lua_block {{ CRT = [[{crt}]] KEY = [[{key}]] }}\n\
         server {{ listen 127.0.0.1:0 ssl; server_name file.test;\n\
         ssl_certificate fallback.crt; ssl_certificate_key fallback.key;\n\
         ssl_certificate_by_lua_file conf/cert.lua;\n\
         location / {{ return 200 \"file $ssl_server_name\\n\"; }} }}"
    );
    let files = vec![
        ("conf/cert.lua".to_string(), lua.to_string()),
        ("conf/fallback.crt".to_string(), fallback_crt),
        ("conf/fallback.key".to_string(), fallback_key),
    ];
    let gw = Gateway::start_full(&common::wrap("", &http, ""), &files).unwrap();
    let r = fetch(
        gw.addrs[0],
        client(Some(&ca), &["http/1.1"], vec![]),
        "file.test",
        "/",
    )
    .unwrap();
    assert!(r.text.ends_with("file file.test\n"), "{}", r.text);
}
