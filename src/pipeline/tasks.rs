//! Work a request leaves behind after its response: the log phase (which may yield) and
//! cache background updates. It runs as tasks of the thread's LocalSet, counted so that a
//! graceful stop and the in-process harness can wait for it.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

thread_local! {
    /// Whether this thread runs a LocalSet tasks can be spawned on (workers, the
    /// in-process harness), and how many tasks are running.
    static TASKS: (Cell<bool>, Cell<usize>, Rc<tokio::sync::Notify>) =
        (Cell::new(false), Cell::new(0), Rc::default());
}

/// Marks this thread as running (or no longer running) a LocalSet.
pub fn allow_background(on: bool) {
    TASKS.with(|t| t.0.set(on));
}

/// Whether [`spawn_background`] can run work here.
pub fn can_spawn_background() -> bool {
    TASKS.with(|t| t.0.get())
}

/// Runs `fut` as a counted task of this thread's LocalSet; false (and `fut` dropped) when
/// there is none.
pub fn spawn_background(fut: impl Future<Output = ()> + 'static) -> bool {
    if !can_spawn_background() {
        return false;
    }
    TASKS.with(|t| t.1.set(t.1.get() + 1));
    tokio::task::spawn_local(async move {
        fut.await;
        TASKS.with(|t| {
            t.1.set(t.1.get().saturating_sub(1));
            if t.1.get() == 0 {
                t.2.notify_waiters();
            }
        });
    });
    true
}

/// Waits until every task spawned on this thread has finished.
pub async fn background_done() {
    loop {
        let (n, notify) = TASKS.with(|t| (t.1.get(), t.2.clone()));
        if n == 0 {
            return;
        }
        let waiting = notify.notified();
        if TASKS.with(|t| t.1.get()) == 0 {
            return;
        }
        waiting.await;
    }
}
