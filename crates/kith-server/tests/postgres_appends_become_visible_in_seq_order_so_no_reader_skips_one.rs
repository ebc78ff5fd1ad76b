//! PostgreSQL hands out sequence numbers before commit and commits out of order: with a plain
//! sequence, an append that took seq 11 and commits after one that took seq 12 would be skipped
//! by every reader that had already passed 12. The backend takes seqs from a counter row in the
//! storing transaction instead: an append in flight holds it, a second append waits for it to
//! commit, so seqs become visible in seq order (the storage contract's seq rule).
//!
//! Needs a PostgreSQL cluster: `KITH_TEST_DATABASE_URL` (scripts/lib/postgres.sh starts one;
//! scripts/test.sh runs this with it). Without one the test says so and does nothing.

use kith_domain::TeamId;
use kith_proto::Kind;
use kith_server::storage::postgres::PgStorage;
use kith_server::storage::{AppendChanges, DocMeta, NewChange, Storage};
use kith_server::testing::Backend;
use tokio_postgres::NoTls;
use uuid::Uuid;

fn batch(team: TeamId, tag: &str) -> AppendChanges {
    AppendChanges {
        meta: DocMeta { id: Uuid::now_v7(), team, kind: Kind::Team, owner: None },
        create: true,
        changes: vec![NewChange { hash: tag.as_bytes().to_vec(), bytes: vec![1, 2, 3], actor: vec![9], device: None }],
        received_at: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_committed_after_a_later_one_started_is_seen_before_it() {
    let Some(cluster) = Backend::postgres_from_env() else {
        eprintln!("KITH_TEST_DATABASE_URL is not set: no PostgreSQL to test (scripts/lib/postgres.sh starts one)");
        return;
    };
    let Backend::Postgres { url } = cluster.fresh().await else { unreachable!() };
    let storage = PgStorage::open(&url, 4).await.unwrap();
    let team = TeamId::new();
    storage.append_changes(batch(team, "before")).await.unwrap();
    let cursor = storage.max_seq().await.unwrap();

    // Append A is in flight: it has taken its seq (exactly as the backend does) but not committed.
    let (mut a, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let a = a.transaction().await.unwrap();
    let seq_a: i64 =
        a.query_one("UPDATE seq_counter SET last = last + 1 WHERE id = 1 RETURNING last", &[]).await.unwrap().get(0);
    let doc_a = Uuid::now_v7().to_string();
    a.execute(
        "INSERT INTO changes (seq, doc_id, team_id, kind, owner, hash, bytes, actor, device_id, received_at)
         VALUES ($1, $2, $3, 'team', NULL, 'a', 'a', 'a', NULL, 0)",
        &[&seq_a, &doc_a, &team.to_string()],
    )
    .await
    .unwrap();
    a.execute(
        "INSERT INTO docs (id, team_id, kind, owner, first_seq) VALUES ($1, $2, 'team', NULL, $3)",
        &[&doc_a, &team.to_string(), &seq_a],
    )
    .await
    .unwrap();
    a.batch_execute("NOTIFY kith_changes").await.unwrap();

    // Append B starts after A took its seq.
    let storage = std::sync::Arc::new(storage);
    let s = storage.clone();
    let b = tokio::spawn(async move { s.append_changes(batch(team, "b")).await });

    // B waits for A's counter row (watched in the database, not timed).
    let (watch, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    loop {
        let waiting: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(!b.is_finished(), "append B committed while A, which took an earlier seq, was in flight");
        tokio::task::yield_now().await;
    }
    // Meanwhile no reader sees anything after the cursor: not B without A.
    assert_eq!(storage.max_seq().await.unwrap(), cursor);
    assert!(storage.stored_since(cursor, 10).await.unwrap().is_empty());

    a.commit().await.unwrap();
    let seqs_b = b.await.unwrap().unwrap();
    assert!(seqs_b[0] > seq_a as u64, "B's seq {:?} comes after A's {seq_a}", seqs_b);

    // A reader from the cursor sees A, then B: none skipped.
    let seen: Vec<u64> = storage.stored_since(cursor, 10).await.unwrap().iter().map(|c| c.seq).collect();
    assert_eq!(seen, vec![seq_a as u64, seqs_b[0]]);
    // And the change log (what the live channel and the deadline engine follow) holds both.
    let mut committed = storage.committed();
    committed.wait_for(|s| *s >= seqs_b[0]).await.unwrap();
    storage.close().await;
}
