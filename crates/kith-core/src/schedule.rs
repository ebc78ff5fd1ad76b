//! When to sync next: after a local change (debounced), periodically, and after a failure with
//! exponential backoff and full jitter, the server's `Retry-After` winning when longer. A refusal
//! marked retryable counts as a failure (the document stays queued and goes again soon). The
//! randomness of the jitter is passed in, so the decision is deterministic under test.

use serde::Serialize;

/// Timing of background sync, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleOptions {
    /// Wait this long after a local change before syncing, to batch quick successive edits.
    pub debounce_ms: u64,
    /// Sync at least this often even with no trigger.
    pub period_ms: u64,
    /// First retry delay after a failure; doubles up to `max_backoff_ms`, with full jitter.
    pub min_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        ScheduleOptions { debounce_ms: 250, period_ms: 60_000, min_backoff_ms: 1_000, max_backoff_ms: 300_000 }
    }
}

/// A delay of `attempt` failures: exponential from `min` to `max`, with full jitter (`unit` in
/// [0, 1] picks a point between half the cap and the cap) so many devices coming back at once
/// do not all retry together.
pub fn backoff_ms(attempt: u32, min_ms: u64, max_ms: u64, unit: f64) -> u64 {
    let exp = min_ms.saturating_mul(2u64.saturating_pow(attempt.min(20)));
    let cap = exp.min(max_ms).max(min_ms);
    let half = cap / 2;
    let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 1.0 };
    // Rounding of a value in [0, cap - half]: within range by construction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let extra = ((cap - half) as f64 * unit).round() as u64;
    half + extra.min(cap - half)
}

/// How the last sync ended, as far as scheduling is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server took everything it was sent.
    Done,
    /// The server answered but could not store some documents now: try again soon.
    RefusedForNow,
    /// The exchange failed; `retryable` when waiting can help, with the server's `Retry-After`.
    Failed { retryable: bool, retry_after_ms: Option<u64> },
}

/// The consecutive failures so far, and what they mean for the next attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub opts: ScheduleOptions,
    failures: u32,
}

impl Schedule {
    pub fn new(opts: ScheduleOptions) -> Schedule {
        Schedule { opts, failures: 0 }
    }

    /// Consecutive failed syncs.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records how a sync ended and returns how long to wait before the next one (ms), unless
    /// something triggers one earlier. `unit` is a random number in [0, 1] for the jitter.
    pub fn after(&mut self, ended: &Ended, unit: f64) -> u64 {
        let o = &self.opts;
        match ended {
            Ended::Done => {
                self.failures = 0;
                o.period_ms
            }
            Ended::RefusedForNow => {
                self.failures = self.failures.saturating_add(1);
                backoff_ms(self.failures - 1, o.min_backoff_ms, o.max_backoff_ms, unit)
            }
            Ended::Failed { retryable: true, retry_after_ms } => {
                self.failures = self.failures.saturating_add(1);
                let asked = retry_after_ms.unwrap_or(0).min(o.max_backoff_ms);
                backoff_ms(self.failures - 1, o.min_backoff_ms, o.max_backoff_ms, unit).max(asked)
            }
            // Waiting will not fix it, but nothing is dropped: try now and then.
            Ended::Failed { retryable: false, .. } => {
                self.failures = self.failures.saturating_add(1);
                o.max_backoff_ms
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_cap_with_jitter() {
        for attempt in 0..30 {
            let cap = 1000u64.saturating_mul(2u64.pow(attempt.min(20))).min(60_000);
            for unit in [0.0, 0.25, 0.5, 0.99, 1.0] {
                let d = backoff_ms(attempt, 1000, 60_000, unit);
                assert!(d <= cap && d >= cap / 2, "attempt {attempt} unit {unit}: {d} vs cap {cap}");
            }
        }
        assert_eq!(backoff_ms(3, 1000, 60_000, 1.0), 8000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 0.0), 4000);
        assert!(backoff_ms(50, 1000, 60_000, f64::NAN) <= 60_000);
    }

    #[test]
    fn a_refusal_for_now_backs_off_and_a_success_resets_to_the_period() {
        let mut s = Schedule::default();
        assert_eq!(s.after(&Ended::RefusedForNow, 1.0), 1000);
        assert_eq!(s.after(&Ended::RefusedForNow, 1.0), 2000);
        assert_eq!(s.after(&Ended::Failed { retryable: true, retry_after_ms: None }, 1.0), 4000);
        // The server's Retry-After wins when longer, within the cap.
        assert_eq!(s.after(&Ended::Failed { retryable: true, retry_after_ms: Some(30_000) }, 1.0), 30_000);
        assert_eq!(s.after(&Ended::Failed { retryable: true, retry_after_ms: Some(10_000_000) }, 0.0), 300_000);
        assert_eq!(s.failures(), 5);
        assert_eq!(s.after(&Ended::Done, 0.5), 60_000);
        assert_eq!(s.failures(), 0);
        assert_eq!(s.after(&Ended::Failed { retryable: false, retry_after_ms: None }, 0.0), 300_000);
    }
}
