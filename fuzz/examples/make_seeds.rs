//! Writes the seed corpora (fuzz/seeds/<target>/): small valid inputs for each target, built from
//! the same fixed world, and a few broken ones. Run from the repository's root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use automerge::Automerge;
use kith_domain::doc::shift;
use kith_domain::*;
use kith_fuzz::*;
use kith_proto::{Cursor, DocPush, Kind, SyncRequest};
use serde_bytes::ByteBuf;
use uuid::Uuid;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let w = world();
    // A new check-in on the worker's shift, after the heads the targets hold.
    let mut doc = w.shift.fork().with_actor(worker_actor());
    let before = doc.get_heads();
    edit(&mut doc, |tx| {
        shift::add_checkin(tx, &a_checkin(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0010), 50))
    });
    let change = doc.get_changes(&before)[0].raw_bytes().to_vec();
    // A new shift, whole.
    let mut new = Automerge::new().with_actor(worker_actor());
    edit(&mut new, |tx| shift::init(tx, &a_shift(NEW_SHIFT)));
    edit(&mut new, |tx| {
        shift::add_checkin(tx, &a_checkin(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0011), 5))
    });
    let save = new.save();
    // A lead's ack, which the worker may not write.
    let mut acked = w.shift.fork().with_actor(worker_actor());
    edit(&mut acked, |tx| {
        shift::add_ack(
            tx,
            &Ack {
                id: AckId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0012)),
                checkin: CheckInId(CHECKIN),
                by: MemberId(LEAD),
                at: Timestamp(T0),
                reply: Some("seen".into()),
            },
        )
    });
    let ack = acked.get_changes(&w.shift.get_heads())[0].raw_bytes().to_vec();

    let push = |changes: Vec<Vec<u8>>, save: Option<Vec<u8>>, id, have| DocPush {
        id,
        kind: Kind::Shift,
        have,
        changes: changes.into_iter().map(ByteBuf::from).collect(),
        save: save.map(ByteBuf::from),
        heads: vec![],
        vouch: None,
    };
    let request =
        |docs| SyncRequest { protocol: 2, client_time: T0, cursor: Some(Cursor { seq: 3, hash: None }), docs };
    let requests = [
        ("checkin", request(vec![push(vec![change.clone()], None, SHIFT, hashes(&w.shift))])),
        ("new_shift_save", request(vec![push(vec![], Some(save.clone()), NEW_SHIFT, vec![])])),
        ("forged_ack", request(vec![push(vec![ack.clone()], None, SHIFT, hashes(&w.shift))])),
        ("pull", request(vec![])),
    ];
    for (name, req) in &requests {
        let bytes = kith_proto::encode(req).unwrap();
        write("push_request", name, &bytes);
        write("sync_message", name, &bytes);
    }
    write("push_change", "checkin", &change);
    write("push_change", "save", &save);
    write("push_change", "forged_ack", &ack);

    let live = [
        ("changed", format!("event: changed\ndata: {{\"docs\":[\"{SHIFT}\"]}}\n\n")),
        (
            "presence",
            format!(
                "event: presence\ndata: {{\"member_id\":\"{WORKER}\",\"online\":true,\"last_seen\":{T0}}}\n\n:keep-alive\n\n"
            ),
        ),
        (
            "alert",
            "event: alert\ndata: {\"action\":\"step\",\"alert\":{\"id\":1}}\n\nevent: kudos\ndata: {}\n\n".to_string(),
        ),
        (
            "multiline",
            "id: 7\nretry: 100\nevent: changed\ndata: {\"docs\":\ndata: [], \"all\": true}\r\n\r\n".to_string(),
        ),
    ];
    for (name, text) in live {
        let mut bytes = vec![17u8];
        bytes.extend_from_slice(text.as_bytes());
        write("live_events", name, &bytes);
    }

    for (name, text) in [
        ("link", "kith://join?server=https%3A%2F%2Fkith.example.org&code=KX7P-2MRA-9QZT-4HWC"),
        ("link_slash", "kith://join/?code=kx7p2mra9qzt4hwc&server=http://127.0.0.1:8080"),
        ("code", " kx7p 2mra-9qzt 4hwc "),
        ("name", "Alice Smith"),
    ] {
        write("join_link", name, text.as_bytes());
    }

    // A store as a device leaves it: the worker's shift in it, closed cleanly.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kith.db");
    {
        let opts = kith_store::StoreOptions { background_compaction: false, ..Default::default() };
        let mut store = kith_store::Store::open_with(&path, opts).unwrap();
        store.meta_set("profile", "{\"version\":1}").unwrap();
        store.apply_remote(SHIFT, "shift", &w.shift.save()).unwrap();
    }
    write("store_open", "store", &std::fs::read(&path).unwrap());
    write("store_open", "empty", b"");
    write("store_open", "not_sqlite", b"SQLite format 2\0 this is not a database");
}
