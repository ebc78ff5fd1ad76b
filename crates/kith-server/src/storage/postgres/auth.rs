//! Teams, members, invites, devices and their clocks. Device lookups read the database every
//! time (no cache to invalidate between instances).

use deadpool_postgres::GenericClient;
use kith_domain::{DeviceId, MemberId, Role, TeamId};

use super::*;
use crate::storage::*;

/// Sets the roles of a team's existing members (see [`Storage::set_member_roles`]).
pub(super) async fn set_roles(
    c: &impl GenericClient,
    team: TeamId,
    roles: &[(MemberId, Role)],
) -> Result<usize, StorageError> {
    let mut n = 0;
    for (m, r) in roles {
        n += c
            .execute(
                &cached(
                    c,
                    "UPDATE members SET role = $3, role_seq = (SELECT COALESCE(MAX(seq), 0) FROM changes)
                     WHERE id = $1 AND team_id = $2 AND role <> $3",
                )
                .await?,
                &[&m.to_string(), &team.to_string(), &role_str(*r)],
            )
            .await
            .map_err(pg)?;
    }
    if n > 0 {
        bump_auth_generation(c).await?;
        tracing::info!(team = %team, changed = n, "member roles updated from the team document");
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

const DEVICE_COLS: &str = "d.id, d.member_id, d.team_id, d.label, d.actor, d.created_at, d.revoked_at";

fn device_record(r: &tokio_postgres::Row) -> Result<DeviceRecord, StorageError> {
    Ok(DeviceRecord {
        id: DeviceId(parse_uuid(&g::<String>(r, 0)?)?),
        member: MemberId(parse_uuid(&g::<String>(r, 1)?)?),
        team: TeamId(parse_uuid(&g::<String>(r, 2)?)?),
        label: g(r, 3)?,
        actor: g(r, 4)?,
        created_at: g(r, 5)?,
        revoked_at: g(r, 6)?,
    })
}

async fn meta(s: &PgStorage, key: &str) -> StorageResult<Vec<u8>> {
    let c = s.conn().await?;
    let r = c.query_one("SELECT value FROM meta WHERE key = $1", &[&key]).await.map_err(pg)?;
    g(&r, 0)
}

pub(super) async fn server_actor(s: &PgStorage) -> StorageResult<Vec<u8>> {
    meta(s, "server_actor").await
}

pub(super) async fn receipt_key(s: &PgStorage) -> StorageResult<Vec<u8>> {
    meta(s, "receipt_key").await
}

pub(super) async fn create_team(s: &PgStorage, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
    let mut c = s.conn().await?;
    let shared = s.shared.clone();
    // In a task of its own, as appends (see docs::append_changes_with).
    tokio::spawn(async move {
        let t = c.transaction().await.map_err(pg)?;
        t.execute(
            "INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)",
            &[&team.id.to_string(), &team.name, &team.created_at],
        )
        .await
        .map_err(|e| pg_conflict(e, "this team already exists"))?;
        super::docs::insert_changes(&t, &team_doc, &shared.log.server_actor).await?;
        t.commit().await.map_err(pg)?;
        drop(c);
        shared.publish(Vec::new()).await
    })
    .await
    .map_err(|e| StorageError::Db(format!("the team task failed: {e}")))?
}

pub(super) async fn team(s: &PgStorage, id: TeamId) -> StorageResult<Option<TeamRecord>> {
    let c = s.conn().await?;
    let r = c.query_opt("SELECT name, created_at FROM teams WHERE id = $1", &[&id.to_string()]).await.map_err(pg)?;
    r.map(|r| Ok(TeamRecord { id, name: g(&r, 0)?, created_at: g(&r, 1)? })).transpose()
}

pub(super) async fn teams(s: &PgStorage) -> StorageResult<Vec<TeamRecord>> {
    let c = s.conn().await?;
    let rows = c.query("SELECT id, name, created_at FROM teams ORDER BY created_at, id", &[]).await.map_err(pg)?;
    rows.iter()
        .map(|r| Ok(TeamRecord { id: TeamId(parse_uuid(&g::<String>(r, 0)?)?), name: g(r, 1)?, created_at: g(r, 2)? }))
        .collect()
}

pub(super) async fn members(s: &PgStorage, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
    let c = s.conn().await?;
    let rows = c
        .query("SELECT id, name, role FROM members WHERE team_id = $1 ORDER BY name, id", &[&team.to_string()])
        .await
        .map_err(pg)?;
    rows.iter()
        .map(|r| {
            Ok(MemberRecord {
                id: MemberId(parse_uuid(&g::<String>(r, 0)?)?),
                team,
                name: g(r, 1)?,
                role: parse_role(&g::<String>(r, 2)?)?,
            })
        })
        .collect()
}

pub(super) async fn set_member_roles(
    s: &PgStorage,
    team: TeamId,
    roles: Vec<(MemberId, Role)>,
) -> StorageResult<usize> {
    let c = s.conn().await?;
    set_roles(&c, team, &roles).await
}

pub(super) async fn create_invite(s: &PgStorage, invite: InviteRecord) -> StorageResult<()> {
    let c = s.conn().await?;
    c.execute(
        "INSERT INTO invites (code_hash, team_id, role, expires_at, uses_left, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &invite.code_hash,
            &invite.team.to_string(),
            &role_str(invite.role),
            &invite.expires_at,
            &i64::from(invite.uses_left),
            &invite.created_at,
        ],
    )
    .await
    .map_err(|e| pg_conflict(e, "this invite already exists"))?;
    Ok(())
}

pub(super) async fn redeem_invite(
    s: &PgStorage,
    code_hash: Vec<u8>,
    now: i64,
    join: NewDevice,
) -> StorageResult<Redeem> {
    let mut c = s.conn().await?;
    let t = c.transaction().await.map_err(pg)?;
    // The row lock makes two redemptions of the last use take turns.
    let Some(row) = t
        .query_opt(
            "SELECT team_id, role, expires_at, uses_left FROM invites WHERE code_hash = $1 FOR UPDATE",
            &[&code_hash],
        )
        .await
        .map_err(pg)?
    else {
        return Ok(Redeem::Unknown);
    };
    let (team_id, role, expires_at, uses_left): (String, String, i64, i64) =
        (g(&row, 0)?, g(&row, 1)?, g(&row, 2)?, g(&row, 3)?);
    // A re-join's identity first: a device the server still knows hears so whatever the invite.
    if let Some(own) = join.rejoin {
        let row = t
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM members WHERE id = $1) OR EXISTS (SELECT 1 FROM devices WHERE id = $2)",
                &[&join.member_id.to_string(), &join.device_id.to_string()],
            )
            .await
            .map_err(pg)?;
        let known: bool = g(&row, 0)?;
        if known {
            return Ok(Redeem::IdTaken);
        }
        if own.to_string() != team_id {
            return Ok(Redeem::OtherTeam);
        }
    }
    if expires_at <= now {
        return Ok(Redeem::Expired);
    }
    if uses_left <= 0 {
        return Ok(Redeem::UsedUp);
    }
    let taken = t.query_opt("SELECT 1 FROM devices WHERE actor = $1", &[&join.actor]).await.map_err(pg)?.is_some();
    if taken {
        return Ok(Redeem::ActorTaken);
    }
    let role = parse_role(&role)?;
    let team_id = TeamId(parse_uuid(&team_id)?);
    let tr =
        t.query_one("SELECT name, created_at FROM teams WHERE id = $1", &[&team_id.to_string()]).await.map_err(pg)?;
    let team = TeamRecord { id: team_id, name: g(&tr, 0)?, created_at: g(&tr, 1)? };
    t.execute("UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = $1", &[&code_hash]).await.map_err(pg)?;
    t.execute(
        "INSERT INTO members (id, team_id, name, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&join.member_id.to_string(), &team_id.to_string(), &join.member_name, &role_str(role), &now],
    )
    .await
    .map_err(|e| pg_conflict(e, "this member already exists"))?;
    t.execute(
        "INSERT INTO devices (id, member_id, team_id, label, token_hash, actor, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &join.device_id.to_string(),
            &join.member_id.to_string(),
            &team_id.to_string(),
            &join.label,
            &join.token_hash,
            &join.actor,
            &join.created_at,
        ],
    )
    .await
    .map_err(|e| pg_conflict(e, "this device already exists"))?;
    t.commit().await.map_err(pg)?;
    Ok(Redeem::Joined { team, role })
}

pub(super) async fn device_by_token(s: &PgStorage, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
    let c = s.conn().await?;
    let row = c
        .query_opt(
            &cached(
                &c,
                &format!(
                    "SELECT {DEVICE_COLS}, m.name, m.role, m.role_seq FROM devices d JOIN members m ON m.id = d.member_id
                     WHERE d.token_hash = $1"
                ),
            )
            .await?,
            &[&token_hash],
        )
        .await
        .map_err(pg)?;
    row.map(|r| {
        Ok(DeviceAuth {
            device: device_record(&r)?,
            member_name: g(&r, 7)?,
            role: parse_role(&g::<String>(&r, 8)?)?,
            role_seq: u(g(&r, 9)?),
        })
    })
    .transpose()
}

pub(super) async fn devices(s: &PgStorage, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
    let c = s.conn().await?;
    let team = team.map(|t| t.to_string());
    let rows = c
        .query(
            &format!("SELECT {DEVICE_COLS} FROM devices d WHERE $1::TEXT IS NULL OR d.team_id = $1 ORDER BY d.created_at, d.id"),
            &[&team],
        )
        .await
        .map_err(pg)?;
    rows.iter().map(device_record).collect()
}

pub(super) async fn revoke_device(s: &PgStorage, id: DeviceId, at: i64) -> StorageResult<bool> {
    let mut c = s.conn().await?;
    let tx = c.transaction().await.map_err(pg)?;
    let n = tx
        .execute("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id.to_string(), &at])
        .await
        .map_err(pg)?;
    if n > 0 {
        bump_auth_generation(&tx).await?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(n > 0)
}

/// Moves the auth generation (in the caller's transaction): every instance's live streams look
/// their device up again.
async fn bump_auth_generation(c: &impl GenericClient) -> Result<(), StorageError> {
    c.execute("UPDATE auth_generation SET value = value + 1 WHERE id = 1", &[]).await.map_err(pg)?;
    Ok(())
}

pub(super) async fn read_auth_generation(s: &PgStorage) -> StorageResult<i64> {
    let c = s.conn().await?;
    let row =
        c.query_one(&cached(&c, "SELECT value FROM auth_generation WHERE id = 1").await?, &[]).await.map_err(pg)?;
    g(&row, 0)
}

pub(super) async fn set_device_offset(s: &PgStorage, device: DeviceId, offset_ms: i64, at: i64) -> StorageResult<()> {
    let c = s.conn().await?;
    c.execute(
        &cached(
            &c,
            "INSERT INTO device_clocks (device_id, offset_ms, measured_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO UPDATE SET offset_ms = excluded.offset_ms, measured_at = excluded.measured_at",
        )
        .await?,
        &[&device.to_string(), &offset_ms, &at],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

pub(super) async fn device_offset(s: &PgStorage, device: DeviceId) -> StorageResult<Option<(i64, i64)>> {
    let c = s.conn().await?;
    let st = cached(&c, "SELECT offset_ms, measured_at FROM device_clocks WHERE device_id = $1").await?;
    let row = c.query_opt(&st, &[&device.to_string()]).await.map_err(pg)?;
    row.map(|r| Ok((g(&r, 0)?, g(&r, 1)?))).transpose()
}
