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

/// The `k`th test key: a client address for `ip_hash`, a string for the others.
fn key_for(algo: Algo, k: u32) -> Vec<u8> {
    if algo == Algo::IpHash {
        vec![10, (k % 250) as u8, (k / 3) as u8, 1]
    } else {
        format!("key{k}").into_bytes()
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
            let key = key_for(algo, k);
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

/// A group whose only primary server is `backend.test:80 resolve` (plus `backup`).
fn discovered(algo: Algo, backup: Vec<PeerConf>) -> Upstream {
    let resolver = crate::resolver::Resolver::new(vec![], None, false, Duration::from_secs(1));
    let mut template = peer(80, 1);
    template.server = "backend.test".into();
    let line = ResolveServer {
        host: "backend.test".into(),
        port: 80,
        backup: false,
        template,
    };
    Upstream::new("u", false, algo, vec![], backup, None)
        .with_health(Some(HealthCheck::default()))
        .with_discovery(Some(Discovery {
            resolver: std::sync::Arc::new(resolver),
            servers: vec![line],
        }))
}

fn addrs(last_octets: &[u8]) -> Vec<SocketAddr> {
    last_octets
        .iter()
        .map(|o| SocketAddr::from(([127, 0, 0, *o], 80)))
        .collect()
}

fn info(up: &Upstream, name: &str) -> Option<PeerInfo> {
    up.peers().into_iter().find(|p| p.name == name)
}

#[test]
fn resolved_peers_keep_their_state_while_their_address_stays() {
    let up = discovered(Algo::RoundRobin, vec![]);
    assert_eq!(up.tries(), 0);
    assert!(up.pick(&mut Selection::new(&up, b"")).is_none());
    assert!(up.set_resolved(0, &addrs(&[1, 2])));
    assert!(
        !up.set_resolved(0, &addrs(&[2, 1, 2])),
        "same set, any order"
    );
    assert_eq!(up.tries(), 2);
    // 127.0.0.1 fails once and is probed unhealthy; a request holds 127.0.0.2.
    let mut sel = Selection::new(&up, b"");
    let a = up.pick(&mut sel).unwrap();
    assert_eq!(a.name, "127.0.0.1:80");
    up.release(&a, Outcome::Failed, None);
    let id = |name: &str| {
        let set = up.lock();
        let i = set.tiers[0].peers.iter().position(|p| p.name == name);
        i.map(|i| set.state[0][i].id)
    };
    up.report_probe(id("127.0.0.1:80").unwrap(), &Err("status 503".into()));
    let held = up.pick(&mut Selection::new(&up, b"")).unwrap();
    assert_eq!(held.name, "127.0.0.2:80");

    // DNS now answers .1 and .3: .2 leaves, .3 arrives fresh, .1 keeps its state.
    assert!(up.set_resolved(0, &addrs(&[3, 1])));
    let names: Vec<String> = up.peers().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["127.0.0.1:80", "127.0.0.3:80"]);
    let one = info(&up, "127.0.0.1:80").unwrap();
    assert_eq!((one.fails, one.healthy), (1, false));
    let three = info(&up, "127.0.0.3:80").unwrap();
    assert_eq!(
        (three.fails, three.healthy, three.server.as_str()),
        (0, true, "backend.test")
    );
    // The request on the removed peer finishes without touching anyone else.
    assert!(!up.release(&held, Outcome::Failed, None));
    assert_eq!(info(&up, "127.0.0.3:80").unwrap().fails, 0);

    // A held pick on a peer that stays is released by id, wherever it moved.
    let on_three = up.pick(&mut Selection::new(&up, b"")).unwrap();
    assert_eq!(on_three.name, "127.0.0.3:80");
    assert_eq!(info(&up, "127.0.0.3:80").unwrap().conns, 1);
    assert!(up.set_resolved(0, &addrs(&[3])));
    up.release(&on_three, Outcome::Ok, None);
    assert_eq!(info(&up, "127.0.0.3:80").unwrap().conns, 0);
    assert!(up.single());
}

#[test]
fn a_request_that_spans_a_change_does_not_retry_what_it_tried() {
    let up = discovered(Algo::RoundRobin, vec![]);
    up.set_resolved(0, &addrs(&[1, 2]));
    let mut sel = Selection::new(&up, b"");
    let first = up.pick(&mut sel).unwrap();
    up.release(&first, Outcome::Ok, None);
    up.set_resolved(0, &addrs(&[3, 2, 1]));
    let mut seen = vec![first.name];
    while let Some(p) = up.pick(&mut sel) {
        up.release(&p, Outcome::Ok, None);
        assert!(!seen.contains(&p.name), "{} tried twice", p.name);
        seen.push(p.name);
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn an_unresolved_line_leaves_the_backups_to_serve() {
    let up = discovered(Algo::RoundRobin, vec![peer(9, 1)]);
    assert!(!up.single(), "a backup tier exists");
    assert_eq!(seq(&up, 2), [9, 9]);
    up.set_resolved(0, &addrs(&[1]));
    let p = up.pick(&mut Selection::new(&up, b"")).unwrap();
    assert_eq!(p.name, "127.0.0.1:80");
    up.release(&p, Outcome::Ok, None);
    // Gone from DNS: the backup again.
    up.set_resolved(0, &[]);
    assert_eq!(seq(&up, 1), [9]);
}

#[test]
fn every_method_follows_a_changing_peer_set() {
    for algo in [
        Algo::RoundRobin,
        Algo::LeastConn,
        Algo::IpHash,
        Algo::Hash,
        Algo::ConsistentHash,
        Algo::Random,
        Algo::RandomTwo,
        Algo::RandomTwoLeastConn,
        Algo::Ewma,
    ] {
        let up = discovered(algo, vec![]);
        for set in [&[1u8, 2, 3][..], &[2, 3, 4], &[5], &[], &[6, 7]] {
            up.set_resolved(0, &addrs(set));
            let now: Vec<SocketAddr> = addrs(set);
            let mut used = std::collections::HashSet::new();
            for k in 0..200u32 {
                let key = key_for(algo, k);
                let mut sel = Selection::new(&up, &key);
                match up.pick(&mut sel) {
                    Some(p) => {
                        assert!(now.contains(&p.addr), "{algo:?} picked {}", p.name);
                        used.insert(p.addr);
                        up.release(&p, Outcome::Ok, None);
                    }
                    None => assert!(set.is_empty(), "{algo:?} found no peer in {set:?}"),
                }
            }
            assert_eq!(used.len(), set.len(), "{algo:?} spreads over {set:?}");
        }
    }
}

#[test]
fn consistent_hash_treats_a_names_addresses_as_one_server() {
    let up = discovered(Algo::ConsistentHash, vec![]);
    up.set_resolved(0, &addrs(&[1, 2, 3]));
    assert_eq!(up.lock().tiers[0].points.len(), 160, "one server's points");
    up.set_resolved(0, &addrs(&[1, 2, 3, 4]));
    assert_eq!(up.lock().tiers[0].points.len(), 160);
    // Keys of the name spread over all its addresses (weighted round robin among them).
    let mut used = std::collections::HashSet::new();
    for k in 0..8 {
        let p = up
            .pick(&mut Selection::new(&up, format!("k{k}").as_bytes()))
            .unwrap();
        up.release(&p, Outcome::Ok, None);
        used.insert(p.addr);
    }
    assert_eq!(used.len(), 4);
}
