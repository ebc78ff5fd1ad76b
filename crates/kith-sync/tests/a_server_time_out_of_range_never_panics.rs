//! The device measures its clock offset from the server's answer; an answer carrying a nonsense
//! `server_time` (a broken server, a proxy) must not make that arithmetic overflow (a panic in a
//! debug build): the offset saturates.
#![allow(clippy::unwrap_used)]

use kith_proto::{Cursor, SyncResponse};
use kith_store::Store;

#[test]
fn an_answer_dated_at_the_end_of_time_saturates_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("kith.db")).unwrap();
    let req = kith_sync::prepare(&mut store, 1_800_000_000_000).unwrap();
    for (server_time, expected) in
        [(i64::MIN, i64::MIN), (i64::MAX, i64::MAX - 1_800_000_001_000), (1_800_000_003_000, 2_000)]
    {
        let resp = SyncResponse {
            protocol: kith_proto::PROTOCOL_VERSION,
            server_time,
            docs: vec![],
            feed: vec![],
            cursor: Cursor { seq: 0, hash: None },
            more: false,
            reset: false,
        };
        let out = kith_sync::absorb(&mut store, &req, &resp, 1_800_000_000_000, 1_800_000_002_000).unwrap();
        assert_eq!(out.clock_offset_ms, expected, "server time {server_time}");
    }
}
