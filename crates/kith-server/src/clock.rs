//! The server's clock, injectable: every deadline is decided on it. The system clock in
//! production; a manual clock in tests, moved explicitly, so no test sleeps to wait for a deadline.

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, on the server's own clock.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now_ms(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::now_ms()
    }
}

/// A clock that only moves when told to (tests, benchmarks).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock { now: AtomicI64::new(start_ms) }
    }

    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms`; returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.now.fetch_add(ms, Ordering::SeqCst) + ms
    }

    /// Moves the clock forward by whole minutes; returns the new time.
    pub fn advance_minutes(&self, m: i64) -> i64 {
        self.advance(m * 60_000)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}
