//! An edit from the console that changes nothing (`PUT /v1/members/{id}` with no field, or the very
//! values the member already has; the same policy again) answers 200 with the team as it is and
//! stores nothing. Found by schemathesis (scripts/suites/api.sh): after any earlier edit by the
//! server, `{}` answered 503 `storage_unavailable` — the empty transaction made no change, and the
//! server took its *previous* change for the new one and stored it a second time.

use crate::common;
use common::*;
use kith_server::testing::TestServer;
use serde_json::{Value, json};

#[tokio::test]
async fn an_edit_that_changes_nothing_stores_nothing_and_answers_200() {
    let server = TestServer::start().await;
    let (sam, alice) = team_of_two(&server).await;
    let path = format!("/v1/members/{}", alice.member);
    // A first edit: the server writes a change of its own into the team document.
    let r = sam.put_json(&path, json!({"phone": "+44 7700 900123"})).await;
    assert_eq!(r.status(), 200);
    let seq = max_seq(&server).await;
    let before: Value = sam.get_json("/v1/team").await.1;
    for (who, body) in [
        (&sam, json!({})),
        (&sam, json!({"phone": "+44 7700 900123"})),
        (&alice, json!({})),
        (&alice, json!({"buddies": []})),
    ] {
        let r = who.put_json(&path, body.clone()).await;
        assert_eq!(r.status(), 200, "{body}: {}", r.text().await.unwrap_or_default());
        let t: Value = r.json().await.unwrap();
        assert_eq!(t["members"], before["members"], "{body}");
    }
    let policy = before["policy"].clone();
    let r = sam.put_json("/v1/team/policy", policy.clone()).await;
    assert_eq!(r.status(), 200, "the same policy again");
    assert_eq!(max_seq(&server).await, seq, "nothing stored");
}
