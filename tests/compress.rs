//! Compression through the real binary, decoded by independent tools (`gzip`, `brotli`,
//! `zstd` command-line decoders), plus streaming: a compressed event stream still arrives
//! event by event.

mod common;

use common::upstream::Backend;
use common::{client, Gateway};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A text long enough to compress, different on every line.
fn text() -> String {
    (0..200)
        .map(|i| format!("line {i}: the quick brown fox\n"))
        .collect()
}

fn gateway(extra: &str) -> Gateway {
    let server = format!(
        "{extra}\nlocation / {{ }}\nlocation = /short {{ return 200 \"tiny\"; }}\nlocation = /pre {{ add_header Content-Encoding gzip; return 200 \"{}\"; }}",
        "x".repeat(100)
    );
    let files = vec![
        ("html/t.txt".to_string(), text()),
        ("html/p.jpg".to_string(), text()),
    ];
    Gateway::start_full(&common::wrap("", "", &server), &files).unwrap()
}

/// Decodes with the system tool for `encoding`.
fn decode(encoding: &str, data: &[u8]) -> Vec<u8> {
    let tool = match encoding {
        "gzip" => vec!["gzip", "-dc"],
        "br" => vec!["brotli", "-dc"],
        "zstd" => vec!["zstd", "-dcq"],
        e => panic!("no decoder for {e}"),
    };
    let mut child = Command::new(tool[0])
        .args(&tool[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (install it: apt-get install {}): {e}", tool[0], tool[0]));
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{} failed", tool[0]);
    out.stdout
}

const ALL: &str = "gzip on; gzip_types text/plain; gzip_vary on; brotli on; brotli_types text/plain; zstd on; zstd_types text/plain;";

#[test]
fn each_coding_is_chosen_by_accept_encoding_and_decodes() {
    let gw = gateway(ALL);
    for (accept, want) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, br", "br"),
        ("zstd;q=0.5, gzip", "gzip"),
    ] {
        let r = client::get(gw.addr(), "/t.txt", &[("Accept-Encoding", accept)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(want), "{accept}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        // The length, when sent, is the encoded one.
        if let Some(l) = r.header("content-length") {
            assert_eq!(l, r.body.len().to_string());
        }
        assert!(
            r.header("etag").is_some_and(|e| e.starts_with("W/\"")),
            "{accept}"
        );
        assert_eq!(
            String::from_utf8(decode(want, &r.body)).unwrap(),
            text(),
            "{accept}"
        );
    }
}

#[test]
fn refusals_and_ineligible_responses_stay_identity() {
    let gw = gateway(ALL);
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "/t.txt",
            &[("Accept-Encoding", "gzip;q=0, br;q=0, zstd;q=0")],
        ),
        ("/t.txt", &[("Accept-Encoding", "identity")]),
        ("/t.txt", &[]),
        // Below the 20-byte minimum.
        ("/short", &[("Accept-Encoding", "gzip")]),
        // Not a listed type.
        ("/p.jpg", &[("Accept-Encoding", "gzip")]),
        // Already encoded: never compressed twice.
        ("/pre", &[("Accept-Encoding", "br")]),
        // Through a proxy (Via) with gzip_proxied off.
        (
            "/t.txt",
            &[("Accept-Encoding", "gzip"), ("Via", "1.1 cache")],
        ),
    ];
    for (path, headers) in cases {
        let r = client::get(gw.addr(), path, headers);
        assert_eq!(r.status, 200);
        let ce = r.header("content-encoding");
        if *path == "/pre" {
            assert_eq!(ce, Some("gzip"));
            assert_eq!(r.body.len(), 100);
        } else {
            assert!(ce.is_none(), "{path} {headers:?}: {ce:?}");
        }
    }
    // gzip_vary adds Vary to eligible responses even when the client takes identity.
    let r = client::get(gw.addr(), "/t.txt", &[]);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
}

#[test]
fn gzip_disable_and_levels() {
    let gw = gateway("gzip on; gzip_types text/plain; gzip_comp_level 9; gzip_disable msie6;");
    let old = client::get(
        gw.addr(),
        "/t.txt",
        &[
            ("Accept-Encoding", "gzip"),
            (
                "User-Agent",
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
            ),
        ],
    );
    assert!(old.header("content-encoding").is_none());
    let r = client::get(gw.addr(), "/t.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < text().len() / 3);
    assert_eq!(String::from_utf8(decode("gzip", &r.body)).unwrap(), text());
}

#[test]
fn a_compressed_event_stream_arrives_event_by_event() {
    let be = Backend::start("up1");
    let gw = Gateway::start_full(
        &common::wrap(
            "",
            "",
            &format!(
                "gzip on; gzip_types text/event-stream; gzip_min_length 1; location / {{ proxy_pass http://{}; }}",
                be.addr
            ),
        ),
        &[],
    )
    .unwrap();
    let mut s = TcpStream::connect(gw.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /stream?n=3&ms=700 HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Read until the head and the first chunk are in, then decode what came so far.
    let mut buf = vec![];
    let mut chunk = [0u8; 4096];
    let mut decoded = String::new();
    while !decoded.contains("chunk 0") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "stream ended before the first event decoded");
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        let body = dechunk(&buf[head_end + 4..]);
        let mut d = flate2::write::GzDecoder::new(Vec::new());
        let _ = d.write_all(&body);
        let _ = d.flush();
        decoded = String::from_utf8_lossy(d.get_ref()).into_owned();
    }
    assert!(
        !decoded.contains("chunk 1"),
        "the first event came alone: {decoded:?}"
    );
    let _ = s.read_to_end(&mut buf);
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let all = decode("gzip", &dechunk(&buf[head_end + 4..]));
    assert_eq!(
        String::from_utf8(all).unwrap(),
        "chunk 0\nchunk 1\nchunk 2\n"
    );
}

/// The data of complete chunks of a chunked body (a partial chunk is left out).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}
