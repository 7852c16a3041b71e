//! `Part`: a server, location or settings block of the configuration generation a request
//! runs on, held without a reference count.

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

/// A server, location or settings block of a configuration generation, as a request
/// holds it: a pointer. Held as `Arc`s, the three took eight atomic updates a request (a
/// clone and a drop each, the settings twice) where nginx takes none; the request holds
/// its generation instead (`RequestCtx::gen`, never replaced), which owns every part.
///
/// Made only by `Part::of`, whose caller promises that; a part never outlives its request
/// (`arc` gives an owned reference to code that must, such as a log context).
pub struct Part<T>(NonNull<T>);

impl<T> Part<T> {
    /// # Safety
    /// `arc` must be owned, directly or through other parts, by the generation that the
    /// request holding the part holds, and the part must not outlive that request.
    pub unsafe fn of(arc: &Arc<T>) -> Part<T> {
        Part(NonNull::from(&**arc))
    }

    /// An owned reference, for code that may outlive the request.
    pub fn arc(&self) -> Arc<T> {
        let p = self.0.as_ptr().cast_const();
        // SAFETY: `p` is `Arc::as_ptr` of an Arc the generation holds (`of`'s contract),
        // so its count is at least one while the request lives: it may be raised and
        // taken over by a new Arc.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }
}

impl<T> Clone for Part<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Part<T> {}

impl<T> Deref for Part<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the generation that owns the target outlives the part (`of`'s contract).
        unsafe { self.0.as_ref() }
    }
}
