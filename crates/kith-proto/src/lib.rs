//! The Kith sync protocol, version 2: the types both the client engine and the team server speak,
//! and their CBOR encoding. No IO. See docs/protocol.md for the exchange and its guarantees.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// The protocol version this build speaks. Servers answer 426 to a request with a version outside
/// [`OLDEST_PROTOCOL_VERSION`]`..=PROTOCOL_VERSION`, and answer in the request's version.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest protocol version servers of this build still answer. Version 2 added
/// [`DocPush::save`] and [`FeedDoc`]s without heads; a version 1 request never gets the latter.
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;
/// The largest [`DocPush::save`] a server takes (bytes); a bigger document is pushed as changes.
pub const MAX_SAVE_BYTES: usize = 64 * 1024;
/// Content type of sync request and response bodies.
pub const CONTENT_TYPE: &str = "application/cbor";

/// An Automerge change hash (32 bytes).
pub type Hash = ByteBuf;

/// What kind of document a document is (mirrors the root `schema` of Kith documents).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Shift,
    Team,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shift => "shift",
            Kind::Team => "team",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "shift" => Some(Kind::Shift),
            "team" => Some(Kind::Team),
            _ => None,
        }
    }
}

/// A position in the server's feed of stored changes: the sequence number of the last change the
/// client has applied, and that change's hash, so a server restored from an older backup (whose
/// sequence numbers have been reused) is detected instead of silently skipping changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub seq: u64,
    pub hash: Option<Hash>,
}

/// One sync exchange: `POST /v1/sync` with a CBOR body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub protocol: u32,
    /// The device's clock when it sent the request (ms since the epoch), for the offset estimate.
    pub client_time: i64,
    /// Where in the feed the client is; `None` for a device that has never synced.
    pub cursor: Option<Cursor>,
    /// Documents with changes to push, or whose state the client wants checked.
    pub docs: Vec<DocPush>,
}

/// One document in a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocPush {
    pub id: Uuid,
    pub kind: Kind,
    /// The server heads the client last saw for this document (empty: never synced).
    pub have: Vec<Hash>,
    /// The client's changes since `have`, each the raw bytes of one Automerge change.
    pub changes: Vec<ByteBuf>,
    /// (Version 2.) The whole document, as one Automerge `save()`, in place of its changes: for a
    /// document the server has not seen (`have` empty), it is smaller than its changes one by
    /// one. The server takes every change in it exactly as if it had been sent in `changes`. At
    /// most [`MAX_SAVE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save: Option<ByteBuf>,
    /// The client's current heads.
    pub heads: Vec<Hash>,
    /// The last heads this server vouched for, with its receipt: proof that the server once held
    /// every change up to them. After the server is restored from an older backup, the changes
    /// under these heads may be sent back whoever wrote them; any other change must be the
    /// sending device's own.
    #[serde(default)]
    pub vouch: Option<Vouch>,
}

/// A server's receipt for a document's heads (an HMAC only that server can make).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouch {
    pub heads: Vec<Hash>,
    pub receipt: ByteBuf,
}

/// The answer to a [`SyncRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub protocol: u32,
    /// The server's clock when it answered (ms since the epoch).
    pub server_time: i64,
    /// One reply per pushed document, in request order.
    pub docs: Vec<DocReply>,
    /// Other documents the client may hold that changed after its cursor, with what it lacks.
    pub feed: Vec<FeedDoc>,
    /// The new cursor, to send next time once everything above is applied.
    pub cursor: Cursor,
    /// The feed was cut at the response budget: sync again to get the rest.
    pub more: bool,
    /// The client's cursor is unknown to this server (e.g. restored from a backup): the client
    /// should forget its cursor and the server heads it knows, and push everything it has.
    pub reset: bool,
}

/// The server's reply for one pushed document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocReply {
    pub id: Uuid,
    pub outcome: Outcome,
    /// What the client lacks: Automerge chunks (a whole saved document and/or change chunks),
    /// each loadable with `load_incremental`.
    pub data: Vec<ByteBuf>,
    /// The server's heads for the document after this exchange.
    pub heads: Vec<Hash>,
    /// The server's receipt for `heads` (see [`Vouch`]); the client keeps it and sends it back.
    #[serde(default)]
    pub receipt: Option<ByteBuf>,
}

/// Whether a pushed document was taken. On the wire a map tagged by `status`
/// (`{"status": "rejected", "code": .., "message": ..}`); read back through [`OutcomeWire`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every change was valid and is stored.
    Accepted,
    /// Nothing of this document was stored. `code` is stable; `message` says what to do.
    Rejected { code: RejectCode, message: String },
    /// The server lacks changes the client believes it has (the server was restored from an older
    /// backup): push the whole document (empty `have`).
    ResendAll,
}

/// [`Outcome`]'s wire form as one flat map, to read it without serde's derived reading of
/// internally tagged enums, which buffers the map in a generic tree first: in the phone web app's
/// WebAssembly that buffering was the last user of that code (~25 KB). Same map, same rules: the
/// tag decides, unknown keys are ignored, a rejection needs its code and message.
#[derive(Deserialize)]
struct OutcomeWire {
    status: OutcomeStatus,
    #[serde(default)]
    code: Option<RejectCode>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeStatus {
    Accepted,
    Rejected,
    ResendAll,
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = OutcomeWire::deserialize(d)?;
        Ok(match wire.status {
            OutcomeStatus::Accepted => Outcome::Accepted,
            OutcomeStatus::ResendAll => Outcome::ResendAll,
            OutcomeStatus::Rejected => Outcome::Rejected {
                code: wire.code.ok_or_else(|| D::Error::missing_field("code"))?,
                message: wire.message.ok_or_else(|| D::Error::missing_field("message"))?,
            },
        })
    }
}

/// Why a document was refused. Retrying the same bytes never helps, except for `Busy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Bytes that are not Automerge changes.
    Malformed,
    /// Changes whose dependencies the server does not have and the client did not send.
    MissingDeps,
    /// The document is not one this device may see, or does not exist.
    UnknownDocument,
    /// A change writes what this device's role may not write.
    Forbidden,
    /// A change carries an actor id that belongs to another device.
    ActorNotYours,
    /// The document would not be a well-formed Kith document.
    Invalid,
    /// Too many changes, or too large.
    TooLarge,
    /// The server could not store it now; retry later.
    Busy,
}

impl RejectCode {
    /// Whether sending the same thing again later can succeed.
    pub fn retryable(self) -> bool {
        matches!(self, RejectCode::Busy)
    }
}

/// A document from the feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedDoc {
    pub id: Uuid,
    pub kind: Kind,
    /// Automerge chunks to `load_incremental`, in order.
    pub data: Vec<ByteBuf>,
    /// The server's heads. (Version 2.) Empty when `data` is one whole saved document: the
    /// server's heads are then that document's heads.
    pub heads: Vec<Hash>,
    /// The server's receipt for `heads` (see [`Vouch`]).
    #[serde(default)]
    pub receipt: Option<ByteBuf>,
}

/// An error body (JSON) for requests refused as a whole.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine code, e.g. `unauthorized`, `payload_too_large`.
    pub code: String,
    /// What went wrong and what to do next.
    pub message: String,
    /// Whether retrying the same request later can succeed.
    pub retryable: bool,
}

/// The [`ApiError::code`] of a 401 for a token the server has no record of (its data was
/// restored from a backup taken before the device joined): the device keeps its data and can
/// re-join with a new invite ([`JoinRequest::rejoin`]). A revoked device gets `unauthorized`.
pub const DEVICE_UNKNOWN: &str = "device_unknown";

/// Redeeming an invite: `POST /v1/join` (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub code: String,
    /// The person's name as it should appear on the team board.
    pub name: String,
    /// A label for this device ("Alice's phone").
    pub device_label: String,
    /// The Automerge actor id this device will write with (hex).
    pub actor: String,
    /// Re-joining after this server forgot the device (restored from a backup taken before it
    /// joined): the member and device ids it had, so its documents stay its own. The invite is the
    /// authority; the server grants the ids only if it knows neither (docs/operations.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin: Option<Rejoin>,
}

/// The identity a device had on a server that has since forgotten it ([`JoinRequest::rejoin`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejoin {
    /// The team the device belonged to: the invite must be for it.
    pub team_id: Uuid,
    pub member_id: Uuid,
    pub device_id: Uuid,
}

/// The answer to a [`JoinRequest`]: the device's own credential, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    pub team_id: Uuid,
    pub team_name: String,
    pub member_id: Uuid,
    pub device_id: Uuid,
    pub role: String,
    /// Bearer token for this device. The server keeps only its hash.
    pub token: String,
    pub server_time: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("could not encode the message: {0}")]
    Encode(String),
    #[error("the body is not a valid Kith sync message: {0}")]
    Decode(String),
}

/// Encodes a message as CBOR.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    ciborium::into_writer(msg, &mut out).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes a CBOR message.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, CodecError> {
    ciborium::from_reader(bytes).map_err(|e| CodecError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_cbor() {
        let req = SyncRequest {
            protocol: PROTOCOL_VERSION,
            client_time: 1_800_000_000_000,
            cursor: Some(Cursor { seq: 7, hash: Some(ByteBuf::from(vec![1; 32])) }),
            docs: vec![DocPush {
                id: Uuid::now_v7(),
                kind: Kind::Shift,
                have: vec![],
                changes: vec![ByteBuf::from(vec![0x85, 0x6f])],
                heads: vec![ByteBuf::from(vec![2; 32])],
                vouch: Some(Vouch { heads: vec![ByteBuf::from(vec![3; 32])], receipt: ByteBuf::from(vec![4; 32]) }),
                save: None,
            }],
        };
        let bytes = encode(&req).unwrap();
        assert_eq!(decode::<SyncRequest>(&bytes).unwrap(), req);
        let mut with_save = req.clone();
        with_save.docs[0].save = Some(ByteBuf::from(vec![0x85, 0x6f, 0x4a, 0x83]));
        assert_eq!(decode::<SyncRequest>(&encode(&with_save).unwrap()).unwrap(), with_save);
        let rej = Outcome::Rejected { code: RejectCode::Forbidden, message: "no".into() };
        assert_eq!(decode::<Outcome>(&encode(&rej).unwrap()).unwrap(), rej);
    }

    /// `Outcome` as serde's derive reads it (the reading before `OutcomeWire`), to compare.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "status", rename_all = "snake_case")]
    enum DerivedOutcome {
        Accepted,
        Rejected { code: RejectCode, message: String },
        ResendAll,
    }

    impl From<DerivedOutcome> for Outcome {
        fn from(d: DerivedOutcome) -> Outcome {
            match d {
                DerivedOutcome::Accepted => Outcome::Accepted,
                DerivedOutcome::Rejected { code, message } => Outcome::Rejected { code, message },
                DerivedOutcome::ResendAll => Outcome::ResendAll,
            }
        }
    }

    #[test]
    fn an_outcome_reads_as_the_derived_internally_tagged_form_did() {
        use ciborium::Value as V;
        let t = |s: &str| V::Text(s.into());
        let maps: Vec<Vec<(V, V)>> = vec![
            vec![(t("status"), t("accepted"))],
            vec![(t("status"), t("resend_all"))],
            vec![(t("status"), t("rejected")), (t("code"), t("forbidden")), (t("message"), t("no"))],
            // The tag last, unknown keys, a code on an acceptance: as before.
            vec![(t("message"), t("no")), (t("code"), t("busy")), (t("status"), t("rejected"))],
            vec![(t("status"), t("accepted")), (t("later"), V::Integer(3.into()))],
            vec![(t("status"), t("accepted")), (t("code"), t("busy"))],
            // Refused before, refused now: no tag, an unknown tag, a rejection without its code or
            // message, a code that is not one.
            vec![],
            vec![(t("status"), t("exploded"))],
            vec![(t("status"), t("rejected")), (t("message"), t("no"))],
            vec![(t("status"), t("rejected")), (t("code"), t("forbidden"))],
            vec![(t("status"), t("rejected")), (t("code"), t("nope")), (t("message"), t("no"))],
            vec![(t("status"), V::Integer(1.into()))],
        ];
        for m in maps {
            let mut bytes = Vec::new();
            ciborium::into_writer(&V::Map(m.clone()), &mut bytes).unwrap();
            let now = decode::<Outcome>(&bytes).ok();
            let before = decode::<DerivedOutcome>(&bytes).ok().map(Outcome::from);
            assert_eq!(now, before, "{m:?}");
        }
        // Written as before (the derive), and read back.
        for o in [
            Outcome::Accepted,
            Outcome::ResendAll,
            Outcome::Rejected { code: RejectCode::MissingDeps, message: "push them".into() },
        ] {
            let bytes = encode(&o).unwrap();
            assert_eq!(decode::<Outcome>(&bytes).unwrap(), o);
            assert_eq!(Outcome::from(decode::<DerivedOutcome>(&bytes).unwrap()), o);
        }
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        for junk in [&b""[..], b"\xff\xff\xff", b"{\"json\": true}"] {
            assert!(decode::<SyncRequest>(junk).is_err());
        }
    }
}
