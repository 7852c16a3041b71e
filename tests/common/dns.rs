//! A tiny authoritative DNS server for tests: answers A queries for the names it is
//! given (TTL 60), NXDOMAIN for others, empty answers for other types. UDP on 127.0.0.1:0.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Dns {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    pub fn start(names: &[(&str, Ipv4Addr)]) -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let map: HashMap<String, Ipv4Addr> =
            names.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (st, qs) = (stop.clone(), queries.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                qs.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = answer(&buf[..n], &map) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Dns {
            addr,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(q: &[u8], map: &HashMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    if q.len() < 17 {
        return None;
    }
    let mut i = 12;
    let mut labels = vec![];
    while q[i] != 0 {
        let len = q[i] as usize;
        labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_ascii_lowercase());
        i += 1 + len;
    }
    let qend = i + 5;
    let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
    let name = labels.join(".");
    let mut r = q[..qend].to_vec();
    r[2] = 0x84; // response, authoritative
    r[3] = 0x00;
    match map.get(&name) {
        None => {
            r[3] = 0x03; // NXDOMAIN
            r[6] = 0;
            r[7] = 0;
        }
        Some(ip) if qtype == 1 => {
            r[7] = 1;
            r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&ip.octets());
        }
        Some(_) => r[7] = 0,
    }
    r[6] = 0;
    Some(r)
}
