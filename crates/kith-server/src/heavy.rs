//! A bounded pool for heavy sync exchanges (many changes to decode, authorise, apply and validate
//! with Automerge: CPU work that would hold an async worker for seconds and starve every other
//! request, `/healthz` and the request timeout included).
//!
//! An admitted exchange runs on a thread of the blocking pool (`spawn_blocking`, the future
//! driven there by `Handle::block_on`), at most `workers` at once; up to `queue` more wait for a
//! place, and beyond that the exchange is refused at once with `503 server_busy` and
//! `Retry-After` (clients retry it with backoff). Dropping the caller's future (a timeout, a client
//! gone) cancels the exchange at its next await, exactly as if it had run on the caller's task.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::{AbortHandle, Abortable};
use tokio::sync::{Semaphore, watch};

tokio::task_local! {
    /// Set while an exchange runs on the pool: heavy work it asks the pool for (a large feed page
    /// after a heavy push) runs where it is, without a second place it could wait for forever.
    static ON_POOL: ();
}

/// The pool is full: running and queued exchanges are at their bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy with other large syncs")]
pub struct PoolFull;

/// A bounded pool of threads for CPU-heavy exchanges. See the module docs.
#[derive(Debug)]
pub struct HeavyPool {
    permits: Arc<Semaphore>,
    /// Most exchanges admitted at once (running plus waiting).
    admit: usize,
    /// Exchanges admitted now (running, waiting, or cancelled and not yet stopped).
    admitted: Arc<watch::Sender<usize>>,
}

/// One admitted exchange; gives its place back when dropped.
struct Ticket(Arc<watch::Sender<usize>>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Cancels the pooled future when the caller's future is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HeavyPool {
    /// `workers` exchanges run at once (at least one), `queue` more may wait.
    pub fn new(workers: usize, queue: usize) -> HeavyPool {
        let workers = workers.max(1);
        let (admitted, _) = watch::channel(0);
        HeavyPool { permits: Arc::new(Semaphore::new(workers)), admit: workers + queue, admitted: Arc::new(admitted) }
    }

    /// How many exchanges are admitted now (tests wait on it instead of sleeping).
    pub fn admitted(&self) -> watch::Receiver<usize> {
        self.admitted.subscribe()
    }

    /// Runs `fut` on the pool, or refuses it at once if the pool and its queue are full.
    pub async fn run<F, T>(&self, fut: F) -> Result<T, PoolFull>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        if ON_POOL.try_with(|_| ()).is_ok() {
            return Ok(fut.await);
        }
        let mut admitted = false;
        self.admitted.send_if_modified(|n| {
            admitted = *n < self.admit;
            if admitted {
                *n += 1;
            }
            admitted
        });
        if !admitted {
            metrics::counter!("kith_heavy_syncs_refused_total").increment(1);
            return Err(PoolFull);
        }
        let ticket = Ticket(self.admitted.clone());
        // The semaphore is never closed.
        let Ok(permit) = self.permits.clone().acquire_owned().await else { return Err(PoolFull) };
        let (abort, registration) = AbortHandle::new_pair();
        let _cancel = AbortOnDrop(abort);
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let _held = (permit, ticket);
            handle.block_on(ON_POOL.scope((), Abortable::new(fut, registration)))
        });
        match task.await {
            Ok(Ok(v)) => Ok(v),
            // Aborted: only when this future was dropped, so nobody reads this.
            Ok(Err(_)) => Err(PoolFull),
            Err(e) => match e.try_into_panic() {
                Ok(p) => std::panic::resume_unwind(p),
                Err(_) => Err(PoolFull),
            },
        }
    }
}
