//! A tiny authoritative DNS server for tests: answers A queries for the names it is
//! given (TTL 60 unless changed), NXDOMAIN for others, empty answers for other types.
//! UDP on 127.0.0.1:0. Tests may change a name's answer (more addresses, or an error
//! code) and the TTL while it runs.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers for a name.
#[derive(Debug, Clone)]
pub enum Answer {
    /// One A record per address.
    Addrs(Vec<Ipv4Addr>),
    /// An error response with this RCODE (2: server failure, 3: no such name).
    Fail(u8),
}

type Names = Arc<Mutex<HashMap<String, Answer>>>;

pub struct Dns {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    names: Names,
    ttl: Arc<AtomicU32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    pub fn start(names: &[(&str, Ipv4Addr)]) -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let map: HashMap<String, Answer> = names
            .iter()
            .map(|(n, a)| (n.to_string(), Answer::Addrs(vec![*a])))
            .collect();
        let names: Names = Arc::new(Mutex::new(map));
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let ttl = Arc::new(AtomicU32::new(60));
        let (st, qs, nm, tl) = (stop.clone(), queries.clone(), names.clone(), ttl.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                qs.fetch_add(1, Ordering::SeqCst);
                let map = nm.lock().unwrap().clone();
                if let Some(reply) = answer(&buf[..n], &map, tl.load(Ordering::SeqCst)) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Dns {
            addr,
            stop,
            queries,
            names,
            ttl,
            thread: Some(thread),
        }
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Answers `name` with `answer` from now on.
    pub fn set(&self, name: &str, answer: Answer) {
        self.names.lock().unwrap().insert(name.to_string(), answer);
    }

    /// The TTL of answers from now on, in seconds.
    pub fn set_ttl(&self, secs: u32) {
        self.ttl.store(secs, Ordering::SeqCst);
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

fn answer(q: &[u8], map: &HashMap<String, Answer>, ttl: u32) -> Option<Vec<u8>> {
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
    r[6] = 0;
    r[7] = 0;
    match map.get(&name) {
        None => r[3] = 0x03, // NXDOMAIN
        Some(Answer::Fail(rcode)) => r[3] = *rcode,
        Some(Answer::Addrs(ips)) if qtype == 1 => {
            r[7] = ips.len() as u8;
            for ip in ips {
                r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
                r.extend_from_slice(&ttl.to_be_bytes());
                r.extend_from_slice(&[0, 4]);
                r.extend_from_slice(&ip.octets());
            }
        }
        Some(Answer::Addrs(_)) => {}
    }
    Some(r)
}
