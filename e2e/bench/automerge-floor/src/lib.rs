//! The Automerge floor: every Automerge operation the engine (kith-core, kith-domain) calls,
//! and nothing else, so the module's size is what Automerge alone costs.
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ReadDoc, ScalarValue, ROOT};
use wasm_bindgen::prelude::*;

fn heads(b: &[u8]) -> Vec<ChangeHash> {
    b.chunks(32).filter_map(|c| ChangeHash::try_from(c).ok()).collect()
}

#[wasm_bindgen]
pub fn exercise(doc: &[u8], more: &[u8], change: &[u8], h: &[u8], key: &str, n: i64) -> Vec<u8> {
    let Ok(mut d) = Automerge::load(doc) else { return vec![] };
    let _ = d.load_incremental(more);
    if let Ok(c) = Change::from_bytes(change.to_vec()) {
        let x = c.decode();
        if x.operations.len() as i64 == n {
            return c.raw_bytes().to_vec();
        }
        let _ = d.apply_changes([c]);
    }
    let hs = heads(h);
    let mut out = d.save_after(&hs);
    for c in d.get_changes(&hs) {
        out.extend_from_slice(c.raw_bytes());
    }
    for m in d.get_missing_deps(&hs) {
        out.extend_from_slice(m.as_ref());
    }
    if let Some(c) = hs.first().and_then(|x| d.get_change_by_hash(x)) {
        out.extend_from_slice(c.raw_bytes());
    }
    let mut f = d.fork().with_actor(ActorId::from(key.as_bytes()));
    let mut tx = f.transaction();
    let _ = tx.put(ROOT, key, n);
    let _ = tx.put(ROOT, "s", key);
    if let Ok(m) = tx.put_object(ROOT, "m", ObjType::Map) {
        let _ = tx.put(&m, "b", ScalarValue::Boolean(n > 0));
        if let Ok(l) = tx.put_object(&m, "l", ObjType::List) {
            let _ = tx.insert(&l, 0, n as f64);
            let _ = tx.insert_object(&l, 0, ObjType::Map);
            let _ = tx.delete(&l, 1);
        }
    }
    tx.commit();
    f.set_actor(ActorId::random());
    if let Some(c) = f.get_last_local_change() {
        out.extend_from_slice(c.raw_bytes());
    }
    for k in f.keys(ROOT) {
        out.extend_from_slice(k.as_bytes());
    }
    for (p, v) in f.get(ROOT, key).ok().flatten().into_iter() {
        out.push(p.is_object() as u8);
        out.extend_from_slice(v.to_string().as_bytes());
    }
    for item in f.values(ROOT) {
        out.push(item.0.is_object() as u8);
    }
    out.push(f.length(ROOT) as u8);
    for h in f.get_heads() {
        out.extend_from_slice(h.as_ref());
    }
    let _ = f.transact::<_, _, automerge::AutomergeError>(|t| {
        t.put(ROOT, "t", 1)?;
        Ok(())
    });
    out.extend(f.save());
    out
}
