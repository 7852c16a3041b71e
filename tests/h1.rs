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

/// The header names of a raw response head, in order, without `Date`'s value.
fn head_names(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .map(|l| match l.split_once(": ") {
            Some(("Date", _)) => "Date".to_string(),
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn response_headers_go_out_in_nginxs_order() {
    // nginx 1.22 (lua-nginx-module 0.10.23) sends the same config's heads in this order:
    // its own headers first (Server, Date, Content-Type, the framing, Connection), then the
    // others as they were set, a replaced one in its first place, a removed one gone.
    // (Its framing differs: it sends a Lua handler's output chunked. A Content-Length or
    // Last-Modified a handler sets itself it keeps in the handler's order; OpenClaw puts
    // them with its own.)
    let gw = Gateway::start(
        r#"location /t {
            content_by_lua_block {
                ngx.header["X-A"] = "1"
                ngx.header["X-B"] = "2"
                ngx.header["X-C"] = "c"
                ngx.header["X-A"] = "3"
                ngx.header["Set-Cookie"] = { "a=1", "b=2" }
                ngx.header["X-B"] = nil
                ngx.say("ok")
            }
        }"#,
    );
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    write!(s, "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let server = head_names(&got)[0].clone();
    assert!(server.starts_with("Server: openclaw"), "{server}");
    assert_eq!(
        head_names(&got)[1..],
        [
            "Date",
            "Content-Type: text/plain",
            "Content-Length: 3",
            "Connection: close",
            "X-A: 3",
            "X-C: c",
            "Set-Cookie: a=1",
            "Set-Cookie: b=2",
        ]
    );
}

/// The gateway's resident memory, in KB.
fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reads from `s` until what came satisfies `done` (the peer closing first fails).
fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// One request on `s`, read to the end of its body ("ok\n").
fn one_request(s: &mut TcpStream) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_until(s, |got| got.ends_with(b"ok\n"));
}

#[test]
fn an_idle_kept_alive_connection_holds_a_few_kb() {
    // Between requests a connection keeps no read buffer and no request state (nginx
    // frees its header buffer too): it was 43 KB a connection before, 16 KB of it the
    // read buffer and most of the rest a request's state held in the connection's task.
    let conf = "worker_processes 1;\nerror_log logs/error.log notice;\npid logs/nginx.pid;\n\
        events { worker_connections 2048; }\nhttp {\n    access_log off;\n    server {\n\
        listen 127.0.0.1:0;\n        location / { return 200 \"ok\\n\"; }\n    }\n}\n";
    let gw = Gateway::start_full(conf, &[]).unwrap();
    // Warm up: the allocator's and runtime's first pages are not the connections'.
    for _ in 0..100 {
        let mut s = TcpStream::connect(gw.addr()).unwrap();
        one_request(&mut s);
    }
    let before = rss_kb(gw.pid);
    const N: u64 = 400;
    let mut idle = Vec::new();
    for _ in 0..N {
        let mut s = TcpStream::connect(gw.addr()).unwrap();
        one_request(&mut s);
        idle.push(s);
    }
    // Each connection is still served (kept alive, not closed).
    one_request(&mut idle[0]);
    let per_conn = (rss_kb(gw.pid).saturating_sub(before)) * 1024 / N;
    assert!(
        per_conn < 12 * 1024,
        "{per_conn} bytes resident per idle connection"
    );
}

/// Reads `count` "ok\n" responses from `s`.
fn read_oks(s: &mut TcpStream, count: usize) {
    let got = read_until(s, |got| {
        got.windows(3).filter(|w| w == b"ok\n").count() >= count
    });
    let heads = String::from_utf8_lossy(&got)
        .matches("HTTP/1.1 200 OK")
        .count();
    assert_eq!(heads, count, "{}", String::from_utf8_lossy(&got));
}

#[test]
fn a_kept_alive_connection_reads_split_pipelined_and_long_heads_after_idling() {
    // Each request here starts on a connection that let go of its read buffer.
    let gw = Gateway::start(r#"location / { return 200 "ok\n"; }"#);
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    one_request(&mut s);
    // A head in two pieces (the pause only makes it likely that the server reads the first
    // alone; the request must be answered either way).
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"st: x\r\n\r\n").unwrap();
    read_oks(&mut s, 1);
    // Three pipelined requests in one write.
    s.write_all(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3))
        .unwrap();
    read_oks(&mut s, 3);
    // A head of 6 KB (more than the 1 KB a head's buffer starts with), then one of 18 KB
    // (more than a read takes at once; no line over large_client_header_buffers' 8 KB).
    for lines in [1, 3] {
        let long = format!("X-Long: {}\r\n", "a".repeat(6 * 1024)).repeat(lines);
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{long}\r\n");
        s.write_all(head.as_bytes()).unwrap();
        read_oks(&mut s, 1);
    }
}

#[test]
fn worker_connections_reuses_idle_connections_then_refuses() {
    // As nginx: 5 connections with the listening socket; a new one closes the longest-idle
    // kept-alive connection, and when none is idle it is itself closed.
    let conf = "worker_processes 1;\nerror_log logs/error.log info;\npid logs/nginx.pid;\n\
        events { worker_connections 5; }\nhttp {\n    access_log off;\n    server {\n\
        listen 127.0.0.1:0;\n        location / { return 200 \"ok\\n\"; }\n\
        location /hold { content_by_lua_block { ngx.send_headers() ngx.flush(true) \
        ngx.sleep(1) ngx.say(\"ok\") } }\n    }\n}\n";
    let gw = Gateway::start_full(conf, &[]).unwrap();
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(gw.addr()).unwrap();
            one_request(&mut s);
            s
        })
        .collect();
    let mut fifth = TcpStream::connect(gw.addr()).unwrap();
    one_request(&mut fifth);
    assert!(
        common::client::closed_by_peer(&mut idle[0]),
        "the longest-idle connection is closed"
    );
    assert!(gw.wait_log(
        "5 worker_connections are not enough, reusing connections",
        Duration::from_secs(5)
    ));
    // Four connections with a request under way (their response head read): none idle.
    let mut busy: Vec<TcpStream> = idle.drain(1..).chain([fifth]).collect();
    for s in &mut busy {
        s.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        read_until(s, |got| got.windows(4).any(|w| w == b"\r\n\r\n"));
    }
    let mut refused = TcpStream::connect(gw.addr()).unwrap();
    let _ = refused.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        common::client::closed_by_peer(&mut refused),
        "a connection beyond the limit is closed"
    );
    assert!(gw.wait_log("[alert]", Duration::from_secs(5)));
    assert!(gw
        .error_log()
        .contains("5 worker_connections are not enough\n"));
    // The busy ones finish their requests (the body's chunk ends "ok\n").
    read_until(&mut busy[0], |got| got.windows(3).any(|w| w == b"ok\n"));
}

#[test]
fn static_files_changed_on_disk_are_never_served_stale() {
    use common::client::Conn;
    let files: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|n| (format!("html/{n}.txt"), format!("{n}{n}{n}{n}{n}\n")))
        .collect();
    let conf = common::wrap("", "", "location / { }");
    let gw = Gateway::start_full(&conf, &files).unwrap();
    // Files changed within the last second are not kept: wait until these are older.
    let changed = std::fs::metadata(gw.path("html/c.txt"))
        .unwrap()
        .modified()
        .unwrap();
    while changed.elapsed().unwrap_or_default() < Duration::from_millis(1100) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // One connection: one worker, whose copies these requests use.
    let mut c = Conn::open(gw.addr()).unwrap();
    for _ in 0..2 {
        for n in ["a", "b", "c"] {
            let r = c.get(&format!("/{n}.txt")).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), format!("{n}{n}{n}{n}{n}\n"));
        }
    }
    // Rewritten in place, same size.
    std::fs::write(gw.path("html/a.txt"), "AAAAA\n").unwrap();
    assert_eq!(c.get("/a.txt").unwrap().text(), "AAAAA\n");
    // A kept copy answers ranges, HEAD and conditional requests as the file does.
    let range = "GET /b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n";
    let r = c.send(range, false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (206, "bbb"));
    assert_eq!(r.header("Content-Range"), Some("bytes 1-3/6"));
    let r = c
        .send("HEAD /b.txt HTTP/1.1\r\nHost: x\r\n\r\n", true)
        .unwrap();
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("6")));
    assert!(r.body.is_empty());
    let etag = r.header("ETag").unwrap().to_string();
    let cond = format!("GET /b.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
    assert_eq!(c.send(&cond, false).unwrap().status, 304);
    // Replaced by a rename, then removed.
    std::fs::write(gw.path("html/b.new"), "replaced\n").unwrap();
    std::fs::rename(gw.path("html/b.new"), gw.path("html/b.txt")).unwrap();
    assert_eq!(c.get("/b.txt").unwrap().text(), "replaced\n");
    std::fs::remove_file(gw.path("html/c.txt")).unwrap();
    assert_eq!(c.get("/c.txt").unwrap().status, 404);
    assert!(gw
        .error_log()
        .contains("c.txt\" failed (2: No such file or directory)"));
}
