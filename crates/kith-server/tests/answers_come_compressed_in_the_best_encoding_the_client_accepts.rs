//! Answers over 1 KiB are compressed in the best encoding the client accepts: zstd (what the
//! devices' HTTP client and current browsers accept; about 10% fewer bytes than gzip for a new
//! device's catch-up, docs/benchmarks.md section 3), else gzip, else as they are. The body is the
//! same whichever way it travels. A smaller answer (a check-in's sync) goes as it is, in one piece
//! with its length: no encoder, no chunked framing.

use crate::common;
use common::*;
use kith_domain::CheckInStatus;
use kith_server::testing::TestServer;

#[tokio::test]
async fn the_best_accepted_encoding_is_used_and_the_body_is_the_same() {
    let server = TestServer::start().await;
    let url = server.url("/openapi.json");
    // Sees the bytes as sent.
    let raw = common::client().no_gzip().no_zstd().build().unwrap();
    let plain = raw.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none(), "no accept-encoding: sent as it is");
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 1024, "the document must be large enough to be compressed");

    for (accept, expected) in
        [("zstd", "zstd"), ("gzip, zstd", "zstd"), ("gzip", "gzip"), ("gzip;q=1, zstd;q=0.5", "gzip")]
    {
        let resp = raw.get(&url).header("accept-encoding", accept).send().await.unwrap();
        assert_eq!(resp.headers()["content-encoding"], expected, "accept-encoding {accept:?}");
        let sent = resp.bytes().await.unwrap();
        assert!(sent.len() < plain.len() / 2, "{expected} makes it smaller: {} of {}", sent.len(), plain.len());
    }

    // A client that decodes (the devices' own) reads exactly the plain body.
    let decoding = common::client().no_gzip().build().unwrap();
    let resp = decoding.get(&url).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap(), plain);
}

#[tokio::test]
async fn a_checkins_small_answer_goes_as_it_is_with_its_length() {
    let server = TestServer::start().await;
    let (_lead, mut alice) = team_of_two(&server).await;
    let shift = alice.start_shift();
    alice.sync().await;
    alice.checkin(shift, CheckInStatus::Ok, 10);
    let body = kith_proto::encode(&alice.request(vec![alice.push_for(shift.uuid())])).unwrap();
    let raw = common::client().no_gzip().no_zstd().build().unwrap();
    let resp = raw
        .post(server.url("/v1/sync"))
        .bearer_auth(&alice.token)
        .header("content-type", kith_proto::CONTENT_TYPE)
        .header("accept-encoding", "zstd, gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(h.get("content-encoding").is_none(), "under 1 KiB: not compressed ({h:?})");
    assert!(h.get("transfer-encoding").is_none(), "not chunked ({h:?})");
    let length: usize = h["content-length"].to_str().unwrap().parse().unwrap();
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(length, bytes.len());
    assert!(length < 1024, "a check-in's answer is small: {length} bytes");
    let answer: kith_proto::SyncResponse = kith_proto::decode(&bytes).unwrap();
    assert_eq!(answer.docs[0].outcome, kith_proto::Outcome::Accepted);
}
