//! Proxy behaviour that needs more than one request/response: connection reuse,
//! streaming, WebSocket tunnels, request bodies streamed upstream, bodies cut short.
//! (Single-request behaviour is data in tests/cases/proxy.t.)

mod common;

use common::upstream::Backend;
use common::{client, Gateway};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn http(up: &str, server: &str) -> Gateway {
    Gateway::start_full(&common::wrap("", up, server), &[]).unwrap()
}

/// Connects to the gateway and sends raw request bytes.
fn send(gw: &Gateway, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Reads from `s` until `needle` is in the buffer (or the connection ends).
fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &str) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        if String::from_utf8_lossy(buf).contains(needle) {
            return true;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn keepalive_pool_reuses_upstream_connections() {
    let be = Backend::start("up1");
    let up = format!("upstream be {{ server {}; keepalive 4; }}", be.addr);
    let gw = http(
        &up,
        "location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
    );
    for i in 0..30 {
        let r = client::get(gw.addr(), &format!("/r{i}"), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("up1 GET /r{i}\n"));
    }
    // One connection per worker at most (the test config runs two workers).
    assert!(
        be.connections() <= 2,
        "30 requests opened {} upstream connections",
        be.connections()
    );
}

#[test]
fn without_keepalive_each_request_has_its_own_connection() {
    let be = Backend::start("up1");
    let up = format!("upstream be {{ server {}; keepalive 4; }}", be.addr);
    // nginx's default Connection: close forbids reuse even with keepalive.
    let gw = http(&up, "location / { proxy_pass http://be; }");
    for _ in 0..5 {
        assert_eq!(client::get(gw.addr(), "/x", &[]).status, 200);
    }
    assert_eq!(be.connections(), 5);
}

#[test]
fn streamed_events_reach_the_client_while_the_upstream_is_still_sending() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!(
            "location / {{ proxy_buffering off; proxy_pass http://{}; }}",
            be.addr
        ),
    );
    let mut s = send(
        &gw,
        b"GET /stream?n=3&ms=700 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let mut buf = vec![];
    let t = Instant::now();
    assert!(read_until(&mut s, &mut buf, "chunk 0\n"));
    let first = t.elapsed();
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(
        !text.contains("chunk 1"),
        "the first event came alone: {text:?}"
    );
    assert!(read_until(&mut s, &mut buf, "chunk 2\n"));
    // The whole stream takes 1.4 s upstream; the first event came before the second was sent.
    assert!(first < t.elapsed());
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(
        text.contains("Transfer-Encoding: chunked") || text.contains("transfer-encoding: chunked")
    );
}

/// A gateway proxying WebSocket upgrades to a fresh upstream, and a client connection
/// already switched to the tunnel (101 checked).
fn ws_tunnel(extra: &str) -> (Backend, Gateway, TcpStream) {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!(
            "location / {{ {extra} proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; proxy_pass http://{}; }}",
            be.addr
        ),
    );
    let mut s = send(
        &gw,
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    let mut buf = vec![];
    assert!(read_until(&mut s, &mut buf, "\r\n\r\n"));
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    (be, gw, s)
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    let (_be, _gw, mut s) = ws_tunnel("");
    for msg in ["hello", "second message"] {
        s.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![];
        assert!(read_until(&mut s, &mut got, msg), "echo of {msg:?}");
    }
}

#[test]
fn tunnel_closes_after_proxy_read_timeout_of_silence() {
    let (_be, gw, mut s) = ws_tunnel("proxy_read_timeout 300ms;");
    // Silence: the gateway closes the tunnel (read returns 0) well before our 10 s timeout.
    let mut rest = vec![];
    let n = s.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(gw.wait_log("while proxying upgraded connection", Duration::from_secs(5)));
}

#[test]
fn unbuffered_chunked_request_body_streams_upstream() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!(
            "location / {{ proxy_request_buffering off; proxy_http_version 1.1; proxy_pass http://{}; }}",
            be.addr
        ),
    );
    let mut s = send(&gw, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    let (r, _) = client::parse(&buf, false).unwrap();
    assert_eq!(r.status, 200);
    let body = r.text();
    assert!(body.contains("transfer-encoding: chunked"), "{body}");
    assert!(body.ends_with("--\nhello world"), "{body}");
}

#[test]
fn buffered_chunked_request_body_goes_with_a_length() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!("location / {{ proxy_pass http://{}; }}", be.addr),
    );
    let mut s = send(&gw, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    let (r, _) = client::parse(&buf, false).unwrap();
    let body = r.text();
    assert!(body.contains("content-length: 5\n"), "{body}");
    assert!(!body.contains("transfer-encoding"), "{body}");
    assert!(body.ends_with("--\nhello"), "{body}");
}

#[test]
fn body_cut_short_by_the_upstream_is_logged_and_the_client_connection_closed() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!("location / {{ proxy_pass http://{}; }}", be.addr),
    );
    let mut s = send(&gw, b"GET /partial HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut buf = vec![];
    // The gateway closes the keep-alive connection: the client cannot mistake a short body.
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("0123456789"), "{text}");
    assert!(gw.wait_log(
        "upstream prematurely closed connection while reading upstream",
        Duration::from_secs(5)
    ));
}

#[test]
fn a_malformed_chunked_upstream_body_is_logged_and_the_client_connection_closed() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!("location / {{ proxy_pass http://{}; }}", be.addr),
    );
    let mut s = send(&gw, b"GET /badchunk HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // The good chunk was passed on; the bad one ends the response without a last chunk.
    assert!(text.contains("abcde"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    assert!(gw.wait_log(
        "upstream sent invalid chunked response while reading upstream",
        Duration::from_secs(5)
    ));
}

#[test]
fn slow_body_times_out_with_proxy_read_timeout() {
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!(
            "location / {{ proxy_read_timeout 300ms; proxy_pass http://{}; }}",
            be.addr
        ),
    );
    let mut s = send(
        &gw,
        b"GET /stream?n=2&ms=3000 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(text.contains("chunk 0"), "{text}");
    assert!(!text.contains("chunk 1"), "{text}");
    assert!(gw.wait_log(
        "upstream timed out (110: Connection timed out) while reading upstream",
        Duration::from_secs(5)
    ));
}

#[test]
fn passive_health_takes_a_failing_peer_out_then_back() {
    let good = Backend::start("good");
    let dead_port = common::upstream::dead_port();
    let dead = dead_port.addr;
    let up = format!(
        "upstream be {{ server {dead} max_fails=1 fail_timeout=1s; server {}; }}",
        good.addr
    );
    let gw = http(&up, "location / { proxy_pass http://be; }");
    // The first request fails over; the dead peer is then out for fail_timeout.
    for _ in 0..6 {
        let r = client::get(gw.addr(), "/x", &[]);
        assert_eq!(r.text(), "good GET /x\n");
    }
    let log = gw.error_log();
    assert_eq!(log.matches("connect() failed").count(), 1, "{log}");
    assert!(log.contains("upstream server temporarily disabled"));
}

#[test]
fn active_health_checks_take_a_peer_out_and_bring_it_back() {
    let a = Backend::start("a");
    let b = Backend::start("b");
    let up = format!(
        "upstream be {{ server {}; server {}; health_check uri=/health interval=50ms fails=2 passes=2; }}",
        a.addr, b.addr
    );
    let gw = http(&up, "location / { proxy_pass http://be; }");
    b.set_health(503);
    let out = format!("upstream \"be\": peer {} is unhealthy after 2 failed health check(s) of \"/health\": status 503", b.addr);
    assert!(
        gw.wait_log(&out, Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    // Out of the rotation: no request reaches it, none fails.
    for _ in 0..4 {
        assert_eq!(client::get(gw.addr(), "/x", &[]).text(), "a GET /x\n");
    }
    b.set_health(200);
    let back = format!("upstream \"be\": peer {} is healthy again", b.addr);
    assert!(gw.wait_log(&back, Duration::from_secs(10)));
    let bodies: Vec<String> = (0..4)
        .map(|_| client::get(gw.addr(), "/x", &[]).text())
        .collect();
    assert!(bodies.contains(&"b GET /x\n".to_string()), "{bodies:?}");
    assert!(!gw.error_log().contains("connect() failed"));
}

/// Starts a `conf/examples/` file with its fixed addresses replaced by test upstreams.
fn example(file: &str, subst: &[(&str, String)]) -> Gateway {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let mut conf = std::fs::read_to_string(path).unwrap();
    let mut all: Vec<(&str, String)> = vec![
        ("listen 8080;", "listen 127.0.0.1:0;".into()),
        (
            "error_log logs/error.log;",
            "error_log logs/error.log info;".into(),
        ),
    ];
    all.extend(subst.iter().cloned());
    for (from, to) in all {
        assert!(conf.contains(from), "{file} has {from}");
        conf = conf.replace(from, &to);
    }
    let conf = conf
        .lines()
        .map(|l| {
            if l.starts_with("pid ") {
                "pid logs/nginx.pid;"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Gateway::start_full(&conf, &[]).unwrap()
}

/// Which pool answered, by the backend's name, for a request with `headers`.
fn pool_of(gw: &Gateway, headers: &[(&str, &str)]) -> (String, String) {
    let r = client::get(gw.addr(), "/x", headers);
    assert_eq!(r.status, 200, "{}", r.text());
    let name = r.text().split(' ').next().unwrap_or("").to_string();
    (name, r.header("x-pool").unwrap_or("").to_string())
}

#[test]
fn canary_examples_route_by_override_and_split() {
    for file in [
        "conf/examples/canary-split.conf",
        "conf/examples/canary-lua.conf",
    ] {
        let (s1, s2, c) = (
            Backend::start("stable1"),
            Backend::start("stable2"),
            Backend::start("canary"),
        );
        let gw = example(
            file,
            &[
                ("127.0.0.1:9001", s1.addr.to_string()),
                ("127.0.0.1:9002", s2.addr.to_string()),
                ("127.0.0.1:9101", c.addr.to_string()),
            ],
        );
        for _ in 0..3 {
            assert_eq!(
                pool_of(&gw, &[("X-Canary", "always")]),
                ("canary".into(), "canary".into()),
                "{file}"
            );
            let (name, pool) = pool_of(&gw, &[("X-Canary", "never")]);
            assert!(
                name.starts_with("stable") && pool == "stable",
                "{file}: {name} {pool}"
            );
        }
        // Without an override, the split is sticky per client (address + user agent).
        let mut canary = 0;
        for i in 0..100 {
            let ua = format!("agent-{i}");
            let first = pool_of(&gw, &[("User-Agent", &ua)]);
            let again = pool_of(&gw, &[("User-Agent", &ua)]);
            assert_eq!(first.1, again.1, "{file}: sticky for {ua}");
            if first.1 == "canary" {
                canary += 1;
            }
        }
        assert!(
            (2..=25).contains(&canary),
            "{file}: about 10% of 100 clients, got {canary}"
        );
    }
}

#[test]
fn idle_upstream_connections_close_after_keepalive_timeout() {
    // A pooled connection to an upstream no request goes to any more (a peer removed by
    // `resolve` is the same case) closes once idle for keepalive_timeout, as nginx's
    // timers close it; traffic to another upstream is what lets the pool sweep.
    let a = Backend::start("a");
    let b = Backend::start("b");
    let ups = format!(
        "upstream ua {{ server {}; keepalive 4; keepalive_timeout 1s; }}
         upstream ub {{ server {}; keepalive 4; }}",
        a.addr, b.addr
    );
    let gw = http(
        &ups,
        "location /a { proxy_pass http://ua; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
         location /b { proxy_pass http://ub; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
    );
    assert_eq!(client::get(gw.addr(), "/a", &[]).status, 200);
    assert!(a.live() >= 1, "the connection to a is kept");
    let deadline = Instant::now() + Duration::from_secs(15);
    while a.live() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} idle connection(s) to a still open",
            a.live()
        );
        assert_eq!(client::get(gw.addr(), "/b", &[]).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_pooled_connection_closed_under_a_request_is_retried_on_a_new_one() {
    // The upstream answers /dropnext, keeps the connection, then closes it on the next
    // request without answering: the request goes again on a fresh connection, with no
    // error for the client and nothing in error.log (nginx retries a cached connection).
    let be = Backend::start("up1");
    let up = format!("upstream be {{ server {}; keepalive 4; }}", be.addr);
    let gw = http(
        &up,
        "location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; }",
    );
    // One client connection: one worker, one pool.
    let mut c = client::Conn::open(gw.addr()).unwrap();
    for (path, want) in [
        ("/dropnext", "up1 dropnext\n"),
        ("/after", "up1 GET /after\n"),
        ("/again", "up1 GET /again\n"),
    ] {
        let r = c.get(path).unwrap();
        assert_eq!((r.status, r.text()), (200, want.to_string()), "{path}");
    }
    assert_eq!(
        be.connections(),
        2,
        "the dropped connection and its replacement"
    );
    let log = gw.error_log();
    assert!(!log.contains("[error]"), "error.log: {log}");
}

#[test]
fn an_upstream_answer_before_the_whole_upload_is_passed_on() {
    // The upstream refuses a large streamed upload with a 413 without reading it. The
    // gateway reads while it writes (as nginx does), so the client gets that 413; a
    // client that first wrote everything would block, then time out with a 504.
    let be = Backend::start("up1");
    let gw = http(
        "",
        &format!(
            "location / {{ proxy_pass http://{}; proxy_request_buffering off;
                          proxy_read_timeout 5s; client_max_body_size 0; }}",
            be.addr
        ),
    );
    let total: usize = 64 << 20;
    let mut c = TcpStream::connect(gw.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        format!("POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: {total}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total && w.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
    });
    let mut buf = vec![];
    assert!(
        read_until(&mut c, &mut buf, "too large"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    let text = String::from_utf8_lossy(&buf).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    drop(c);
    let _ = writer.join();
}

#[test]
fn proxy_read_timeout_holds_on_a_kept_upstream_connections_next_request() {
    // One client connection (so one worker and its pool): the first request leaves its
    // upstream connection, and its re-armed read timer, in the pool; the second hangs on
    // that connection and must time out; the third needs a new connection.
    let be = Backend::start("up1");
    let gw = http(
        &format!("upstream be {{ server {}; keepalive 4; }}", be.addr),
        "location / { proxy_read_timeout 300ms; proxy_http_version 1.1;
                      proxy_set_header Connection \"\"; proxy_pass http://be; }",
    );
    let mut s = send(
        &gw,
        b"GET /conns HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /hang HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /conns HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let mut buf = vec![];
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let statuses: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 504 Gateway Time-out",
            "HTTP/1.1 200 OK"
        ],
        "{text}"
    );
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.contains("\r\n\r\n1\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n2\n"), "{text}");
    assert!(gw.wait_log(
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
        Duration::from_secs(5)
    ));
}
