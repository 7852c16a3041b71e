//! limit_req accuracy through the real server: 100 r/s, burst 0, nodelay, two workers,
//! clients hammering for 5 seconds. On an idle machine the count let through is within
//! 0.3% of exact; with burst 0 every moment between the bucket emptying and the next
//! request reaching a worker is lost (nginx's arithmetic, kept), so on a loaded 2-core CI
//! machine it has come out up to 5% low, and once 11% (a run where the VM was descheduled).
//! The bound here is 6% for one of up to three runs, and never above the rate in any; the
//! arithmetic itself is held to 2% by the deterministic unit test in src/limit/.

mod common;

use common::{client, Gateway};
use std::time::{Duration, Instant};

#[test]
fn limit_req_lets_through_the_configured_rate() {
    let conf = common::wrap(
        "",
        "limit_req_zone $server_name zone=acc:1m rate=100r/s;",
        "location / { limit_req zone=acc nodelay; }",
    );
    let gw = Gateway::start_full(&conf, &[("html/index.html".into(), "ok\n".into())]).unwrap();
    // With burst 0 a worker that the machine deschedules for a while (a shared CI VM does)
    // loses the admissions of that time, and only that direction: so every run must stay
    // at or under the rate, and one of up to three runs must come within 6% of it.
    let mut offs = vec![];
    for _ in 0..3 {
        let (ok, exact) = measure(gw.addr());
        assert!(
            (ok as f64) <= exact * 1.02,
            "never above the rate: let through {ok}, exact {exact:.1}"
        );
        let off = (ok as f64 - exact).abs() / exact;
        offs.push(format!("{:.2}%", off * 100.0));
        if off <= 0.06 {
            return;
        }
    }
    panic!("three runs all more than 6% under the rate: {offs:?}");
}

/// Six keep-alive clients for 5 s: (requests let through, the exact count for the time).
fn measure(addr: std::net::SocketAddr) -> (u32, f64) {
    let run = Duration::from_secs(5);
    let start = Instant::now();
    // Keep-alive clients: arrivals must be dense, since with burst 0 the time between the
    // bucket emptying and the next arrival is lost (in nginx's arithmetic too).
    let threads: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut ok, mut total) = (0u32, 0u32);
                let mut conn = client::Conn::open(addr).unwrap();
                while start.elapsed() < run {
                    total += 1;
                    let r = match conn.get("/") {
                        Ok(r) => r,
                        Err(_) => {
                            conn = client::Conn::open(addr).unwrap();
                            continue;
                        }
                    };
                    if r.status == 200 {
                        ok += 1;
                    }
                }
                (ok, total)
            })
        })
        .collect();
    let (ok, total) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let secs = start.elapsed().as_secs_f64();
    let exact = 100.0 * secs + 1.0;
    assert!(
        total as f64 > exact * 2.0,
        "the clients must outpace the limit ({total} sent)"
    );
    eprintln!(
        "let through {ok} of {total}, exact {exact:.1} ({:.2}% off)",
        (ok as f64 - exact).abs() / exact * 100.0
    );
    (ok, exact)
}
