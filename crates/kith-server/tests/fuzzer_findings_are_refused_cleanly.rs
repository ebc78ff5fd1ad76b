//! Inputs the fuzzers (fuzz/, docs/reliability.md) found, pushed to a real server: each is refused
//! with a clear per-document answer, quickly, and the server stays up.

use crate::common;
use common::*;
use kith_proto::{DocPush, Kind, RejectCode};
use kith_server::testing::TestServer;
use serde_bytes::ByteBuf;

/// 261 bytes that are an Automerge "bundle" chunk whose id column is a delta run of 2^28 values:
/// Automerge 0.12's `Change::from_bytes` accepts bundles and expanded it to more than 8 GB (found by
/// fuzz target push_change). Kith devices never send bundles; the server refuses any chunk but a
/// change (or a document, in `save`) before Automerge parses it.
#[tokio::test]
async fn a_bundle_bomb_pushed_as_a_change_or_a_save_is_malformed() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    let bomb = include_bytes!("../../../fuzz/seeds/push_change/automerge-bundle-bomb").to_vec();

    let mut as_change = alice.push_for(shift.uuid());
    as_change.changes = vec![ByteBuf::from(bomb.clone())];
    let as_save = DocPush {
        id: uuid::Uuid::now_v7(),
        kind: Kind::Shift,
        have: vec![],
        changes: vec![],
        save: Some(ByteBuf::from(bomb)),
        heads: vec![],
        vouch: None,
    };
    for push in [as_change, as_save] {
        let resp = alice.send(&alice.request(vec![push])).await;
        assert_eq!(code_of(&resp.docs[0].outcome), Some(RejectCode::Malformed), "{:?}", resp.docs[0].outcome);
    }
    let health = reqwest::get(server.url("/healthz")).await.expect("the server is up");
    assert_eq!(health.status(), 200);
}
