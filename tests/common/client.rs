//! A small HTTP/1.x client over a real TCP socket, enough to check exact bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes, reads until the server closes, and parses one response (None when the
/// connection closed without any response).
pub fn raw(addr: SocketAddr, bytes: &[u8], head: bool) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    parse(&buf, head).map(|(r, _)| r)
}

/// A simple request with `Connection: close`.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", path, headers, b"")
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes, method == "HEAD").expect("no response")
}

/// Parses one response from `buf`; returns it and the bytes consumed.
pub fn parse(buf: &[u8], head: bool) -> Option<(Resp, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut resp = Resp {
        status,
        headers,
        body: vec![],
    };
    let rest = &buf[end + 4..];
    if head || status == 304 || status == 204 || (100..200).contains(&status) {
        return Some((resp, end + 4));
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut i = 0;
        loop {
            let le = rest[i..].windows(2).position(|w| w == b"\r\n")?;
            let size_s = String::from_utf8_lossy(&rest[i..i + le]).into_owned();
            let size = usize::from_str_radix(size_s.split(';').next()?.trim(), 16).ok()?;
            i += le + 2;
            if size == 0 {
                i += 2;
                break;
            }
            resp.body.extend_from_slice(rest.get(i..i + size)?);
            i += size + 2;
        }
        return Some((resp, end + 4 + i));
    }
    if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        resp.body = rest.get(..len)?.to_vec();
        return Some((resp, end + 4 + len));
    }
    resp.body = rest.to_vec();
    Some((resp, buf.len()))
}

/// A keep-alive connection for several requests in a row.
pub struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn { s, buf: vec![] })
    }

    /// Sends a GET and reads one response; Err on a connection error.
    pub fn get(&mut self, path: &str) -> std::io::Result<Resp> {
        self.send(
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            false,
        )
    }

    /// Sends a raw request and reads one response (`head`: it has no body, as for HEAD).
    pub fn send(&mut self, req: &str, head: bool) -> std::io::Result<Resp> {
        self.s.write_all(req.as_bytes())?;
        loop {
            if let Some((r, used)) = parse(&self.buf, head) {
                self.buf.drain(..used);
                return Ok(r);
            }
            let mut chunk = [0u8; 8192];
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Reads from `s` until the peer closes it: true if it did (EOF or reset) within 10 s.
pub fn closed_by_peer(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
