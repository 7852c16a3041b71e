//! The clock that time-based primitives read (shared-dict expiry, rate limits, cache
//! freshness, key expiry, `ngx.now`): the real clock plus a skew. Only the test tools
//! (`openclaw.test.advance`, `openclaw test`, the REPL) move the skew, to test limits and
//! caches without sleeping; a serving gateway never does, and then the skew is zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static SKEW_MS: AtomicU64 = AtomicU64::new(0);

fn skew() -> Duration {
    Duration::from_millis(SKEW_MS.load(Ordering::Relaxed))
}

/// A monotonic instant, moved forward by the fake clock's skew.
pub fn instant() -> Instant {
    Instant::now() + skew()
}

/// Wall-clock time, moved forward by the fake clock's skew.
pub fn system() -> SystemTime {
    SystemTime::now() + skew()
}

/// Wall-clock time since the epoch.
pub fn since_epoch() -> Duration {
    system().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The monotonic clock at the kernel tick's resolution (a few ms), in milliseconds, without
/// the fake clock's skew: for connection idle times, read on every socket read and write,
/// where a full clock read cost more than the rest of the bookkeeping.
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; CLOCK_MONOTONIC_COARSE exists
    // on every Linux this runs on (and cannot fail with a valid pointer).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Whole seconds since the epoch on the real-time clock at the kernel tick's resolution,
/// without the fake clock's skew: for the `Date` header, read on every response.
pub fn coarse_unix_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `coarse_ms`; CLOCK_REALTIME_COARSE exists on every Linux this runs on.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts.tv_sec.max(0) as u64
}

/// Moves the fake clock forward by `d` (it never goes back: monotonic readers stay sane).
pub fn advance(d: Duration) {
    SKEW_MS.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
}

/// How far the fake clock has been moved.
pub fn skewed() -> Duration {
    skew()
}

/// A tokio timer that fires at `at`: `kept`, re-armed, when a caller kept one from an
/// earlier use (a connection's previous request). A later deadline only moves the
/// registered one (one compare-and-swap; the wheel learns of it when the old one comes),
/// where a new timer costs an allocation, a wheel insert and removal, and, when it becomes
/// the earliest, an eventfd write with which tokio wakes its own driver.
pub fn rearm(
    kept: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    at: tokio::time::Instant,
) -> std::pin::Pin<Box<tokio::time::Sleep>> {
    match kept {
        Some(mut t) => {
            t.as_mut().reset(at);
            t
        }
        None => Box::pin(tokio::time::sleep_until(at)),
    }
}
