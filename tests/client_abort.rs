//! A client that closes its connection before the response: what runs on and what is cut,
//! as nginx and lua-nginx-module decide (`lua_check_client_abort`, `ngx.on_abort`).

mod common;

use common::Gateway;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Sends a request, waits until the handler logged `started`, then closes the connection.
fn abandon(gw: &Gateway, path: &str, started: &str) {
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        gw.wait_log(started, Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    drop(s);
}

/// Waits for the access log to hold `needle`.
fn wait_access(gw: &Gateway, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.access_log().contains(needle) {
        assert!(Instant::now() < deadline, "{}", gw.access_log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An upstream that accepts one connection and never answers: its address, a signal when
/// it accepted, and a thread that ends with whether the gateway closed the connection.
fn silent_upstream() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<bool>,
) {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = up.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let (mut c, _) = up.accept().unwrap();
        tx.send(()).unwrap();
        // Read the request, then wait for the gateway to close the connection.
        common::client::closed_by_peer(&mut c)
    });
    (addr, rx, t)
}

#[test]
fn a_lua_handler_runs_to_its_end_when_the_client_leaves() {
    // lua_check_client_abort off (the default): nginx does not watch the client while Lua
    // runs, so the handler finishes and the request is logged with its own status.
    let gw = Gateway::start(
        r#"location /slow {
            content_by_lua_block {
                ngx.log(ngx.WARN, "handler started")
                ngx.sleep(0.3)
                ngx.log(ngx.WARN, "handler done")
                ngx.say("done")
            }
            log_by_lua_block { ngx.log(ngx.WARN, "log phase saw ", ngx.var.status) }
        }"#,
    );
    abandon(&gw, "/slow", "handler started");
    assert!(
        gw.wait_log("log phase saw 200", Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    let log = gw.error_log();
    assert!(log.contains("handler done"), "{log}");
    assert!(!log.contains("prematurely closed"), "{log}");
    wait_access(&gw, "\"GET /slow HTTP/1.1\" 200 ");
}

#[test]
fn on_abort_callback_runs_and_the_handler_goes_on() {
    let gw = Gateway::start(
        r#"location /t {
            lua_check_client_abort on;
            content_by_lua_block {
                local ok, err = ngx.on_abort(function()
                    ngx.log(ngx.WARN, "on abort called")
                end)
                if not ok then error("cannot set on_abort: " .. err) end
                ngx.log(ngx.WARN, "handler started")
                ngx.sleep(0.5)
                ngx.log(ngx.WARN, "main handler done")
            }
        }"#,
    );
    abandon(&gw, "/t", "handler started");
    assert!(
        gw.wait_log("main handler done", Duration::from_secs(10)),
        "{}",
        gw.error_log()
    );
    let log = gw.error_log();
    let closed = log
        .find("client prematurely closed connection")
        .expect(&log);
    let called = log.find("on abort called").expect(&log);
    assert!(closed < called && called < log.find("main handler done").unwrap());
    assert!(!log.contains("[error]"), "{log}");
}

#[test]
fn on_abort_callback_that_exits_ends_the_request() {
    let gw = Gateway::start(
        r#"location /t {
            lua_check_client_abort on;
            content_by_lua_block {
                ngx.on_abort(function()
                    ngx.log(ngx.WARN, "on abort called")
                    ngx.exit(444)
                end)
                ngx.log(ngx.WARN, "handler started")
                ngx.sleep(5)
                ngx.log(ngx.WARN, "main handler done")
            }
        }"#,
    );
    abandon(&gw, "/t", "handler started");
    // Long before the handler's sleep would end.
    wait_access(&gw, "\"GET /t HTTP/1.1\" 444 ");
    let log = gw.error_log();
    assert!(log.contains("on abort called"), "{log}");
    assert!(!log.contains("main handler done"), "{log}");
}

#[test]
fn without_a_callback_the_request_ends_with_499() {
    let gw = Gateway::start(
        r#"location /t {
            lua_check_client_abort on;
            content_by_lua_block {
                ngx.log(ngx.WARN, "handler started")
                ngx.sleep(5)
                ngx.log(ngx.WARN, "main handler done")
            }
        }"#,
    );
    abandon(&gw, "/t", "handler started");
    wait_access(&gw, "\"GET /t HTTP/1.1\" 499 ");
    let log = gw.error_log();
    assert!(
        log.contains("client prematurely closed connection"),
        "{log}"
    );
    assert!(!log.contains("main handler done"), "{log}");
}

#[test]
fn a_proxied_request_is_cut_when_the_client_leaves() {
    let (addr, rx, t) = silent_upstream();
    let gw = Gateway::start(&format!(
        "location /p {{ proxy_read_timeout 30s; proxy_pass http://{addr}; }}"
    ));
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.write_all(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(s);
    wait_access(&gw, "\"GET /p HTTP/1.1\" 499 ");
    assert!(t.join().unwrap(), "the upstream connection was closed");
    assert!(gw
        .error_log()
        .contains("client prematurely closed connection while processing the request"));
}

#[test]
fn a_second_request_on_the_connection_is_cut_when_the_client_leaves() {
    // The first request waits (ngx.sleep), so it arms the connection's watch timer; the
    // second re-arms the same timer, and the close must still be noticed through it.
    let (addr, rx, t) = silent_upstream();
    let gw = Gateway::start(&format!(
        "location /w {{ content_by_lua_block {{ ngx.sleep(0.06) ngx.say('waited') }} }}
         location /p {{ proxy_read_timeout 30s; proxy_pass http://{addr}; }}"
    ));
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.write_all(b"GET /w HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("waited\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(s);
    wait_access(&gw, "\"GET /p HTTP/1.1\" 499 ");
    assert!(t.join().unwrap(), "the upstream connection was closed");
}
