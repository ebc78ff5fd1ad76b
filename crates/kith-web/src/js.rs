//! Values across the boundary without `serde-wasm-bindgen` (its generic JS-value serialiser and
//! deserialiser cost the WebAssembly ~57 KB): plain values go through JSON text (`serde_json`,
//! already in the engine, with the page's own `JSON.parse`/`JSON.stringify`), and the byte fields
//! (documents, heads, sync bodies) are set and read by hand as `Uint8Array`, never as JSON arrays.
//! The objects the page sees are the same as before: `Effect`'s serde form, bytes as `Uint8Array`.

use js_sys::{Array, ArrayBuffer, JSON, Object, Reflect, Uint8Array};
use kith_core::Effect;
use kith_core::mem::{ChunkRecord, DocRecord, Records, SyncRecord, Write};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A value as the page's `JSON.parse` of its serde_json text (maps as objects, `None` as null).
pub fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    let text = serde_json::to_string(v).map_err(js_err)?;
    JSON::parse(&text).map_err(|_| JsError::new("the engine wrote JSON the page could not parse"))
}

/// A JS value read as a `T` through its JSON text (`undefined` reads as null).
pub fn from_js<T: DeserializeOwned>(v: &JsValue) -> Result<T, String> {
    if v.is_undefined() {
        return serde_json::from_str("null").map_err(|e| e.to_string());
    }
    let text = JSON::stringify(v).map_err(|_| "it is not plain JSON data".to_string())?;
    let text: String = text.into();
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Field `name` of `obj` (`undefined` when it is absent).
pub fn field(obj: &JsValue, name: &str) -> Result<JsValue, JsError> {
    Reflect::get(obj, &JsValue::from_str(name))
        .map_err(|_| JsError::new(&format!("could not read `{name}` of what the page sent")))
}

fn set(obj: &Object, name: &str, v: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &JsValue::from_str(name), v)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("could not set `{name}`")))
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn opt_bytes(b: Option<&Vec<u8>>) -> JsValue {
    b.map_or(JsValue::NULL, |b| bytes(b))
}

/// An object with these fields, in this order.
fn object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsError> {
    let o = Object::new();
    for (name, v) in fields {
        set(&o, name, v)?;
    }
    Ok(o.into())
}

#[allow(clippy::cast_precision_loss)]
fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

#[allow(clippy::cast_precision_loss)]
fn num64(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

#[allow(clippy::cast_precision_loss)]
fn numu64(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn write_to_js(w: &Write) -> Result<JsValue, JsError> {
    let s = |v: &str| JsValue::from_str(v);
    match w {
        Write::CreateDoc { id, kind, created_at_ms } => object(&[
            ("op", s("create_doc")),
            ("id", s(&id.to_string())),
            ("kind", s(kind)),
            ("created_at_ms", num64(*created_at_ms)),
        ]),
        Write::AppendChunk { id, n, bytes: b } => {
            object(&[("op", s("append_chunk")), ("id", s(&id.to_string())), ("n", num(*n)), ("bytes", bytes(b))])
        }
        Write::Compact { id, through, snapshot } => object(&[
            ("op", s("compact")),
            ("id", s(&id.to_string())),
            ("through", num(*through)),
            ("snapshot", bytes(snapshot)),
        ]),
        Write::SyncState { id, server_heads, vouch_heads, receipt } => object(&[
            ("op", s("sync_state")),
            ("id", s(&id.to_string())),
            ("server_heads", bytes(server_heads)),
            ("vouch_heads", opt_bytes(vouch_heads.as_ref())),
            ("receipt", opt_bytes(receipt.as_ref())),
        ]),
        Write::Meta { key, value } => object(&[("op", s("meta")), ("key", s(key)), ("value", s(value))]),
    }
}

/// The effects for the page: `Effect`'s serde form, except that a sync request travels as its
/// CBOR body (`body`, a `Uint8Array`) and a persist's byte fields are `Uint8Array`s.
pub fn effects_to_js(effects: &[Effect]) -> Result<JsValue, JsError> {
    let out = Array::new();
    for e in effects {
        let v = match e {
            Effect::Sync { task, server, request } => {
                let body = kith_proto::encode(request).map_err(js_err)?;
                object(&[
                    ("effect", JsValue::from_str("sync")),
                    ("task", numu64(*task)),
                    ("server", JsValue::from_str(server)),
                    ("body", bytes(&body)),
                ])?
            }
            Effect::Persist { task, writes } => {
                let ws = Array::new();
                for w in writes {
                    ws.push(&write_to_js(w)?);
                }
                object(&[("effect", JsValue::from_str("persist")), ("task", numu64(*task)), ("writes", ws.into())])?
            }
            other => to_js(other)?,
        };
        out.push(&v);
    }
    Ok(out.into())
}

/// A byte field: a `Uint8Array` (or `ArrayBuffer`); absent or null reads as `None`.
fn bytes_field(obj: &JsValue, name: &str) -> Result<Option<Vec<u8>>, JsError> {
    let v = field(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(Some(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return Ok(Some(Uint8Array::new(b).to_vec()));
    }
    Err(JsError::new(&format!("`{name}` is not a Uint8Array")))
}

fn plain<T: DeserializeOwned>(obj: &JsValue, name: &str, what: &str) -> Result<T, JsError> {
    from_js(&field(obj, name)?).map_err(|e| JsError::new(&format!("`{name}` of {what}: {e}")))
}

/// A plain field that may be absent (then its default).
fn plain_or_default<T: DeserializeOwned + Default>(obj: &JsValue, name: &str, what: &str) -> Result<T, JsError> {
    let v = field(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    from_js(&v).map_err(|e| JsError::new(&format!("`{name}` of {what}: {e}")))
}

fn list(obj: &JsValue, name: &str) -> Result<Vec<JsValue>, JsError> {
    let v = field(obj, name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(&v) {
        return Err(JsError::new(&format!("`{name}` is not an array")));
    }
    Ok(Array::from(&v).iter().collect())
}

/// What IndexedDB holds (`{docs, sync, meta}`, `kith_core::mem::Records`'s serde form, bytes as
/// `Uint8Array`), read field by field.
pub fn records_from_js(v: &JsValue) -> Result<Records, JsError> {
    let mut records = Records::default();
    for d in list(v, "docs")? {
        let mut chunks = Vec::new();
        for c in list(&d, "chunks")? {
            chunks.push(ChunkRecord {
                n: plain(&c, "n", "a chunk")?,
                bytes: bytes_field(&c, "bytes")?.ok_or_else(|| JsError::new("a chunk has no `bytes`"))?,
            });
        }
        records.docs.push(DocRecord {
            id: plain(&d, "id", "a document")?,
            kind: plain(&d, "kind", "a document")?,
            created_at_ms: plain(&d, "created_at_ms", "a document")?,
            snapshot: bytes_field(&d, "snapshot")?.unwrap_or_default(),
            through: plain_or_default(&d, "through", "a document")?,
            chunks,
        });
    }
    for s in list(v, "sync")? {
        records.sync.push(SyncRecord {
            id: plain(&s, "id", "a sync state")?,
            server_heads: bytes_field(&s, "server_heads")?.unwrap_or_default(),
            vouch_heads: bytes_field(&s, "vouch_heads")?,
            receipt: bytes_field(&s, "receipt")?,
        });
    }
    records.meta = plain_or_default(v, "meta", "the records")?;
    Ok(records)
}
