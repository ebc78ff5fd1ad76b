//! Helpers shared by the integration tests: a check-in shaped like the real one.
#![allow(dead_code, clippy::unwrap_used)]

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjType, ROOT, ReadDoc, Value};
use kith_store::{Store, StoreOptions};
use uuid::Uuid;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn no_background() -> StoreOptions {
    StoreOptions { background_compaction: false, ..StoreOptions::default() }
}

/// Adds a check-in map (10 fields) under `checkins/<id>`.
pub fn add_checkin(tx: &mut Transaction<'_>, id: &str, i: i64) -> Result<(), BoxError> {
    let checkins = match tx.get(ROOT, "checkins")? {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, "checkins", ObjType::Map)?,
    };
    let c = tx.put_object(&checkins, id, ObjType::Map)?;
    tx.put(&c, "id", id)?;
    tx.put(&c, "status", if i % 7 == 0 { "support" } else { "ok" })?;
    tx.put(&c, "mood", i % 5)?;
    tx.put(&c, "confidence", (i + 2) % 5)?;
    tx.put(&c, "note", format!("all quiet at site {i}, heading to the next visit"))?;
    tx.put(&c, "visibility", "team")?;
    tx.put(&c, "device_time_ms", 1_790_000_000_000_i64 + i * 60_000)?;
    tx.put(&c, "author", "worker-3f2a")?;
    tx.put(&c, "location", "none")?;
    tx.put(&c, "seq", i)?;
    Ok(())
}

/// The ids of all check-ins in a document.
pub fn checkin_ids(doc: &Automerge) -> Vec<String> {
    match doc.get(ROOT, "checkins").unwrap() {
        Some((Value::Object(ObjType::Map), obj)) => doc.keys(&obj).collect(),
        _ => Vec::new(),
    }
}

/// Creates a shift document holding `n` check-ins, one change each.
pub fn shift_with_checkins(store: &mut Store, n: i64) -> Uuid {
    let id = Uuid::new_v4();
    store
        .create_doc(id, "shift", |tx| -> Result<(), BoxError> {
            tx.put(ROOT, "purpose", "meter readings")?;
            Ok(())
        })
        .unwrap();
    for i in 0..n {
        store.change_doc(id, |tx| add_checkin(tx, &format!("c{i}"), i)).unwrap();
    }
    id
}
