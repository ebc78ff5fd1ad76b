//! Strict parsing of Automerge bytes received from elsewhere.
//!
//! `Automerge::load_incremental` silently ignores a damaged tail, so received bytes are split
//! into chunks here and every chunk must decode, or the whole input is refused.

use automerge::{Automerge, Change, ChangeHash};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;

fn read_uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        value |= part.checked_shl(7 * u32::try_from(i).ok()?)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The heads of a set of changes: those no other change of the set depends on, sorted.
pub fn heads_of(changes: &[Change]) -> Vec<ChangeHash> {
    let deps: std::collections::HashSet<ChangeHash> = changes.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let mut heads: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).filter(|h| !deps.contains(h)).collect();
    heads.sort();
    heads.dedup();
    heads
}

/// Splits `bytes` into Automerge chunks and decodes every change in them.
pub fn parse_changes(bytes: &[u8]) -> Result<Vec<Change>, String> {
    if bytes.is_empty() {
        return Err("no data".to_string());
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut index = 0usize;
    while !rest.is_empty() {
        let at = bytes.len() - rest.len();
        if rest.len() < 9 || rest[..4] != MAGIC {
            return Err(format!("chunk {index} at byte {at} does not start with the Automerge magic bytes"));
        }
        let kind = rest[8];
        let (len, len_size) = read_uleb(&rest[9..]).ok_or_else(|| format!("chunk {index} has a bad length"))?;
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(9 + len_size))
            .filter(|t| *t <= rest.len())
            .ok_or_else(|| format!("chunk {index} is truncated"))?;
        let chunk = &rest[..total];
        match kind {
            DOCUMENT => {
                let doc = Automerge::load(chunk).map_err(|e| format!("document chunk {index}: {e}"))?;
                out.extend(doc.get_changes(&[]));
            }
            CHANGE | COMPRESSED_CHANGE => {
                let change = Change::try_from(chunk).map_err(|e| format!("change chunk {index}: {e}"))?;
                if kind == CHANGE && change.hash().0[..4] != chunk[4..8] {
                    return Err(format!("change chunk {index} has a bad checksum"));
                }
                out.push(change);
            }
            other => return Err(format!("chunk {index} has unsupported type {other}")),
        }
        rest = &rest[total..];
        index += 1;
    }
    Ok(out)
}
