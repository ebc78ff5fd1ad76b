//! Alerts follow from what is stored, not from the request that stored it. A push carrying an
//! emergency is cancelled at every await point in turn (the future is dropped after 1, 2, 3, ...
//! polls, until one completes): whenever the emergency was stored, its alert exists as soon as the
//! deadline engine has caught up with the store, with no restart and no help from the request; and
//! once the device retries, there is exactly one alert for it.

use crate::common;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use common::*;
use kith_domain::{CheckInId, CheckInStatus, Role, Secs, ShiftId};
use kith_proto::SyncRequest;
use kith_server::storage::DeviceAuth;
use kith_server::testing::TestServer;

const MIN: i64 = 60_000;

/// Polls the inner future at most `polls` times; `None` if it had not finished by then (it is
/// dropped with the wrapper, as hyper drops a handler when its client goes away).
struct DropAfter<F: Future> {
    inner: Pin<Box<F>>,
    polls: usize,
}

impl<F: Future> Future for DropAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}

async fn device_auth(server: &TestServer, dev: &Dev) -> DeviceAuth {
    server.storage().device_by_token(kith_server::auth::token_hash(&dev.token)).await.unwrap().unwrap()
}

/// Whether the server stored the check-in (read from the database, not from any cache).
async fn stored(server: &TestServer, shift: ShiftId, checkin: CheckInId) -> bool {
    let Some(loaded) = server.storage().load_doc(shift.uuid()).await.unwrap() else { return false };
    let mut doc = automerge::Automerge::new();
    if let Some((_, snap)) = &loaded.snapshot {
        doc = automerge::Automerge::load(snap).unwrap();
    }
    for c in loaded.changes {
        doc.load_incremental(&c.bytes).unwrap();
    }
    kith_domain::doc::shift::read(&doc).is_ok_and(|s| s.checkin(checkin).is_some())
}

/// The emergency alerts about this check-in, in storage.
async fn emergency_alerts(server: &TestServer, checkin: CheckInId) -> usize {
    let all = server.storage().alerts(None, false, 10_000).await.unwrap();
    all.iter().filter(|a| a.checkin == Some(checkin) && a.kind.as_str() == "emergency").count()
}

/// How the request is made: through the sync service alone, or through the whole exchange the
/// HTTP handler runs (sync, then waiting for the deadline engine).
#[derive(Clone, Copy, Debug)]
enum Path {
    Service,
    Exchange,
}

async fn run_cut(server: &TestServer, dev: &DeviceAuth, req: SyncRequest, path: Path, polls: usize) -> bool {
    let app = server.app().clone();
    let now = server.now();
    match path {
        Path::Service => {
            let fut = async move { app.sync.sync(dev, req, now).await.map(|_| ()) };
            DropAfter { inner: Box::pin(fut), polls }.await.is_some()
        }
        Path::Exchange => {
            let fut = async move { app.sync_exchange(dev, req).await.map(|_| ()) };
            DropAfter { inner: Box::pin(fut), polls }.await.is_some()
        }
    }
}

/// For each way in and each shape of push (a new shift with the emergency in it, or an emergency
/// added to a shift the server has), cancels at each await point in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cancelled_at_any_await_point_still_raises_the_emergency_alert() {
    let server = TestServer::start_manual().await;
    let (team, lead_code) = server.create_team("North estate").await;
    let mut lead = Dev::join(&server, &lead_code, "Sam").await;
    let mut alice = Dev::join(&server, &server.invite(team, Role::Member).await, "Alice").await;
    lead.sync().await;
    alice.sync().await;
    let auth = device_auth(&server, &alice).await;
    let mut cuts_after_store = 0;
    for path in [Path::Service, Path::Exchange] {
        for new_shift in [true, false] {
            let mut polls = 1;
            loop {
                let now = alice.device_now();
                let shift = alice.start_shift_at(now, now + 8 * 60 * MIN, Secs::minutes(30), vec![]);
                if !new_shift {
                    alice.sync().await;
                }
                let c = alice.checkin_at(shift, CheckInStatus::Emergency, now + 1);
                let req = alice.request(vec![alice.push_for(shift.uuid())]);
                let done = run_cut(&server, &auth, req, path, polls).await;
                // Whatever the request did before it was dropped is finished in storage now.
                server.app().settled().await;
                let kept = stored(&server, shift, c).await;
                if kept {
                    assert_eq!(
                        emergency_alerts(&server, c).await,
                        1,
                        "{path:?}, new shift {new_shift}, dropped after {polls} polls: the emergency is stored, so its \
                         alert must exist"
                    );
                    if !done {
                        cuts_after_store += 1;
                    }
                }
                // The device retries, as it would: still exactly one alert.
                alice.sync().await;
                server.app().settled().await;
                assert_eq!(emergency_alerts(&server, c).await, 1, "{path:?} after {polls} polls and a retry");
                // The next round's shift must not be the latest check-in's: end this one.
                alice.end_shift_at(shift, alice.device_now());
                alice.sync().await;
                if done {
                    break;
                }
                polls += 1;
            }
        }
    }
    assert!(cuts_after_store > 0, "some request was dropped after its changes were stored");
}
