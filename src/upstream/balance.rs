//! The pick algorithms, kept step for step with nginx's so the same config gives the same
//! sequence of peers (ngx_http_upstream_round_robin.c, _least_conn, _ip_hash, _hash,
//! _random).

use super::peers::{PeerSet, PeerState, Tier};
use super::{Algo, PeerConf, Picked, Upstream};
use std::time::Instant;

/// One request's walk over the peers: what it tried and the hash state across retries.
#[derive(Debug, Clone)]
pub struct Selection {
    tier: usize,
    /// The peer set's epoch `tried` was laid out for (`u64::MAX`: not yet).
    epoch: u64,
    tried: Vec<Vec<bool>>,
    /// Ids of the peers tried: `tried` is rebuilt from them when the set changed.
    picked: Vec<u64>,
    /// The hash key (`hash`), or the client address bytes (`ip_hash`).
    key: Vec<u8>,
    hash: u32,
    rehash: u32,
    hash_tries: u32,
    /// `hash ... consistent`: the point index, found on the first pick.
    point: Option<usize>,
}

impl Selection {
    /// `key` is the evaluated `hash` key or, for `ip_hash`, the client address.
    pub fn new(up: &Upstream, key: &[u8]) -> Selection {
        let key = match up.algo {
            // nginx hashes the first three octets of an IPv4 address, all 16 of IPv6.
            Algo::IpHash if key.len() == 4 => key[..3].to_vec(),
            _ => key.to_vec(),
        };
        Selection {
            tier: 0,
            epoch: u64::MAX,
            tried: vec![],
            picked: vec![],
            key,
            hash: if up.algo == Algo::IpHash { 89 } else { 0 },
            rehash: 0,
            hash_tries: 0,
            point: None,
        }
    }

    /// Lays `tried` out for the set's current peers (once, and again after a change).
    fn sync(&mut self, set: &PeerSet) {
        if self.epoch == set.epoch {
            return;
        }
        self.tried = set
            .state
            .iter()
            .map(|st| st.iter().map(|s| self.picked.contains(&s.id)).collect())
            .collect();
        // Ring positions of the old set mean nothing in the new one.
        self.point = None;
        self.tier = self.tier.min(set.tiers.len() - 1);
        self.epoch = set.epoch;
    }
}

type State = Vec<Vec<PeerState>>;

/// What the pick algorithms read besides the state: the method and the tiers.
struct View<'a> {
    algo: Algo,
    tiers: &'a [Tier],
}

pub(super) fn pick(set: &mut PeerSet, sel: &mut Selection, now: Instant) -> Option<Picked> {
    sel.sync(set);
    let single = set.single();
    let PeerSet {
        algo, tiers, state, ..
    } = set;
    let (up, st) = (&View { algo: *algo, tiers }, state);
    loop {
        let t = sel.tier;
        let found = if up.tiers[t].peers.is_empty() {
            // A resolve line's tier can be empty until (or after) DNS answers.
            None
        } else if t == 0 && single {
            let (p, s) = (&up.tiers[0].peers[0], &st[0][0]);
            // nginx never takes a single peer out for failures.
            let busy = p.max_conns > 0 && s.conns >= p.max_conns;
            (!(p.down || s.down || s.unhealthy || busy)).then_some(0)
        } else {
            match up.algo {
                Algo::RoundRobin => smooth(up, st, sel, now, |_, _| true),
                Algo::LeastConn => least_conn(up, st, sel, now),
                Algo::IpHash => hashed(up, st, sel, now, ip_hash_step),
                Algo::Hash => hashed(up, st, sel, now, key_hash_step),
                Algo::ConsistentHash => chash(up, st, sel, now),
                Algo::Random | Algo::RandomTwo | Algo::RandomTwoLeastConn | Algo::Ewma => {
                    random(up, st, sel, now)
                }
            }
        };
        if let Some(i) = found {
            let p = &up.tiers[t].peers[i];
            let s = &mut st[t][i];
            s.conns += 1;
            sel.tried[t][i] = true;
            sel.picked.push(s.id);
            return Some(Picked {
                tier: t,
                index: i,
                id: s.id,
                addr: p.addr,
                name: p.name.clone(),
            });
        }
        if t + 1 < up.tiers.len() {
            sel.tier += 1;
            continue;
        }
        return None;
    }
}

/// nginx's smooth weighted round robin over the untried, available peers of the current
/// tier that `filter` admits.
fn smooth(
    up: &View<'_>,
    st: &mut State,
    sel: &Selection,
    now: Instant,
    filter: impl Fn(&PeerConf, usize) -> bool,
) -> Option<usize> {
    let t = sel.tier;
    let peers = &up.tiers[t].peers;
    let states = &mut st[t];
    let mut best: Option<usize> = None;
    let mut total = 0i64;
    for (i, p) in peers.iter().enumerate() {
        if sel.tried[t][i] || !states[i].available(p, now) || !filter(p, i) {
            continue;
        }
        states[i].current_weight += states[i].effective_weight;
        total += states[i].effective_weight;
        if states[i].effective_weight < p.weight as i64 {
            states[i].effective_weight += 1;
        }
        if best.is_none_or(|b| states[i].current_weight > states[b].current_weight) {
            best = Some(i);
        }
    }
    let b = best?;
    states[b].current_weight -= total;
    if now.duration_since(states[b].checked) > peers[b].fail_timeout {
        states[b].checked = now;
    }
    Some(b)
}

/// `least_conn`: the fewest connections per weight; ties share by weighted round robin
/// among the tied peers from the first of them on, as nginx does.
fn least_conn(up: &View<'_>, st: &mut State, sel: &Selection, now: Instant) -> Option<usize> {
    let t = sel.tier;
    let peers = &up.tiers[t].peers;
    let states = &st[t];
    let mut best: Option<usize> = None;
    let mut many = false;
    for (i, p) in peers.iter().enumerate() {
        if sel.tried[t][i] || !states[i].available(p, now) {
            continue;
        }
        match best {
            None => best = Some(i),
            Some(b) => {
                let lhs = states[i].conns as u64 * peers[b].weight as u64;
                let rhs = states[b].conns as u64 * p.weight as u64;
                if lhs < rhs {
                    best = Some(i);
                    many = false;
                } else if lhs == rhs {
                    many = true;
                }
            }
        }
    }
    let b = best?;
    if !many {
        if now.duration_since(st[t][b].checked) > peers[b].fail_timeout {
            st[t][b].checked = now;
        }
        return Some(b);
    }
    let (bc, bw) = (states[b].conns as u64, peers[b].weight as u64);
    let tied: Vec<bool> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| i >= b && states[i].conns as u64 * bw == bc * p.weight as u64)
        .collect();
    smooth(up, st, sel, now, |_, i| tied[i])
}

/// ip_hash's step: nginx's 113/6271 hash over the address bytes.
fn ip_hash_step(sel: &mut Selection) -> u32 {
    let mut h = sel.hash;
    for &b in &sel.key {
        h = (h * 113 + b as u32) % 6271;
    }
    sel.hash = h;
    h
}

/// hash's step: Cache::Memcached compatible, `((crc32([REHASH] KEY) >> 16) & 0x7fff)`
/// added to the previous hash, REHASH omitted the first time.
fn key_hash_step(sel: &mut Selection) -> u32 {
    let mut c = crc32fast::Hasher::new();
    if sel.rehash > 0 {
        c.update(sel.rehash.to_string().as_bytes());
    }
    c.update(&sel.key);
    let h = (c.finalize() >> 16) & 0x7fff;
    sel.hash = sel.hash.wrapping_add(h);
    sel.rehash += 1;
    sel.hash
}

/// `ip_hash` and `hash KEY`: walk the weights with the hash, rehash on an unusable peer,
/// fall back to round robin after 20 tries (or with an empty key).
fn hashed(
    up: &View<'_>,
    st: &mut State,
    sel: &mut Selection,
    now: Instant,
    step: fn(&mut Selection) -> u32,
) -> Option<usize> {
    let t = sel.tier;
    if sel.hash_tries > 20 || sel.key.is_empty() || t > 0 {
        return smooth(up, st, sel, now, |_, _| true);
    }
    let tier = &up.tiers[t];
    loop {
        let h = step(sel);
        let mut w = h % tier.total_weight.max(1);
        let mut i = 0;
        while i + 1 < tier.peers.len() && w >= tier.peers[i].weight {
            w -= tier.peers[i].weight;
            i += 1;
        }
        if !sel.tried[t][i] && st[t][i].available(&tier.peers[i], now) {
            if now.duration_since(st[t][i].checked) > tier.peers[i].fail_timeout {
                st[t][i].checked = now;
            }
            return Some(i);
        }
        sel.hash_tries += 1;
        if sel.hash_tries > 20 {
            return smooth(up, st, sel, now, |_, _| true);
        }
    }
}

/// `hash KEY consistent`: ketama points; among the peers written as the point's server,
/// weighted round robin.
fn chash(up: &View<'_>, st: &mut State, sel: &mut Selection, now: Instant) -> Option<usize> {
    let t = sel.tier;
    let tier = &up.tiers[t];
    if sel.hash_tries > 20 || tier.points.is_empty() || t > 0 {
        return smooth(up, st, sel, now, |_, _| true);
    }
    let start = *sel.point.get_or_insert_with(|| {
        let h = crc32fast::hash(&sel.key);
        tier.points.partition_point(|(ph, _)| *ph < h)
    });
    let mut idx = start;
    loop {
        let server = &tier.peers[tier.points[idx % tier.points.len()].1].server;
        if let Some(i) = smooth(up, st, sel, now, |p, _| p.server == *server) {
            sel.point = Some(idx);
            return Some(i);
        }
        idx += 1;
        sel.hash_tries += 1;
        if sel.hash_tries > 20 {
            return smooth(up, st, sel, now, |_, _| true);
        }
    }
}

/// Builds the ketama points: `weight * 160` per server, each the crc32 of
/// `host \0 port` followed by the previous point's hash (little endian).
pub(super) fn chash_points(peers: &[PeerConf]) -> Vec<(u32, usize)> {
    let mut points = vec![];
    let mut seen: Vec<&str> = vec![];
    for (i, p) in peers.iter().enumerate() {
        let s = p.server.as_str();
        let (host, port) = split_server(s);
        let mut base = crc32fast::Hasher::new();
        base.update(host.as_bytes());
        base.update(&[0]);
        base.update(port.as_bytes());
        let mut prev: u32 = 0;
        // A name that resolved to several peers is one server: its points once, on the
        // first peer (the pick then balances among all peers with that name).
        let first = seen.iter().position(|x| *x == s);
        let owner = match first {
            Some(_) => continue,
            None => {
                seen.push(s);
                i
            }
        };
        for _ in 0..p.weight * 160 {
            let mut h = base.clone();
            h.update(&prev.to_le_bytes());
            let v = h.finalize();
            points.push((v, owner));
            prev = v;
        }
    }
    points.sort_by_key(|(h, _)| *h);
    points.dedup_by_key(|(h, _)| *h);
    points
}

fn split_server(s: &str) -> (&str, &str) {
    if let Some(rest) = s.strip_prefix("unix:") {
        return (rest, "");
    }
    if let Some(pos) = s.rfind(':') {
        let port = &s[pos + 1..];
        if port.bytes().all(|b| b.is_ascii_digit()) {
            return (&s[..pos], port);
        }
    }
    (s, "")
}

/// `random`: weighted random; `two`: the better of two by connections (or, for `ewma`,
/// by peak-EWMA latency times load).
fn random(up: &View<'_>, st: &mut State, sel: &Selection, now: Instant) -> Option<usize> {
    let t = sel.tier;
    let tier = &up.tiers[t];
    let total = tier.total_weight.max(1);
    let one = |st: &State| -> Option<usize> {
        for _ in 0..20 {
            let x = rand::random::<u32>() % total;
            let i = tier.ranges.partition_point(|r| *r <= x);
            if i < tier.peers.len() && !sel.tried[t][i] && st[t][i].available(&tier.peers[i], now) {
                return Some(i);
            }
        }
        None
    };
    let a = match one(st) {
        Some(a) => a,
        None => return smooth(up, st, sel, now, |_, _| true),
    };
    if up.algo == Algo::Random || tier.peers.len() < 2 {
        return Some(a);
    }
    let b = match (0..20).find_map(|_| one(st).filter(|b| *b != a)) {
        Some(b) => b,
        None => return Some(a),
    };
    let (sa, sb) = (&st[t][a], &st[t][b]);
    let (wa, wb) = (tier.peers[a].weight as f64, tier.peers[b].weight as f64);
    let better_b = if up.algo == Algo::Ewma {
        (sb.ewma + 1.0) * (sb.conns as f64 + 1.0) / wb
            < (sa.ewma + 1.0) * (sa.conns as f64 + 1.0) / wa
    } else {
        (sb.conns as f64) * wa < (sa.conns as f64) * wb
    };
    Some(if better_b { b } else { a })
}
