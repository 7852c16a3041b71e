//! Real upstream servers for proxy tests: plain threads and sockets on 127.0.0.1:0, each
//! with a name, HTTP/1.1 keep-alive, and behaviour chosen by the request path:
//!
//! ```text
//! /echo...        200, body: request line, headers (names lowercased, in order), "--",
//!                 body — what the gateway forwarded
//! /status/NNN     status NNN, body "NAME NNN"
//! /hang           reads the request, never answers
//! /close          reads the request, closes without answering
//! /partial        promises 100 bytes, sends 10, closes
//! /badheader      an invalid response header line
//! /slow?ms=M      answers after M ms
//! /stream?n=N&ms=M  chunked: N chunks "chunk I\n", M ms apart
//! /ws             101 Switching Protocols, then echoes bytes back
//! /redirect       302 to http://ADDR/target
//! /headers        hop-by-hop and nginx-hidden headers in the response
//! /conns          body: the number of the connection serving the request
//! /health         the status set with `Backend::set_health` (200 at first)
//! /count...       200, body "NAME count N" (N: /count requests so far), plus a response
//!                 header for each `h=Name:value` query parameter (`+` is a space)
//! anything else   200, body "NAME METHOD URI"
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<AtomicUsize>,
    /// Connections open now.
    live: Arc<AtomicUsize>,
    health: Arc<AtomicU16>,
    counted: Arc<AtomicUsize>,
    handles: Arc<Mutex<Vec<thread::JoinHandle<()>>>>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Backend {
    pub fn start(name: &str) -> Backend {
        Self::start_at(name, "127.0.0.1:0".parse().unwrap()).unwrap()
    }

    /// Starts on a given address (another loopback address, a port taken from another
    /// backend); fails when that address is taken.
    pub fn start_at(name: &str, at: SocketAddr) -> std::io::Result<Backend> {
        let l = TcpListener::bind(at)?;
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let lv = live.clone();
        let health = Arc::new(AtomicU16::new(200));
        let counted = Arc::new(AtomicUsize::new(0));
        let handles: Arc<Mutex<Vec<thread::JoinHandle<()>>>> = Arc::default();
        let (st, cn, hs, nm) = (
            stop.clone(),
            conns.clone(),
            handles.clone(),
            name.to_string(),
        );
        let hl = health.clone();
        let ct = counted.clone();
        let accept = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let n = cn.fetch_add(1, Ordering::SeqCst) + 1;
                        let (st2, nm2, hl2, ct2) = (st.clone(), nm.clone(), hl.clone(), ct.clone());
                        lv.fetch_add(1, Ordering::SeqCst);
                        let lv2 = lv.clone();
                        let h = thread::spawn(move || {
                            serve(s, &nm2, addr, n, &st2, &hl2, &ct2);
                            lv2.fetch_sub(1, Ordering::SeqCst);
                        });
                        hs.lock().unwrap().push(h);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(Backend {
            name: name.into(),
            addr,
            stop,
            conns,
            live,
            health,
            counted,
            handles,
            accept: Some(accept),
        })
    }

    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// Connections open now (a connection counts until the gateway closes it).
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// How many `/count` requests arrived.
    pub fn counted(&self) -> usize {
        self.counted.load(Ordering::SeqCst)
    }

    /// The status `/health` answers from now on.
    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        for h in self.handles.lock().unwrap().drain(..) {
            let _ = h.join();
        }
    }
}

/// A port nothing listens on: connecting is refused. The port stays bound (without
/// listening) while the value lives, so no other test can take it meanwhile.
pub struct DeadPort {
    pub addr: SocketAddr,
    _sock: socket2::Socket,
}

pub fn dead_port() -> DeadPort {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    DeadPort { addr, _sock: s }
}

/// A listener that never accepts, its queue filled: new connections hang in the
/// handshake, so a gateway's connect times out.
pub struct Blackhole {
    pub addr: SocketAddr,
    _listener: socket2::Socket,
    _fill: Vec<TcpStream>,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let mut fill = vec![];
        // Fill the accept queue; later handshakes get no answer.
        for _ in 0..4 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(c) => fill.push(c),
                Err(_) => break,
            }
        }
        Blackhole {
            addr,
            _listener: s,
            _fill: fill,
        }
    }
}

struct Req {
    line: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keepalive: bool,
}

fn read_req(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let line = line.trim_end().to_string();
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut body = vec![];
    if target.starts_with("/early") {
        // `/early` answers without reading the body (see `serve`).
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut sz = String::new();
            r.read_line(&mut sz).ok()?;
            let n = usize::from_str_radix(sz.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let conn = get("connection").unwrap_or_default();
    let keepalive = if version == "HTTP/1.1" {
        !conn.contains("close")
    } else {
        conn.contains("keep-alive")
    };
    Some(Req {
        line,
        method,
        target,
        headers,
        body,
        keepalive,
    })
}

fn query(target: &str, key: &str) -> Option<u64> {
    let q = target.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

fn wait_stop(stop: &AtomicBool, limit: Duration) {
    let t = Instant::now();
    while !stop.load(Ordering::SeqCst) && t.elapsed() < limit {
        thread::sleep(Duration::from_millis(10));
    }
}

fn serve(
    s: TcpStream,
    name: &str,
    addr: SocketAddr,
    conn_no: usize,
    stop: &AtomicBool,
    health: &AtomicU16,
    counted: &AtomicUsize,
) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let _ = conn_no;
    let mut drop_next = false;
    loop {
        // Wait for a request, checking for the stop flag between read timeouts.
        let req = loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match r.fill_buf() {
                Ok([]) => return,
                Ok(_) => break read_req(&mut r),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(_) => return,
            }
        };
        let Some(req) = req else { return };
        if drop_next {
            // `/dropnext` asked for this: the connection closes under the next request, as
            // a kept-alive connection does when its idle timeout races a request.
            return;
        }
        let path = req.target.split('?').next().unwrap_or("").to_string();
        let head_only = req.method == "HEAD";
        let send = |w: &mut TcpStream, status: u16, extra: &str, body: &[u8], ka: bool| {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Backend: {name}\r\n{extra}{}\r\n",
                body.len(),
                if ka { "" } else { "Connection: close\r\n" }
            );
            let _ = w.write_all(head.as_bytes());
            if !head_only {
                let _ = w.write_all(body);
            }
        };
        let ka = req.keepalive;
        if path.starts_with("/echo") {
            let mut out = format!("{}\n", req.line);
            for (k, v) in &req.headers {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push_str("--\n");
            let mut body = out.into_bytes();
            body.extend_from_slice(&req.body);
            send(&mut w, 200, "", &body, ka);
        } else if let Some(code) = path.strip_prefix("/status/") {
            let code: u16 = code.parse().unwrap_or(500);
            send(&mut w, code, "", format!("{name} {code}\n").as_bytes(), ka);
        } else if path == "/hang" {
            wait_stop(stop, Duration::from_secs(60));
            return;
        } else if path == "/close" {
            return;
        } else if path == "/partial" {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
            return;
        } else if path == "/untilclose" {
            // No length, no chunking: the body ends with the connection.
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\n");
            return;
        } else if path == "/badlength" {
            // A length nginx cannot read: ignored, the body runs to the close.
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello");
            return;
        } else if path == "/extra" {
            // Bytes past the body's declared length: dropped, with a warning.
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef");
            return;
        } else if path == "/continue" {
            let _ = w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            send(
                &mut w,
                200,
                "",
                format!("{name} after 100\n").as_bytes(),
                ka,
            );
        } else if path == "/badchunk" {
            let _ = w.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n",
            );
            return;
        } else if path == "/dropnext" {
            send(&mut w, 200, "", format!("{name} dropnext\n").as_bytes(), ka);
            drop_next = true;
        } else if path == "/early" {
            // An upload refused before it is read: the answer goes at once, then the
            // server neither reads nor closes for a while (a client that waits for its
            // whole request to be written before reading hears nothing).
            let body = format!("{name} too large\n");
            let _ = w.write_all(
                format!(
                    "HTTP/1.1 413 Too Large\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            wait_stop(stop, Duration::from_secs(20));
            return;
        } else if path == "/badheader" {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n");
            return;
        } else if path == "/slow" {
            wait_stop(
                stop,
                Duration::from_millis(query(&req.target, "ms").unwrap_or(1000)),
            );
            send(&mut w, 200, "", format!("{name} slow\n").as_bytes(), ka);
        } else if path == "/stream" {
            let n = query(&req.target, "n").unwrap_or(3);
            let ms = query(&req.target, "ms").unwrap_or(100);
            let _ = w.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nX-Backend: {name}\r\n\r\n").as_bytes(),
            );
            for i in 0..n {
                if i > 0 {
                    wait_stop(stop, Duration::from_millis(ms));
                }
                let c = format!("chunk {i}\n");
                let _ = w.write_all(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes());
                let _ = w.flush();
            }
            let _ = w.write_all(b"0\r\n\r\n");
        } else if path == "/ws" {
            let _ = w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            // Echo whatever arrives (including bytes already buffered).
            let pending = r.buffer().to_vec();
            let _ = w.write_all(&pending);
            r.consume(pending.len());
            let mut buf = [0u8; 4096];
            loop {
                match r.get_mut().read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        let _ = w.write_all(&buf[..n]);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        } else if path == "/redirect" {
            let extra = format!(
                "Location: http://{addr}/target\r\nRefresh: 5; url=http://{addr}/other\r\n"
            );
            send(&mut w, 302, &extra, b"moved\n", ka);
        } else if path == "/headers" {
            let extra = "Server: backend/1.0\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Pad: avoid\r\nX-Accel-Buffering: no\r\nKeep-Alive: timeout=5\r\nX-Custom: 1\r\n";
            send(&mut w, 200, extra, b"headers\n", ka);
        } else if path.starts_with("/count") {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let mut extra = String::new();
            if let Some(q) = req.target.split_once('?').map(|x| x.1) {
                for kv in q.split('&') {
                    if let Some((k, v)) = kv.strip_prefix("h=").and_then(|h| h.split_once(':')) {
                        extra.push_str(&format!("{k}: {}\r\n", v.replace('+', " ")));
                    }
                }
            }
            send(
                &mut w,
                200,
                &extra,
                format!("{name} count {n}\n").as_bytes(),
                ka,
            );
        } else if path == "/health" {
            let code = health.load(Ordering::SeqCst);
            send(
                &mut w,
                code,
                "",
                format!("{name} health {code}\n").as_bytes(),
                ka,
            );
        } else if path == "/conns" {
            let _ = req.method;
            send(&mut w, 200, "", format!("{conn_no}\n").as_bytes(), ka);
        } else {
            let body = format!("{name} {} {}\n", req.method, req.target);
            send(&mut w, 200, "", body.as_bytes(), ka);
        }
        if !ka {
            return;
        }
    }
}
