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

/// Moves the fake clock forward by `d` (it never goes back: monotonic readers stay sane).
pub fn advance(d: Duration) {
    SKEW_MS.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
}

/// How far the fake clock has been moved.
pub fn skewed() -> Duration {
    skew()
}
