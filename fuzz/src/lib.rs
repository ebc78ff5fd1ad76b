//! The bodies of the fuzz targets (`fuzz_targets/` call them; `src/bin/make_seeds.rs` writes their
//! seed corpora) and the fixed world the push targets check against: one team, its worker's
//! running shift with one check-in, written with fixed actors, ids and times so the seeds' changes
//! build on the very heads the targets hold. Every target feeds outside bytes to the function the
//! product itself calls on them, and must never panic: a refusal is an `Err`, not a crash.
//! The main workspace's `cargo test` includes this file as it is
//! (`tests/tests/every_fuzz_seed_replays_without_a_panic.rs`) and replays every seed through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge};
use futures_util::{FutureExt as _, StreamExt as _};
use kith_domain::authz::Author;
use kith_domain::doc::{shift, team};
use kith_domain::*;
use kith_proto::{DocPush, Kind, SyncRequest, SyncResponse};
use serde_bytes::ByteBuf;
use uuid::Uuid;

pub const TEAM: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
pub const WORKER: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);
pub const LEAD: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003);
pub const DEVICE: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004);
pub const SHIFT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0005);
pub const CHECKIN: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0006);
/// A shift the server does not have (pushed whole as a `save`).
pub const NEW_SHIFT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0007);
/// 2027-01-15T08:00:00Z.
pub const T0: i64 = 1_800_000_000_000;

/// The worker's device's actor; the server's.
pub fn worker_actor() -> ActorId {
    ActorId::from([0xA1; 16])
}
fn server_actor() -> ActorId {
    ActorId::from([0x5E; 16])
}

/// Runs `f` in one change stamped at time 0, so the same edit always makes the same bytes.
pub fn edit<F>(doc: &mut Automerge, f: F)
where
    F: FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), DomainError>,
{
    doc.transact_with(|_| CommitOptions::default().with_time(0), f).map_err(|f| f.error).expect("a fixture edit");
}

pub fn a_shift(id: Uuid) -> Shift {
    Shift {
        id: ShiftId(id),
        ..Shift::begin(
            TeamId(TEAM),
            MemberId(WORKER),
            "rounds",
            Timestamp(T0),
            Timestamp(T0 + 8 * 3_600_000),
            Secs::minutes(30),
        )
    }
}

pub fn a_checkin(id: Uuid, minutes: i64) -> CheckIn {
    CheckIn {
        id: CheckInId(id),
        ..CheckIn::new(CheckInStatus::Ok, Timestamp(T0 + minutes * 60_000), MemberId(WORKER), DeviceId(DEVICE))
    }
}

/// What the push targets hold: the team document and the worker's shift, as the server has them.
#[derive(Debug)]
pub struct World {
    pub team: Automerge,
    pub shift: Automerge,
    pub author: Author,
    pub actor: Vec<u8>,
}

pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let t = Team {
            id: TeamId(TEAM),
            name: "North estate".into(),
            purpose: String::new(),
            phone: None,
            policy: Policy::default(),
            members: vec![
                Member { id: MemberId(WORKER), name: "Alice".into(), role: Role::Member, buddies: vec![], phone: None },
                Member { id: MemberId(LEAD), name: "Sam".into(), role: Role::Lead, buddies: vec![], phone: None },
            ],
        };
        let mut team_doc = Automerge::new().with_actor(server_actor());
        edit(&mut team_doc, |tx| team::init(tx, &t));
        let mut shift_doc = Automerge::new().with_actor(worker_actor());
        edit(&mut shift_doc, |tx| shift::init(tx, &a_shift(SHIFT)));
        edit(&mut shift_doc, |tx| shift::add_checkin(tx, &a_checkin(CHECKIN, 20)));
        World {
            team: team_doc,
            shift: shift_doc,
            author: Author {
                team: TeamId(TEAM),
                member: MemberId(WORKER),
                device: DeviceId(DEVICE),
                role: Role::Member,
            },
            actor: worker_actor().to_bytes().to_vec(),
        }
    })
}

impl World {
    /// The server's state for a pushed document id.
    fn state(&self, id: Uuid) -> (Option<&Automerge>, Option<Kind>) {
        match id {
            SHIFT => (Some(&self.shift), Some(Kind::Shift)),
            TEAM => (Some(&self.team), Some(Kind::Team)),
            _ => (None, None),
        }
    }
}

pub fn hashes(doc: &Automerge) -> Vec<ByteBuf> {
    doc.get_heads().iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

/// Runs one input. A panic the product catches itself (the server and the domain wrap Automerge's
/// decoding in `catch_unwind`, because Automerge 0.12 panics on some malformed changes) is how it
/// refuses such bytes, not a crash: libFuzzer's own hook would abort on it, so this one only
/// remembers the message, and a panic that escapes to here aborts with it.
pub fn run(f: impl FnOnce()) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    thread_local! {
        static LAST: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = format!("{info}\n{}", std::backtrace::Backtrace::capture());
            LAST.with(|l| *l.borrow_mut() = msg);
        }))
    });
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        LAST.with(|l| eprintln!("a panic escaped: {}", l.borrow()));
        std::process::abort();
    }
}

/// The CBOR sync messages, both ways: a request as the server decodes it, an answer as a device
/// decodes it. What decodes must encode and decode back to itself.
pub fn sync_message(data: &[u8]) {
    if let Ok(req) = kith_proto::decode::<SyncRequest>(data) {
        let again = kith_proto::encode(&req).expect("a decoded request encodes");
        assert_eq!(kith_proto::decode::<SyncRequest>(&again).expect("and decodes again"), req);
    }
    if let Ok(resp) = kith_proto::decode::<SyncResponse>(data) {
        let again = kith_proto::encode(&resp).expect("a decoded answer encodes");
        assert_eq!(kith_proto::decode::<SyncResponse>(&again).expect("and decodes again"), resp);
    }
}

/// A whole `POST /v1/sync` body from the worker's device, each document put through the server's
/// checks ([`kith_server::sync::check_push`]) against the world's state.
pub fn push_request(data: &[u8]) {
    let w = world();
    if let Ok(req) = kith_proto::decode::<SyncRequest>(data) {
        for push in req.docs.iter().take(8) {
            let (doc, kind) = w.state(push.id);
            let _ = kith_server::sync::check_push(doc, kind, &w.author, &w.actor, push);
        }
    }
}

/// Raw bytes as the server receives them in a push: as a change to the worker's shift, and as the
/// `save` of a new shift.
pub fn push_change(data: &[u8]) {
    let w = world();
    let as_change = DocPush {
        id: SHIFT,
        kind: Kind::Shift,
        have: hashes(&w.shift),
        changes: vec![ByteBuf::from(data.to_vec())],
        save: None,
        heads: vec![],
        vouch: None,
    };
    let _ = kith_server::sync::check_push(Some(&w.shift), Some(Kind::Shift), &w.author, &w.actor, &as_change);
    if data.len() <= kith_proto::MAX_SAVE_BYTES {
        let as_save = DocPush {
            id: NEW_SHIFT,
            kind: Kind::Shift,
            have: vec![],
            changes: vec![],
            save: Some(ByteBuf::from(data.to_vec())),
            heads: vec![],
            vouch: None,
        };
        let _ = kith_server::sync::check_push(None, None, &w.author, &w.actor, &as_save);
    }
}

/// The live channel as a device reads it: the bytes of `/v1/live`, cut in two chunks where the
/// first byte says, through the SSE parser the client uses and `kith_sync::live::parse`.
pub fn live_events(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = usize::from(cut).min(rest.len());
    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> =
        vec![Ok(rest[..cut].to_vec()), Ok(rest[cut..].to_vec())];
    use eventsource_stream::Eventsource as _;
    let events =
        futures_util::stream::iter(chunks).eventsource().collect::<Vec<_>>().now_or_never().expect("a ready stream");
    for e in events.into_iter().flatten() {
        let _ = kith_sync::live::parse(&e.event, &e.data);
    }
}

/// What a person pastes: a `kith://join` link, a name, an invite code (as the server hashes it).
pub fn join_link(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok((server, code)) = kith_client::local::parse_join_link(&s) {
        assert!(!server.is_empty() && !code.is_empty());
    }
    let _ = kith_client::local::join_name(&s);
    let _ = kith_server::auth::invite_hash(&s);
}

/// The device's store file, whatever bytes it holds: opened as the app opens it (refused with an
/// error, never a panic), and if it opens, its profile and every document read.
pub fn store_open(data: &[u8]) {
    thread_local! {
        // In memory where there is /dev/shm: the target opens a file per input.
        static DIR: tempfile::TempDir = tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("a temporary directory");
    }
    DIR.with(|dir| {
        let path = dir.path().join("kith.db");
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(dir.path().join(format!("kith.db{suffix}")));
        }
        std::fs::write(&path, data).expect("write the store file");
        let opts = kith_store::StoreOptions { background_compaction: false, ..Default::default() };
        if let Ok(mut store) = kith_store::Store::open_with(&path, opts) {
            let _ = kith_client::profile::read_profile(&store);
            let _ = kith_client::profile::read_link(&store);
            let _ = kith_client::profile::read_settings(&store);
            if let Ok(docs) = store.list_docs(None) {
                for d in docs.iter().take(16) {
                    let _ = store.doc(d.id);
                }
            }
        }
    });
}
