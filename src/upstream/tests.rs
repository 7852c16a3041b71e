use super::*;
use std::time::Duration;

fn peer(port: u16, weight: u32) -> PeerConf {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    PeerConf {
        addr,
        server: addr.to_string(),
        name: addr.to_string(),
        weight,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        max_conns: 0,
        down: false,
    }
}

fn seq(up: &Upstream, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let mut sel = Selection::new(up, b"");
            let p = up.pick(&mut sel).unwrap();
            up.release(&p, Outcome::Ok, None);
            p.addr.port()
        })
        .collect()
}

#[test]
fn round_robin_sequences_match_nginx() {
    let up = Upstream::new(
        "u",
        false,
        Algo::RoundRobin,
        vec![peer(1, 1), peer(2, 1)],
        vec![],
        None,
    );
    assert_eq!(seq(&up, 4), [1, 2, 1, 2]);
    let up = Upstream::new(
        "u",
        false,
        Algo::RoundRobin,
        vec![peer(1, 3), peer(2, 1)],
        vec![],
        None,
    );
    assert_eq!(seq(&up, 8), [1, 1, 2, 1, 1, 1, 2, 1]);
    let up = Upstream::new(
        "u",
        false,
        Algo::RoundRobin,
        vec![peer(1, 5), peer(2, 1), peer(3, 1)],
        vec![],
        None,
    );
    assert_eq!(seq(&up, 7), [1, 1, 2, 1, 3, 1, 1]);
}

#[test]
fn failed_peer_leaves_rotation_and_backup_takes_over() {
    let up = Upstream::new(
        "u",
        false,
        Algo::RoundRobin,
        vec![peer(1, 1), peer(2, 1)],
        vec![peer(9, 1)],
        None,
    );
    assert_eq!(up.tries(), 3);
    let mut sel = Selection::new(&up, b"");
    let a = up.pick(&mut sel).unwrap();
    assert!(
        up.release(&a, Outcome::Failed, None),
        "max_fails=1 disables at once"
    );
    let b = up.pick(&mut sel).unwrap();
    assert_ne!(a.addr, b.addr);
    up.release(&b, Outcome::Failed, None);
    let c = up.pick(&mut sel).unwrap();
    assert_eq!(c.addr.port(), 9, "backup after the primaries failed");
    up.release(&c, Outcome::Ok, None);
    assert!(up.pick(&mut sel).is_none(), "every peer tried");
    // A new request: the primaries are still within fail_timeout, the backup serves.
    assert_eq!(seq(&up, 1), [9]);
}

#[test]
fn single_peer_is_never_marked_failed() {
    let up = Upstream::new("u", true, Algo::RoundRobin, vec![peer(1, 1)], vec![], None);
    let mut sel = Selection::new(&up, b"");
    let a = up.pick(&mut sel).unwrap();
    assert!(!up.release(&a, Outcome::Failed, None));
    assert_eq!(seq(&up, 2), [1, 1]);
}

#[test]
fn least_conn_prefers_idle_peer() {
    let up = Upstream::new(
        "u",
        false,
        Algo::LeastConn,
        vec![peer(1, 1), peer(2, 1)],
        vec![],
        None,
    );
    let mut s1 = Selection::new(&up, b"");
    let busy = up.pick(&mut s1).unwrap();
    for _ in 0..3 {
        let mut s = Selection::new(&up, b"");
        let p = up.pick(&mut s).unwrap();
        assert_ne!(p.addr, busy.addr);
        up.release(&p, Outcome::Ok, None);
    }
}

#[test]
fn hash_is_stable_and_spreads() {
    for algo in [Algo::Hash, Algo::ConsistentHash, Algo::IpHash] {
        let up = Upstream::new(
            "u",
            false,
            algo,
            vec![peer(1, 1), peer(2, 1), peer(3, 1)],
            vec![],
            None,
        );
        let mut seen = std::collections::HashSet::new();
        for k in 0..60u32 {
            let key = if algo == Algo::IpHash {
                vec![10, (k % 250) as u8, (k / 3) as u8, 1]
            } else {
                format!("key{k}").into_bytes()
            };
            let mut s = Selection::new(&up, &key);
            let a = up.pick(&mut s).unwrap();
            up.release(&a, Outcome::Ok, None);
            let mut s = Selection::new(&up, &key);
            let b = up.pick(&mut s).unwrap();
            up.release(&b, Outcome::Ok, None);
            assert_eq!(a.addr, b.addr, "{algo:?} key {k}");
            seen.insert(a.addr);
        }
        assert_eq!(seen.len(), 3, "{algo:?} uses every peer");
    }
}

#[test]
fn consistent_hash_moves_few_keys_when_a_peer_is_added() {
    let three = Upstream::new(
        "u",
        false,
        Algo::ConsistentHash,
        vec![peer(1, 1), peer(2, 1), peer(3, 1)],
        vec![],
        None,
    );
    let four = Upstream::new(
        "u",
        false,
        Algo::ConsistentHash,
        vec![peer(1, 1), peer(2, 1), peer(3, 1), peer(4, 1)],
        vec![],
        None,
    );
    let mut moved = 0;
    for k in 0..1000 {
        let key = format!("k{k}");
        let a = three
            .pick(&mut Selection::new(&three, key.as_bytes()))
            .unwrap();
        let b = four
            .pick(&mut Selection::new(&four, key.as_bytes()))
            .unwrap();
        if a.addr != b.addr {
            assert_eq!(b.addr.port(), 4, "keys only move to the new peer");
            moved += 1;
        }
    }
    assert!(
        (150..400).contains(&moved),
        "about a quarter moves, got {moved}"
    );
}

#[test]
fn set_peer_down_takes_it_out() {
    let up = Upstream::new(
        "u",
        false,
        Algo::RoundRobin,
        vec![peer(1, 1), peer(2, 1)],
        vec![],
        None,
    );
    assert!(up.set_peer_down("127.0.0.1:1", true));
    assert_eq!(seq(&up, 3), [2, 2, 2]);
    assert!(up.set_peer_down("127.0.0.1:1", false));
    assert!(!up.set_peer_down("127.0.0.1:7", true));
}
