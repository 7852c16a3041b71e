//! OpenClaw's own HTTP/1 server, over real sockets: what the data-driven cases cannot
//! show (a client that stops reading).

mod common;

use common::Gateway;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn a_client_that_stops_reading_is_cut_off_after_send_timeout() {
    const SIZE: usize = 32 * 1024 * 1024;
    let gw = Gateway::start(
        r#"location /big {
            send_timeout 300ms;
            content_by_lua_block { ngx.print(string.rep("x", 32 * 1024 * 1024)) }
        }"#,
    );
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    write!(s, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // The request is logged once the server gave up writing (the socket buffers hold far
    // less than 32 MB).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.access_log().contains("\"GET /big HTTP/1.1\" 200 ") {
        assert!(Instant::now() < deadline, "{}", gw.error_log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gw.error_log()
            .contains("client timed out (110: Connection timed out) while sending to client"),
        "{}",
        gw.error_log()
    );
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(got.len() < SIZE, "the whole body arrived: {}", got.len());
}

#[test]
fn bytes_sent_counts_what_the_client_received() {
    // nginx's $bytes_sent is the head as written plus the body.
    let conf = common::wrap(
        "",
        "log_format sent 'sent=$bytes_sent body=$body_bytes_sent';",
        r#"location / { access_log logs/sent.log sent; return 200 "hello\n"; }"#,
    );
    let gw = Gateway::start_full(&conf, &[]).unwrap();
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let want = format!("sent={} body=6", got.len());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(gw.path("logs/sent.log")).unwrap_or_default();
        if log.contains(&want) {
            break;
        }
        assert!(Instant::now() < deadline, "want {want:?} in {log:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
