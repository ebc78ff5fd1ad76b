//! An incoming Automerge change with its operations decoded once, for every check that reads
//! them: authorisation ([`crate::authz`]) and the cheap validation of a shift
//! ([`crate::doc::validate_shift_additions`]). Expanding a change's columns into operations
//! (`Change::decode`) is a fair share of what a push costs the server, so it is done at most
//! once per change, the first time a check asks, and kept with the change.

use std::sync::OnceLock;

use automerge::{Change, ExpandedChange};

/// A change and, once asked for, its decoded operations (`None` if decoding them failed).
#[derive(Debug)]
pub struct Decoded {
    change: Change,
    ops: OnceLock<Option<ExpandedChange>>,
}

impl Decoded {
    pub fn new(change: Change) -> Self {
        Decoded { change, ops: OnceLock::new() }
    }

    pub fn change(&self) -> &Change {
        &self.change
    }

    /// The change's operations, decoded on the first call. `None`: they could not be decoded
    /// (Automerge's decoder trusts the bytes it was given and may panic on bad ones).
    pub fn ops(&self) -> Option<&ExpandedChange> {
        self.ops
            .get_or_init(|| {
                count_decode();
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.change.decode())).ok()
            })
            .as_ref()
    }
}

impl std::ops::Deref for Decoded {
    type Target = Change;

    fn deref(&self) -> &Change {
        &self.change
    }
}

#[cfg(feature = "testing")]
static DECODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count_decode() {
    #[cfg(feature = "testing")]
    DECODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many times this process decoded a change's operations (testing builds only): tests
/// check that a push decodes each change once.
#[cfg(feature = "testing")]
pub fn decodes() -> u64 {
    DECODES.load(std::sync::atomic::Ordering::Relaxed)
}
