//! The `resolver` directive against a real (test) DNS server: `proxy_pass` with variables
//! and cosockets reach names; unknown names and silent servers fail like nginx.

mod common;

use common::dns::Dns;
use common::upstream::Backend;
use common::{client, Gateway};
use std::net::Ipv4Addr;
use std::time::Duration;

fn gateway(resolver: &str, port: u16) -> Gateway {
    let server = format!(
        r#"
resolver {resolver} valid=30s;
resolver_timeout 500ms;
location /p/ {{
    proxy_pass http://$arg_h:{port};
}}
location = /cosocket {{
    content_by_lua_block {{
        local sock = ngx.socket.tcp()
        local ok, err = sock:connect(ngx.var.arg_h, {port})
        if not ok then return ngx.say("failed: ", err) end
        sock:send("GET /c HTTP/1.0\r\nHost: x\r\n\r\n")
        local line = sock:receive("*l")
        ngx.say(line)
    }}
}}
"#
    );
    Gateway::start_full(&common::wrap("", "", &server), &[]).unwrap()
}

#[test]
fn names_resolve_for_proxy_pass_and_cosockets() {
    let be = Backend::start("up1");
    let dns = Dns::start(&[("backend.test", Ipv4Addr::LOCALHOST)]);
    let gw = gateway(&dns.addr.to_string(), be.addr.port());
    let r = client::get(gw.addr(), "/p/x?h=backend.test", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "up1 GET /p/x?h=backend.test\n")
    );
    let r = client::get(gw.addr(), "/cosocket?h=backend.test", &[]);
    assert_eq!(r.text(), "HTTP/1.1 200 X\n");
    // Answers are cached (valid=30s): more requests ask no more questions.
    let asked = dns.queries();
    for _ in 0..3 {
        assert_eq!(
            client::get(gw.addr(), "/p/y?h=backend.test", &[]).status,
            200
        );
    }
    assert!(dns.queries() <= asked + 2, "cached per worker");

    let r = client::get(gw.addr(), "/p/x?h=nowhere.test", &[]);
    assert_eq!(r.status, 502);
    assert!(gw
        .error_log()
        .contains("nowhere.test could not be resolved (3: Host not found)"));
    let r = client::get(gw.addr(), "/cosocket?h=nowhere.test", &[]);
    assert_eq!(
        r.text(),
        "failed: nowhere.test could not be resolved (3: Host not found)\n"
    );
}

#[test]
fn a_silent_resolver_times_out() {
    // A UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gw = gateway(&silent.local_addr().unwrap().to_string(), 9);
    let start = std::time::Instant::now();
    let r = client::get(gw.addr(), "/p/x?h=backend.test", &[]);
    assert_eq!(r.status, 502);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(gw
        .error_log()
        .contains("backend.test could not be resolved (110: Operation timed out)"));
}
