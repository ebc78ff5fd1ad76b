//! What `/healthz` reports: whether this server can store what it is sent, so a load balancer (and
//! an operator) can tell an instance that answers from one that works. Two checks, both cheap:
//!
//! - a **write probe** ([`Storage::probe`]): one small transaction committed like any other, at most
//!   every `limits.health_probe_interval_ms` (answers in between reuse the last outcome);
//! - the **free space** of the data directory, against `limits.min_free_disk_bytes`: a disk that is
//!   nearly full fails big writes while small ones still fit, and a probe alone would not see it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::storage::Storage;

/// The outcome of the last probe, and when it was made.
#[derive(Debug)]
struct Last {
    at: Option<Instant>,
    result: Result<(), String>,
}

/// The storage checks behind `/healthz`.
#[derive(Debug)]
pub struct StorageStatus {
    storage: Arc<dyn Storage>,
    data_dir: PathBuf,
    min_free: u64,
    interval: Duration,
    /// Held while probing, so concurrent health checks make one probe.
    last: tokio::sync::Mutex<Last>,
}

/// Longest a probe may take before storage counts as failing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl StorageStatus {
    pub fn new(storage: Arc<dyn Storage>, config: &crate::Config) -> StorageStatus {
        StorageStatus {
            storage,
            data_dir: config.data_dir(),
            min_free: config.limits.min_free_disk_bytes,
            interval: Duration::from_millis(config.limits.health_probe_interval_ms),
            last: tokio::sync::Mutex::new(Last { at: None, result: Ok(()) }),
        }
    }

    /// `Ok` if storage works, else what is wrong and what to do.
    pub async fn check(&self, now_ms: i64) -> Result<(), String> {
        if let Some(free) = free_bytes(&self.data_dir)
            && free < self.min_free
        {
            return Err(format!(
                "the data directory {} has {free} bytes free, under limits.min_free_disk_bytes ({}): free some \
                 space or grow the disk",
                self.data_dir.display(),
                self.min_free
            ));
        }
        let mut last = self.last.lock().await;
        if last.at.is_none_or(|at| at.elapsed() >= self.interval) {
            let probed = tokio::time::timeout(PROBE_TIMEOUT, self.storage.probe(now_ms)).await;
            last.result = match probed {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("the storage cannot commit a write: {e}")),
                Err(_) => Err(format!("a write to storage took longer than {} s", PROBE_TIMEOUT.as_secs())),
            };
            last.at = Some(Instant::now());
            if let Err(e) = &last.result {
                tracing::error!(problem = %e, "storage health check failed");
            }
        }
        last.result.clone()
    }
}

/// Bytes available to this process on the file system holding `dir` (`None` where unknown).
#[cfg(unix)]
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &std::path::Path) -> Option<u64> {
    None
}
