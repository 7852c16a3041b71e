//! The `resolver` directive against a real (test) DNS server: `proxy_pass` with variables
//! and cosockets reach names; unknown names and silent servers fail like nginx; upstream
//! `server NAME resolve` lines follow the DNS answers without a reload.

mod common;

use common::dns::{Answer, Dns};
use common::upstream::Backend;
use common::{client, Gateway};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

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

/// Backends named b1, b2, b3 on 127.0.0.1-3, all on one port (a `resolve` line's port
/// applies to every address). Retries with another port if one is taken elsewhere.
fn backends_on_one_port() -> Vec<Backend> {
    for _ in 0..20 {
        let first = Backend::start("b1");
        let port = first.addr.port();
        let mut all = vec![first];
        for i in 2..=3u8 {
            let at = SocketAddr::from(([127, 0, 0, i], port));
            match Backend::start_at(&format!("b{i}"), at) {
                Ok(b) => all.push(b),
                Err(_) => break,
            }
        }
        if all.len() == 3 {
            return all;
        }
    }
    panic!("no port free on 127.0.0.1-3");
}

fn ips(last: &[u8]) -> Answer {
    Answer::Addrs(last.iter().map(|o| Ipv4Addr::new(127, 0, 0, *o)).collect())
}

/// A DNS server answering `backend.test` with 127.0.0.N for each N, TTL 1 s.
fn dns_with_ttl_1(last: &[u8]) -> Dns {
    let dns = Dns::start(&[]);
    dns.set_ttl(1);
    dns.set("backend.test", ips(last));
    dns
}

fn resolve_gateway(dns: &Dns, port: u16, resolver: &str) -> Gateway {
    resolve_gateway_with(dns, port, resolver, "")
}

/// [`resolve_gateway`] with more directives in the upstream block.
fn resolve_gateway_with(dns: &Dns, port: u16, resolver: &str, more: &str) -> Gateway {
    let http = format!(
        r#"
resolver {} {resolver} ipv6=off;
resolver_timeout 500ms;
upstream be {{
    zone be 64k;
    server backend.test:{port} resolve max_fails=0;
    {more}
}}
"#,
        dns.addr
    );
    let conf = common::wrap("", &http, "location / { proxy_pass http://be; }");
    Gateway::start_full(&conf, &[]).unwrap()
}

/// Which backend answered (`b2 GET /x` -> `b2`), or the status when it was not a 200.
fn who(gw: &Gateway) -> String {
    let r = client::get(gw.addr(), "/x", &[]);
    match r.status {
        200 => r.text().split(' ').next().unwrap_or_default().to_string(),
        s => s.to_string(),
    }
}

/// Polls until 12 requests in a row are answered by exactly `want` (every one of them
/// seen, nothing else), within `limit`; returns whether that happened.
fn converges(gw: &Gateway, want: &[&str], limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let seen: HashSet<String> = (0..12).map(|_| who(gw)).collect();
        if seen.len() == want.len() && want.iter().all(|w| seen.contains(*w)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn resolve_servers_follow_dns_changes_without_reload() {
    let be = backends_on_one_port();
    let port = be[0].addr.port();
    let dns = dns_with_ttl_1(&[1, 2]);
    let gw = resolve_gateway(&dns, port, "");
    // The start waited for the first answer: both addresses serve at once.
    let first: HashSet<String> = (0..4).map(|_| who(&gw)).collect();
    assert_eq!(first, HashSet::from(["b1".into(), "b2".into()]));

    // An address added and one removed: traffic follows within the TTL (1 s).
    dns.set("backend.test", ips(&[2, 3]));
    assert!(converges(&gw, &["b2", "b3"], Duration::from_secs(10)));

    // The name fails to resolve (server failure): the last addresses keep serving.
    let asked = dns.queries();
    dns.set("backend.test", Answer::Fail(2));
    assert!(gw.wait_log(
        "backend.test could not be resolved (2: Server failure)",
        Duration::from_secs(10)
    ));
    let start = Instant::now();
    while dns.queries() < asked + 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(converges(&gw, &["b2", "b3"], Duration::from_secs(2)));

    // Back again, with a third address.
    dns.set("backend.test", ips(&[1, 2, 3]));
    assert!(converges(&gw, &["b1", "b2", "b3"], Duration::from_secs(10)));

    // The name is gone (NXDOMAIN): nginx drops its peers, so no live upstreams.
    dns.set("backend.test", Answer::Fail(3));
    assert!(converges(&gw, &["502"], Duration::from_secs(10)));
    assert!(gw
        .error_log()
        .contains("backend.test could not be resolved (3: Host not found)"));
    assert!(gw.error_log().contains("no live upstreams"));
}

#[test]
fn a_name_unresolvable_at_start_serves_once_it_resolves() {
    let be = backends_on_one_port();
    let dns = Dns::start(&[]);
    // valid= overrides the TTL (60 s here) and paces the retries of a missing name.
    let gw = resolve_gateway(&dns, be[0].addr.port(), "valid=1s");
    assert!(gw
        .error_log()
        .contains("backend.test could not be resolved (3: Host not found)"));
    assert_eq!(who(&gw), "502");
    dns.set("backend.test", ips(&[3]));
    assert!(converges(&gw, &["b3"], Duration::from_secs(10)));
    dns.set("backend.test", ips(&[1]));
    assert!(converges(&gw, &["b1"], Duration::from_secs(10)));
}

#[test]
fn health_checks_probe_the_resolved_peers() {
    let be = backends_on_one_port();
    let port = be[0].addr.port();
    let dns = dns_with_ttl_1(&[1, 2]);
    be[0].set_health(503);
    let gw = resolve_gateway_with(
        &dns,
        port,
        "",
        "health_check uri=/health interval=100ms timeout=500ms;",
    );
    assert!(converges(&gw, &["b2"], Duration::from_secs(10)));
    assert!(gw.error_log().contains(&format!(
        "peer 127.0.0.1:{port} is unhealthy after 1 failed health check(s)"
    )));
    // An address DNS adds is probed too; the unhealthy one stays out while it stays.
    be[2].set_health(503);
    dns.set("backend.test", ips(&[1, 2, 3]));
    assert!(gw.wait_log(
        &format!("peer 127.0.0.3:{port} is unhealthy"),
        Duration::from_secs(10)
    ));
    be[2].set_health(200);
    assert!(converges(&gw, &["b2", "b3"], Duration::from_secs(10)));
}

#[test]
fn resolve_needs_a_zone_and_a_resolver() {
    let conf = |http: &str| {
        common::wrap(
            "",
            &format!(
                "{http}\nupstream be {{\n{}\n    server backend.test:8080 resolve;\n}}",
                ""
            ),
            "location / { proxy_pass http://be; }",
        )
    };
    let err = Gateway::start_full(&conf("resolver 127.0.0.1;"), &[])
        .err()
        .unwrap();
    assert!(
        err.contains("resolving names at run time requires upstream \"be\" in ")
            && err.contains("openclaw.conf:9 to be in shared memory"),
        "{err}"
    );
    let with_zone =
        |http: &str| conf(http).replace("upstream be {\n", "upstream be {\n    zone be 64k;");
    let err = Gateway::start_full(&with_zone(""), &[]).err().unwrap();
    assert!(
        err.contains("no resolver defined to resolve names at run time in upstream \"be\" in ")
            && err.contains("openclaw.conf:9"),
        "{err}"
    );
    // A resolver in the upstream block itself is enough; an address needs none.
    let own = with_zone("").replace("zone be 64k;", "zone be 64k; resolver 127.0.0.1;");
    assert!(Gateway::start_full(&own, &[]).is_ok());
    let literal = conf("").replace("backend.test:8080 resolve", "127.0.0.1:8080 resolve");
    assert!(Gateway::start_full(&literal, &[]).is_ok());
}
