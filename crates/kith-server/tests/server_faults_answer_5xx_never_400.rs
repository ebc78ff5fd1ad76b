//! A fault on the server's side is a 5xx, never a 400, so a client (and an operator reading the
//! logs) can tell our mistake from theirs: here a stored team document that cannot be read. The
//! answer says it is the server's fault and that retrying later may help.

use crate::common;
use automerge::ReadDoc;
use automerge::transaction::Transactable;
use common::*;
use kith_proto::{ApiError, Kind};
use kith_server::storage::{AppendChanges, DocMeta, NewChange};
use kith_server::testing::TestServer;

#[tokio::test]
async fn an_unreadable_team_document_is_a_server_error() {
    let server = TestServer::start().await;
    let (lead, _alice) = team_of_two(&server).await;
    // Damage the stored team document behind the server's back (as a bad migration or a bug would).
    let mut doc = server_doc(&server, lead.team.uuid()).await.unwrap();
    doc.set_actor(automerge::ActorId::random());
    doc.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(automerge::ROOT, "schema", "kith.nonsense")).unwrap();
    assert_eq!(doc.get(automerge::ROOT, "schema").unwrap().unwrap().0.to_string(), "\"kith.nonsense\"");
    let change = doc.get_last_local_change().unwrap().clone();
    let meta = DocMeta { id: lead.team.uuid(), team: lead.team, kind: Kind::Team, owner: None };
    server
        .storage()
        .append_changes(AppendChanges {
            meta,
            create: false,
            changes: vec![NewChange {
                hash: change.hash().0.to_vec(),
                bytes: change.raw_bytes().to_vec(),
                actor: change.actor_id().to_bytes().to_vec(),
                device: None,
            }],
            received_at: server.now(),
        })
        .await
        .unwrap();
    server.app().docs.cache.clear();

    // (The deadline engine keeps escalating with the last readable roster: `/v1/alerts` still answers.)
    for path in ["/v1/board", "/v1/me", "/v1/health"] {
        let resp = lead.get(path).await;
        let status = resp.status().as_u16();
        let e: ApiError = resp.json().await.unwrap();
        assert_eq!(status, 500, "{path}: {e:?}");
        assert_eq!(e.code, "server_error", "{path}");
        assert!(e.retryable, "{path}");
    }
}
