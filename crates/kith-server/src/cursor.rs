//! Feed cursors as devices hold them: sealed, so nothing about other teams can be read from
//! them or learnt through them (docs/protocol.md, *The feed*).
//!
//! The feed's position is the server-wide seq of the last change covered and that change's hash
//! (any team's: a restored backup is detected by the hash). Handed out plainly, the seq counts
//! every team's changes and the hash is another team's change; sent back, `{seq, hash}` tells
//! whether that hash is stored at that seq. So the server hands out
//! `Cursor { seq: SEALED, hash: token }`, the token being the position encrypted and authenticated
//! (ChaCha20-Poly1305, `ring`) under a key derived from the server's secret, bound to the device's
//! team. A token that does not open for the caller's team (forged, another team's, another
//! server's) is a cursor this server does not know: `reset`, the same answer whatever it holds.
//! The nonce is derived from the position and team (a synthetic IV): the same position gives the
//! same cursor, and a nonce is only ever reused for the very same plaintext.

use hmac::{Hmac, Mac};
use kith_domain::TeamId;
use kith_proto::Cursor;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde_bytes::ByteBuf;

/// The `seq` of every sealed cursor: the real one is inside the token.
pub const SEALED: u64 = 1;

/// Bytes of a change hash (a cursor from before sealing carries one in the clear).
const HASH_LEN: usize = 32;

/// Seals and opens cursors under keys derived from the server's secret.
pub struct CursorKey {
    aead: LessSafeKey,
    nonce_key: Vec<u8>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

fn derive(secret: &[u8], label: &[u8]) -> Vec<u8> {
    match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(label);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length.
        Err(_) => vec![0; 32],
    }
}

/// What a device's cursor says, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// No cursor (or seq 0): the feed from the beginning.
    Start,
    /// A cursor this server sealed for the caller's team: the seq and the hash stored there then.
    At { seq: u64, hash: Option<Vec<u8>> },
    /// A plain `{seq, hash}` cursor handed out before cursors were sealed.
    Plain { seq: u64, hash: Vec<u8> },
    /// Anything else: not a cursor of this server for this team.
    Unknown,
}

impl CursorKey {
    pub fn new(secret: &[u8]) -> Result<CursorKey, crate::error::ServerError> {
        let key = derive(secret, b"kith-cursor-key-v1");
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| crate::error::ServerError::Internal("the cursor key could not be made".into()))?;
        Ok(CursorKey { aead: LessSafeKey::new(unbound), nonce_key: derive(secret, b"kith-cursor-nonce-v1") })
    }

    fn aad(team: TeamId) -> Vec<u8> {
        let mut aad = b"kith-cursor-v1".to_vec();
        aad.extend_from_slice(team.uuid().as_bytes());
        aad
    }

    /// The cursor a device of `team` gets for feed position `seq` (the change stored there has `hash`).
    pub fn seal(&self, team: TeamId, seq: u64, hash: &[u8]) -> Cursor {
        let mut plain = seq.to_be_bytes().to_vec();
        plain.extend_from_slice(hash);
        let aad = Self::aad(team);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&derive(&self.nonce_key, &[aad.as_slice(), &plain].concat())[..NONCE_LEN]);
        let mut sealed = plain;
        if self.aead.seal_in_place_append_tag(Nonce::assume_unique_for_key(n), Aad::from(&aad), &mut sealed).is_err() {
            // Only for inputs far beyond a cursor's size: the feed from the start is always safe.
            return Cursor { seq: 0, hash: None };
        }
        let mut token = n.to_vec();
        token.extend_from_slice(&sealed);
        Cursor { seq: SEALED, hash: Some(ByteBuf::from(token)) }
    }

    /// Reads a device's cursor for a device of `team`.
    pub fn open(&self, team: TeamId, cursor: Option<&Cursor>) -> Position {
        let Some(c) = cursor else { return Position::Start };
        if c.seq == 0 {
            return Position::Start;
        }
        let Some(token) = c.hash.as_ref() else { return Position::Unknown };
        if c.seq != SEALED && token.len() == HASH_LEN {
            return Position::Plain { seq: c.seq, hash: token.to_vec() };
        }
        if c.seq != SEALED || token.len() < NONCE_LEN + 8 {
            return Position::Unknown;
        }
        let (n, sealed) = token.split_at(NONCE_LEN);
        let Ok(nonce) = Nonce::try_assume_unique_for_key(n) else { return Position::Unknown };
        let mut buf = sealed.to_vec();
        let Ok(plain) = self.aead.open_in_place(nonce, Aad::from(Self::aad(team)), &mut buf) else {
            return Position::Unknown;
        };
        let Some((seq, hash)) = plain.split_first_chunk::<8>() else { return Position::Unknown };
        Position::At { seq: u64::from_be_bytes(*seq), hash: (!hash.is_empty()).then(|| hash.to_vec()) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_cursor_opens_only_for_its_team_and_server_and_says_nothing_in_the_clear() {
        let key = CursorKey::new(b"the server's secret").unwrap();
        let (team, other) = (TeamId::new(), TeamId::new());
        let c = key.seal(team, 1234, &[9; 32]);
        assert_eq!(c.seq, SEALED);
        let token = c.hash.clone().unwrap();
        assert!(!token.windows(32).any(|w| w == [9; 32]), "the hash is not in the clear");
        assert!(!token.windows(8).any(|w| w == 1234u64.to_be_bytes()), "nor the seq");
        assert_eq!(key.open(team, Some(&c)), Position::At { seq: 1234, hash: Some(vec![9; 32]) });
        assert_eq!(key.seal(team, 1234, &[9; 32]), c, "the same position, the same cursor");
        assert_eq!(key.open(other, Some(&c)), Position::Unknown);
        assert_eq!(CursorKey::new(b"another server").unwrap().open(team, Some(&c)), Position::Unknown);
        let mut flipped = token.to_vec();
        flipped[20] ^= 1;
        let forged = Cursor { seq: SEALED, hash: Some(ByteBuf::from(flipped)) };
        assert_eq!(key.open(team, Some(&forged)), Position::Unknown);
        assert_eq!(key.open(team, None), Position::Start);
        let plain = Cursor { seq: 77, hash: Some(ByteBuf::from(vec![1; 32])) };
        assert_eq!(key.open(team, Some(&plain)), Position::Plain { seq: 77, hash: vec![1; 32] });
    }
}
