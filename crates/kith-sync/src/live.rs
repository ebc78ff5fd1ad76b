//! The live channel: server-sent events that say "these documents changed" and carry presence.
//! It only ever prompts a sync; documents always arrive through the sync exchange.

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::ServerClient;
use crate::error::SyncError;

/// One teammate's presence, as the server sees their devices' live connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub member_id: Uuid,
    pub online: bool,
    /// Last time one of their devices was connected (server clock, ms).
    pub last_seen: Option<i64>,
}

/// What the live channel said.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// Documents changed on the server: sync now.
    Changed(Vec<Uuid>),
    Presence(Presence),
    /// An alert step, claim or resolution that concerns this member (docs/alerts.md): the app
    /// raises a notification.
    Alert(Box<kith_api::AlertEvent>),
    /// A teammate waved at this member.
    Kudos(kith_api::Kudos),
    /// Anything else (e.g. a newer server's event), passed on by name.
    Other(String, String),
}

/// Opens the live channel. The stream ends when the connection drops; reconnecting (with backoff)
/// is the caller's job, see [`crate::runner`].
pub async fn connect(
    client: &ServerClient,
) -> Result<impl Stream<Item = Result<LiveEvent, SyncError>> + use<>, SyncError> {
    let rb = client.live_http().get(client.url("v1/live")?).header(reqwest::header::ACCEPT, "text/event-stream");
    let resp = client.authed(rb)?.send().await.map_err(|e| client.transport(e))?;
    // One reading of refusals for every request (retryable statuses, Retry-After).
    let resp = client.check(resp).await?;
    let server = client.base().to_string();
    Ok(resp.bytes_stream().eventsource().map(move |ev| match ev {
        Err(e) => Err(SyncError::Offline { server: server.clone(), reason: e.to_string() }),
        Ok(ev) => Ok(parse(&ev.event, &ev.data)),
    }))
}

/// Parses one event by name and JSON data; unknown or unreadable events are passed on as `Other`.
pub fn parse(event: &str, data: &str) -> LiveEvent {
    match event {
        "changed" => match serde_json::from_str::<kith_api::ChangedEvent>(data) {
            Ok(b) => LiveEvent::Changed(b.docs),
            Err(_) => LiveEvent::Other(event.into(), data.into()),
        },
        "presence" => match serde_json::from_str::<Presence>(data) {
            Ok(p) => LiveEvent::Presence(p),
            Err(_) => LiveEvent::Other(event.into(), data.into()),
        },
        "alert" => match serde_json::from_str::<kith_api::AlertEvent>(data) {
            Ok(a) => LiveEvent::Alert(Box::new(a)),
            Err(_) => LiveEvent::Other(event.into(), data.into()),
        },
        "kudos" => match serde_json::from_str::<kith_api::Kudos>(data) {
            Ok(k) => LiveEvent::Kudos(k),
            Err(_) => LiveEvent::Other(event.into(), data.into()),
        },
        _ => LiveEvent::Other(event.into(), data.into()),
    }
}
