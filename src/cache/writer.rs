//! A FIFO of jobs run one at a time, in order, on a dedicated thread: each cache zone's
//! disk writer. Workers only [`Queue::push`] (a short mutex, never the job itself), so a
//! slow or failing disk does not stall an event loop; jobs run in the order they were
//! pushed, so a delete pushed after a store of the same file is applied after it.
//!
//! The thread starts with the first job, not with the queue: zones are opened while the
//! configuration loads, before the daemon forks, and a fork keeps only the calling thread.
//!
//! Plain Rust (no tokio, no fs): the job is whatever the closure given to [`Queue::new`]
//! does with it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct State<T> {
    jobs: VecDeque<T>,
    /// Jobs pushed and jobs finished since the start: a flush waits for `done` to reach
    /// the `pushed` it saw.
    pushed: u64,
    done: u64,
    /// No more jobs are taken; the thread ends once the queue is empty.
    closed: bool,
    started: bool,
    exited: bool,
    /// Tests hold the thread before its next job to see the queue's contents.
    held: bool,
}

type Runner<T> = Box<dyn FnMut(T) + Send>;

struct Shared<T> {
    name: String,
    run: Mutex<Runner<T>>,
    state: Mutex<State<T>>,
    /// The thread waits here for jobs.
    work: Condvar,
    /// Flushes wait here for progress.
    progress: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle to the queue and its thread; clones share them.
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send + 'static> Queue<T> {
    /// A queue whose thread (named `name`, started by the first push) runs `run` on each
    /// job in push order. A job that panics is counted as done; the thread goes on with
    /// the next one.
    pub fn new(name: &str, run: impl FnMut(T) + Send + 'static) -> Self {
        Queue {
            shared: Arc::new(Shared {
                name: name.to_string(),
                run: Mutex::new(Box::new(run)),
                state: Mutex::new(State {
                    jobs: VecDeque::new(),
                    pushed: 0,
                    done: 0,
                    closed: false,
                    started: false,
                    exited: false,
                    held: false,
                }),
                work: Condvar::new(),
                progress: Condvar::new(),
            }),
        }
    }

    fn start(&self) -> std::io::Result<()> {
        let s = self.shared.clone();
        std::thread::Builder::new()
            .name(s.name.clone())
            .spawn(move || loop {
                let job = {
                    let mut st = s.lock();
                    loop {
                        if !st.held {
                            if let Some(j) = st.jobs.pop_front() {
                                break Some(j);
                            }
                            if st.closed {
                                break None;
                            }
                        }
                        st = s.work.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                };
                let Some(job) = job else {
                    s.lock().exited = true;
                    s.progress.notify_all();
                    return;
                };
                let mut run = s.run.lock().unwrap_or_else(|e| e.into_inner());
                // A panicking job must not take the writer (and every later job) with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(job)));
                drop(run);
                s.lock().done += 1;
                s.progress.notify_all();
            })?;
        Ok(())
    }

    /// Queues a job: Ok(false) (and the job dropped) once the queue is closed. An error
    /// means the thread could not start; the job stays queued and the next push retries.
    pub fn push(&self, job: T) -> std::io::Result<bool> {
        let mut st = self.shared.lock();
        if st.closed {
            return Ok(false);
        }
        st.jobs.push_back(job);
        st.pushed += 1;
        if !st.started {
            self.start()?;
            st.started = true;
        }
        drop(st);
        self.shared.work.notify_one();
        Ok(true)
    }

    /// Waits until every job pushed before this call has run, at most `limit`; true if
    /// they all did.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.lock();
        let target = st.pushed;
        while st.done < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || st.exited {
                return false;
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Jobs pushed and not yet finished (the one running included).
    pub fn backlog(&self) -> u64 {
        let st = self.shared.lock();
        st.pushed - st.done
    }

    /// Takes no more jobs; the thread runs what is queued, then ends.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        // No thread ever ran: nothing to drain (jobs only wait here if it failed to start).
        if !st.started {
            st.exited = true;
        }
        drop(st);
        self.shared.work.notify_one();
    }

    /// True once the thread has ended (closed and drained).
    pub fn exited(&self) -> bool {
        self.shared.lock().exited
    }

    /// Holds (true) or releases (false) the thread before its next job.
    #[cfg(test)]
    pub fn hold(&self, held: bool) {
        self.shared.lock().held = held;
        self.shared.work.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A queue whose jobs report their number on `rx` once `gate` lets each through.
    fn gated() -> (Queue<u32>, mpsc::Sender<()>, mpsc::Receiver<u32>) {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (out_tx, out_rx) = mpsc::channel();
        let q = Queue::new("test-writer", move |n: u32| {
            let _ = gate_rx.recv();
            let _ = out_tx.send(n);
        });
        (q, gate_tx, out_rx)
    }

    #[test]
    fn jobs_run_in_push_order() {
        let order = Arc::new(Mutex::new(vec![]));
        let o = order.clone();
        let q = Queue::new("test-writer", move |n: u32| o.lock().unwrap().push(n));
        for n in 0..1000 {
            assert!(q.push(n).unwrap());
        }
        assert!(q.flush(Duration::from_secs(10)));
        assert_eq!(*order.lock().unwrap(), (0..1000).collect::<Vec<_>>());
        assert_eq!(q.backlog(), 0);
    }

    #[test]
    fn push_does_not_wait_for_a_stuck_job() {
        // The first job blocks until the gate opens: pushes still return at once and a
        // bounded flush reports that it could not finish.
        let (q, gate, out) = gated();
        for n in 0..100 {
            assert!(q.push(n).unwrap());
        }
        assert_eq!(q.backlog(), 100);
        assert!(!q.flush(Duration::from_millis(50)));
        for _ in 0..100 {
            gate.send(()).unwrap();
        }
        assert!(q.flush(Duration::from_secs(10)));
        assert_eq!(
            out.try_iter().collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_held_queue_keeps_its_jobs_until_released() {
        let (q, gate, out) = gated();
        q.hold(true);
        q.push(1).unwrap();
        q.push(2).unwrap();
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        assert!(out.try_recv().is_err());
        q.hold(false);
        assert!(q.flush(Duration::from_secs(10)));
        assert_eq!(out.try_iter().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn close_drains_then_ends_and_refuses_more() {
        let (q, gate, out) = gated();
        q.push(7).unwrap();
        q.close();
        assert!(!q.push(8).unwrap());
        gate.send(()).unwrap();
        assert!(q.flush(Duration::from_secs(10)));
        assert_eq!(out.recv().unwrap(), 7);
        let start = Instant::now();
        while !q.exited() {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_panicking_job_is_counted_and_the_next_runs() {
        let seen = Arc::new(Mutex::new(vec![]));
        let s = seen.clone();
        let q = Queue::new("test-writer", move |n: u32| {
            assert!(n != 1, "job 1 fails");
            s.lock().unwrap().push(n);
        });
        for n in 0..3 {
            q.push(n).unwrap();
        }
        assert!(q.flush(Duration::from_secs(10)));
        assert_eq!(*seen.lock().unwrap(), vec![0, 2]);
    }
}
