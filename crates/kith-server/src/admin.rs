//! Administration over the storage directly (used by `kith-server admin ...` and by tests):
//! creating teams and invites, listing and revoking devices.

use std::time::Duration;

use automerge::{ActorId, Automerge};
use kith_domain::doc::team;
use kith_domain::{DeviceId, Policy, Role, Team, TeamId};
use kith_proto::Kind;

use crate::auth;
use crate::error::ServerError;
use crate::storage::{AppendChanges, DeviceRecord, DocMeta, InviteRecord, NewChange, Storage, TeamRecord};

/// A new invite: the code is shown once; the server keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    pub code: String,
    pub expires_at: i64,
}

/// Longest an invite may live.
pub const MAX_INVITE_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// Creates a team and its team document (written by the server's own actor), and a first lead
/// invite valid for 7 days.
pub async fn create_team(
    storage: &dyn Storage,
    name: &str,
    phone: Option<&str>,
    now: i64,
) -> Result<(TeamId, NewInvite), ServerError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServerError::Invalid("give the team a name".into()));
    }
    kith_domain::limits::TEAM_NAME.check(name)?;
    let t = Team {
        id: TeamId::new(),
        name: name.to_string(),
        purpose: String::new(),
        phone: phone.map(str::trim).filter(|p| !p.is_empty()).map(str::to_string),
        policy: Policy::default(),
        members: vec![],
    };
    let actor = ActorId::from(storage.server_actor().await?);
    let mut doc = Automerge::new().with_actor(actor.clone());
    doc.transact(|tx| team::init(tx, &t)).map_err(|f| ServerError::Domain(f.error))?;
    let change = doc
        .get_last_local_change()
        .ok_or_else(|| ServerError::Automerge("creating the team document made no change".into()))?;
    storage
        .create_team(
            TeamRecord { id: t.id, name: t.name.clone(), created_at: now },
            AppendChanges {
                meta: DocMeta { id: t.id.uuid(), team: t.id, kind: Kind::Team, owner: None },
                create: true,
                changes: vec![NewChange {
                    hash: change.hash().0.to_vec(),
                    bytes: change.raw_bytes().to_vec(),
                    actor: actor.to_bytes().to_vec(),
                    device: None,
                }],
                received_at: now,
            },
        )
        .await?;
    let invite = create_invite(storage, t.id, Role::Lead, Duration::from_secs(7 * 24 * 3600), 1, now).await?;
    Ok((t.id, invite))
}

/// Creates an invite to `team` with `role`, usable `uses` times until `now + expires_in`.
pub async fn create_invite(
    storage: &dyn Storage,
    team: TeamId,
    role: Role,
    expires_in: Duration,
    uses: u32,
    now: i64,
) -> Result<NewInvite, ServerError> {
    if !(1..=1000).contains(&uses) {
        return Err(ServerError::Invalid("an invite can be used from 1 to 1000 times".into()));
    }
    if expires_in.is_zero() || expires_in > MAX_INVITE_LIFETIME {
        return Err(ServerError::Invalid("an invite must expire within 90 days".into()));
    }
    if role == Role::Admin {
        return Err(ServerError::Invalid("invites are for members and leads; admins run the server".into()));
    }
    if storage.team(team).await?.is_none() {
        return Err(ServerError::Invalid(format!("there is no team {team}: see `kith-server admin teams`")));
    }
    let code = auth::new_invite_code();
    let ms = i64::try_from(expires_in.as_millis()).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(ms);
    storage
        .create_invite(InviteRecord {
            code_hash: auth::invite_hash(&code),
            team,
            role,
            expires_at,
            uses_left: uses,
            created_at: now,
        })
        .await?;
    Ok(NewInvite { code, expires_at })
}

/// Devices, of one team or all.
pub async fn devices(storage: &dyn Storage, team: Option<TeamId>) -> Result<Vec<DeviceRecord>, ServerError> {
    Ok(storage.devices(team).await?)
}

/// Revokes a device: its token stops working at once and its later changes are refused.
pub async fn revoke(storage: &dyn Storage, device: DeviceId, now: i64) -> Result<bool, ServerError> {
    Ok(storage.revoke_device(device, now).await?)
}
