//! Credentials: device bearer tokens and invite codes, both stored only as SHA-256 hashes.
//!
//! Tokens are 32 random bytes (base64url): far too much entropy to guess, so a fast hash is
//! enough. Invite codes are shorter (80 bits), so redeeming them is rate-limited.

use base64::Engine;
use sha2::{Digest, Sha256};

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A new device token: 32 random bytes, base64url without padding.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The hash a token is stored and looked up by.
pub fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.trim().as_bytes())
}

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

/// A new invite code like `KX7P-2MRA-9QZT-4HWC` (16 characters from an unambiguous alphabet).
pub fn new_invite_code() -> String {
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let n = rand::random_range(0..CODE_ALPHABET.len());
        out.push(char::from(CODE_ALPHABET[n]));
    }
    out
}

/// The hash an invite code is stored by: case, spaces and dashes do not matter.
pub fn invite_hash(code: &str) -> Vec<u8> {
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    sha256(norm.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_and_tokens_are_long() {
        let code = new_invite_code();
        assert_eq!(code.len(), 19);
        assert_eq!(invite_hash(&code), invite_hash(&code.to_lowercase().replace('-', " ")));
        assert_eq!(new_token().len(), 43);
        assert_ne!(new_token(), new_token());
    }
}
