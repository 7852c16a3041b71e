//! HTTP/1.1 pipelining over real sockets: responses to requests that came in one write are
//! held back and sent together, in order, and never wait on anything but the responses
//! after them (a slow request, a head still incomplete, a `100 Continue`, a handler that
//! takes the connection, a client that half-closes).

mod common;

use common::Gateway;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

fn gateway() -> Gateway {
    let conf = common::wrap(
        "",
        "lua_shared_dict flags 1m;",
        r#"location = /a { return 200 "a\n"; }
        location = /b { return 200 "b\n"; }
        location = /small { return 200 "small\n"; }
        location = /head304 { return 304; }
        location = /wait {
            content_by_lua_block {
                -- Answers once /go was requested (on another connection).
                while not ngx.shared.flags:get("go") do ngx.sleep(0.01) end
                ngx.say("waited")
            }
        }
        location = /go { content_by_lua_block { ngx.shared.flags:set("go", true) ngx.say("went") } }
        location = /body { content_by_lua_block { ngx.req.read_body() ngx.say("got ", ngx.req.get_body_data()) } }
        location = /raw {
            content_by_lua_block {
                local sock = ngx.req.socket(true)
                sock:send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nraw\n")
            }
        }"#,
    );
    Gateway::start_full(&conf, &[]).unwrap()
}

fn connect(gw: &Gateway) -> TcpStream {
    let s = TcpStream::connect(gw.addr()).unwrap();
    // A response held back by mistake fails the test instead of hanging it.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads from `s` until what came satisfies `done`; a timeout or the peer closing first
/// fails with what came.
fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) {
        match s.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            r => panic!("{r:?} after: {}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A connection that sent `requests` in one write.
fn pipelined(gw: &Gateway, requests: &str) -> TcpStream {
    let mut s = connect(gw);
    s.write_all(requests.as_bytes()).unwrap();
    s
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

#[test]
fn pipelined_responses_come_back_whole_and_in_order() {
    let gw = gateway();
    let mut s = connect(&gw);
    let batch: String = ["/a", "/b", "/small", "/head304", "/a"]
        .iter()
        .map(|p| get(p))
        .collect::<String>()
        + "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
        + &get("/b");
    s.write_all(batch.as_bytes()).unwrap();
    let got = read_until(&mut s, |g| {
        g.matches("HTTP/1.1 ").count() == 7 && g.ends_with("b\n")
    });
    let bodies: Vec<&str> = got
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|r| r.split("\r\n\r\n").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        bodies,
        ["a\n", "b\n", "small\n", "", "a\n", "", "b\n"],
        "{got}"
    );
    assert_eq!(got.matches("HTTP/1.1 304 Not Modified").count(), 1, "{got}");
    // The connection serves on after the batch.
    s.write_all(get("/a").as_bytes()).unwrap();
    read_until(&mut s, |g| g.ends_with("a\n"));
}

#[test]
fn a_response_never_waits_for_a_slow_request_behind_it() {
    let gw = gateway();
    let mut s = pipelined(&gw, &(get("/a") + &get("/wait") + &get("/b")));
    // /a's response comes while /wait still waits: /go is sent only after it.
    let first = read_until(&mut s, |g| g.contains("a\n"));
    assert!(!first.contains("waited"), "{first}");
    let mut other = connect(&gw);
    other.write_all(get("/go").as_bytes()).unwrap();
    read_until(&mut other, |g| g.ends_with("went\n"));
    let rest = read_until(&mut s, |g| g.ends_with("b\n"));
    assert!(rest.contains("waited\n"), "{rest}");
}

#[test]
fn a_response_never_waits_for_the_rest_of_the_next_head() {
    let gw = gateway();
    let mut s = pipelined(&gw, &(get("/a") + "GET /b HTTP/1.1\r\nHo"));
    read_until(&mut s, |g| g.ends_with("a\n"));
    s.write_all(b"st: x\r\n\r\n").unwrap();
    read_until(&mut s, |g| g.ends_with("b\n"));
}

#[test]
fn earlier_responses_go_out_before_a_100_continue() {
    let gw = gateway();
    let post =
        "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    let mut s = pipelined(&gw, &(get("/a") + post));
    let got = read_until(&mut s, |g| g.contains("100 Continue\r\n\r\n"));
    let a = got.find("a\n").expect(&got);
    assert!(a < got.find("100 Continue").unwrap(), "{got}");
    s.write_all(b"xyz").unwrap();
    read_until(&mut s, |g| g.ends_with("got xyz\n"));
}

#[test]
fn earlier_responses_go_out_before_what_a_handler_writes_on_the_taken_connection() {
    let gw = gateway();
    let mut s = pipelined(&gw, &(get("/a") + &get("/b") + &get("/raw")));
    let got = read_until(&mut s, |g| g.ends_with("raw\n"));
    let at = |text: &str| {
        got.find(text)
            .unwrap_or_else(|| panic!("no {text:?} in {got}"))
    };
    assert!(at("a\n") < at("b\n") && at("b\n") < at("raw\n"), "{got}");
}

#[test]
fn a_client_that_half_closes_after_its_batch_gets_every_response() {
    let gw = gateway();
    let mut s = pipelined(&gw, &(get("/a").repeat(3) + &get("/b")));
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got.matches("HTTP/1.1 200 OK").count(), 4, "{got}");
    assert!(got.ends_with("b\n"), "{got}");
}

/// Segments the client's socket has received (TCP_INFO's `tcpi_segs_in`), the handshake's
/// included.
fn segments_in(s: &TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: `info` is a plain struct of integers that getsockopt fills up to `len`.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut _ as *mut libc::c_void,
            &mut len,
        );
        assert_eq!(r, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info.tcpi_segs_in
    }
}

#[test]
fn a_batch_of_pipelined_requests_is_answered_in_one_write() {
    let gw = gateway();
    // One write of eight requests: the server reads them together and sends the eight
    // responses (about 1.3 KB) in one segment, where one send each made eight.
    let mut s = pipelined(&gw, &get("/a").repeat(8));
    read_until(&mut s, |g| g.matches("a\n").count() == 8);
    let segs = segments_in(&s);
    // The handshake's SYN-ACK, the responses, and at most an ACK or two on their own.
    assert!(segs <= 4, "{segs} segments for one batch");
}

#[test]
fn pipelined_responses_over_tls_come_back_whole_and_in_order() {
    use common::certs::{Ca, Key};
    let ca = Ca::new("Test CA");
    let (crt, key) = ca.issue(&["a.test"], Key::Ecdsa);
    let conf = common::wrap(
        "",
        r#"server {
            listen 127.0.0.1:0 ssl;
            server_name a.test;
            ssl_certificate a.crt;
            ssl_certificate_key a.key;
            location = /a { return 200 "a\n"; }
            location = /b { return 200 "b\n"; }
        }"#,
        "",
    );
    let files = [
        ("conf/a.crt".to_string(), crt),
        ("conf/a.key".to_string(), key),
    ];
    let gw = Gateway::start_full(&conf, &files).unwrap();
    // `fetch` writes "GET {path} HTTP/1.1 ... Connection: close": the path carries three
    // more requests before it, all in one TLS write.
    let path = format!(
        "/a HTTP/1.1\r\nHost: a.test\r\n\r\n{}{}GET /b",
        get("/b"),
        get("/a")
    );
    let got = common::tls::fetch(
        gw.addrs[0],
        common::tls::client(Some(&ca), &["http/1.1"], vec![]),
        "a.test",
        &path,
    )
    .unwrap();
    let bodies: Vec<&str> = got
        .text
        .split("HTTP/1.1 200 OK")
        .skip(1)
        .map(|r| r.split("\r\n\r\n").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(bodies, ["a\n", "b\n", "a\n", "b\n"], "{}", got.text);
}
