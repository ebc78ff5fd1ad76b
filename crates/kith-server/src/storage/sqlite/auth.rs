//! Teams, members, invites, devices and their clocks; the auth cache.

use kith_domain::{DeviceId, MemberId, Role, TeamId};
use rusqlite::{Connection, OptionalExtension, params};

use super::*;
use crate::storage::*;
use crate::table::Table;

/// Sets the roles of a team's existing members (see [`Storage::set_member_roles`]).
pub(super) fn set_roles(c: &Connection, team: TeamId, roles: &[(MemberId, Role)]) -> Result<usize, StorageError> {
    let mut st = c
        .prepare_cached(
            "UPDATE members SET role = ?3, role_seq = (SELECT COALESCE(MAX(seq), 0) FROM changes)
             WHERE id = ?1 AND team_id = ?2 AND role <> ?3",
        )
        .map_err(db)?;
    let mut n = 0;
    for (m, r) in roles {
        n += st.execute(params![m.to_string(), team.to_string(), role_str(*r)]).map_err(db)?;
    }
    if n > 0 {
        tracing::info!(team = %team, changed = n, "member roles updated from the team document");
        bump_auth_generation(c)?;
    }
    Ok(n)
}

/// Makes cached device lookups stale (a revocation or a role change): see [`AuthCache`].
pub(super) fn bump_auth_generation(c: &Connection) -> Result<(), StorageError> {
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('auth_gen', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
    )
    .map_err(db)?
    .execute([])
    .map_err(db)?;
    Ok(())
}

pub(super) fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub(super) type DeviceRow = (String, String, String, String, Vec<u8>, i64, Option<i64>);

pub(super) fn device_record(row: DeviceRow) -> Result<DeviceRecord, StorageError> {
    let (id, member, team, label, actor, created_at, revoked_at) = row;
    Ok(DeviceRecord {
        id: DeviceId(parse_uuid(&id)?),
        member: MemberId(parse_uuid(&member)?),
        team: TeamId(parse_uuid(&team)?),
        label,
        actor,
        created_at,
        revoked_at,
    })
}

pub(super) const DEVICE_COLS: &str = "d.id, d.member_id, d.team_id, d.label, d.actor, d.created_at, d.revoked_at";

pub(super) fn device_by_token_of(c: &Connection, token_hash: Vec<u8>) -> Result<Option<DeviceAuth>, StorageError> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLS}, m.name, m.role, m.role_seq FROM devices d JOIN members m ON m.id = d.member_id
             WHERE d.token_hash = ?1"
        ))
        .map_err(db)?
        .query_row(params![token_hash], |r| {
            Ok((device_from_row(r)?, r.get::<_, String>(7)?, r.get::<_, String>(8)?, r.get::<_, i64>(9)?))
        })
        .optional()
        .map_err(db)?;
    match row {
        None => Ok(None),
        Some((d, name, role, role_seq)) => Ok(Some(DeviceAuth {
            device: device_record(d)?,
            member_name: name,
            role: parse_role(&role)?,
            role_seq: u(role_seq),
        })),
    }
}

/// Cached device lookups, valid while the database's auth generation is `generation`. Every
/// write that can change what a lookup returns (a revocation, a role change) bumps the
/// generation in the same transaction, whichever process makes it (`kith-server admin revoke`
/// writes the same file), and every lookup reads the generation first: a revocation is honoured
/// from the next request on, as without the cache.
#[derive(Debug)]
pub(super) struct AuthCache {
    generation: i64,
    by_token: Table<Vec<u8>, DeviceAuth>,
    /// What the entries' heap parts take ([`AuthCache::entry_bytes`]); the map's table is
    /// counted by its buckets ([`AuthCache::total_bytes`]).
    bytes: usize,
    /// Past this the cache starts over (`cache.auth_max_bytes`).
    max_bytes: usize,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache { generation: 0, by_token: Table::default(), bytes: 0, max_bytes: DEFAULT_AUTH_CACHE_BYTES }
    }
}

impl AuthCache {
    /// What one entry's heap parts take: its key, label, actor and name (the entry itself is in
    /// the map's table). Labels and names are bounded by the domain's checks, not by this cache.
    fn entry_bytes(key: &[u8], d: &DeviceAuth) -> usize {
        key.len() + d.device.label.len() + d.device.actor.len() + d.member_name.len()
    }

    /// What the cache holds: the map's table and the entries' heap parts.
    fn total_bytes(&self) -> usize {
        self.bytes + self.by_token.bytes()
    }

    pub(super) fn set_max_bytes(&mut self, max: usize) {
        self.max_bytes = max;
        if self.total_bytes() > max {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.by_token.clear();
        self.bytes = 0;
    }

    /// Keeps `d`, looked up at auth generation `generation` (a lookup of an older generation is
    /// not kept; a newer one starts the cache over), within `max_bytes`.
    fn remember(&mut self, generation: i64, key: Vec<u8>, d: DeviceAuth) {
        if self.generation < generation {
            self.generation = generation;
            self.clear();
        }
        if self.generation != generation {
            return;
        }
        let add = Self::entry_bytes(&key, &d);
        let mut old = self.by_token.get(&key).map(|old| Self::entry_bytes(&key, old));
        // A new entry in a full table doubles it.
        let table = if old.is_some() { self.by_token.bytes() } else { self.by_token.bytes_after_insert() };
        if self.bytes - old.unwrap_or(0) + add + table > self.max_bytes {
            self.clear();
            old = None;
            if add + self.by_token.bytes_after_insert() > self.max_bytes {
                return;
            }
        }
        self.by_token.insert(key, d);
        self.bytes = self.bytes - old.unwrap_or(0) + add;
    }
}

pub(super) async fn server_actor(s: &SqliteStorage) -> StorageResult<Vec<u8>> {
    s.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'server_actor'", [], |r| r.get(0)).map_err(db)).await
}

pub(super) async fn receipt_key(s: &SqliteStorage) -> StorageResult<Vec<u8>> {
    s.read(|c| c.query_row("SELECT value FROM meta WHERE key = 'receipt_key'", [], |r| r.get(0)).map_err(db)).await
}

pub(super) async fn create_team(s: &SqliteStorage, team: TeamRecord, team_doc: AppendChanges) -> StorageResult<()> {
    let log = s.log.clone();
    s.write_changes(move |c| {
        c.execute(
            "INSERT INTO teams (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![team.id.to_string(), team.name, team.created_at],
        )
        .map_err(db)?;
        let (_, stored) = super::docs::insert_changes(c, &team_doc, &log.server_actor)?;
        Ok(((), Logged { changes: stored, notes: Vec::new() }))
    })
    .await
}

pub(super) async fn team(s: &SqliteStorage, id: TeamId) -> StorageResult<Option<TeamRecord>> {
    s.read(move |c| {
        c.query_row("SELECT name, created_at FROM teams WHERE id = ?1", params![id.to_string()], |r| {
            Ok(TeamRecord { id, name: r.get(0)?, created_at: r.get(1)? })
        })
        .optional()
        .map_err(db)
    })
    .await
}

pub(super) async fn teams(s: &SqliteStorage) -> StorageResult<Vec<TeamRecord>> {
    s.read(|c| {
        let mut st = c.prepare("SELECT id, name, created_at FROM teams ORDER BY created_at, id").map_err(db)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, created_at) = row.map_err(db)?;
            out.push(TeamRecord { id: TeamId(parse_uuid(&id)?), name, created_at });
        }
        Ok(out)
    })
    .await
}

pub(super) async fn members(s: &SqliteStorage, team: TeamId) -> StorageResult<Vec<MemberRecord>> {
    s.read(move |c| {
        let mut st =
            c.prepare("SELECT id, name, role FROM members WHERE team_id = ?1 ORDER BY name, id").map_err(db)?;
        let rows = st
            .query_map(params![team.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, role) = row.map_err(db)?;
            out.push(MemberRecord { id: MemberId(parse_uuid(&id)?), team, name, role: parse_role(&role)? });
        }
        Ok(out)
    })
    .await
}

pub(super) async fn set_member_roles(
    s: &SqliteStorage,
    team: TeamId,
    roles: Vec<(MemberId, Role)>,
) -> StorageResult<usize> {
    s.write(move |c| set_roles(c, team, &roles)).await
}

pub(super) async fn create_invite(s: &SqliteStorage, invite: InviteRecord) -> StorageResult<()> {
    s.write(move |c| {
        c.execute(
            "INSERT INTO invites (code_hash, team_id, role, expires_at, uses_left, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                invite.code_hash,
                invite.team.to_string(),
                role_str(invite.role),
                invite.expires_at,
                invite.uses_left,
                invite.created_at
            ],
        )
        .map_err(db)?;
        Ok(())
    })
    .await
}

pub(super) async fn redeem_invite(
    s: &SqliteStorage,
    code_hash: Vec<u8>,
    now: i64,
    join: NewDevice,
) -> StorageResult<Redeem> {
    s.write(move |c| {
        let row: Option<(String, String, i64, i64)> = c
            .query_row(
                "SELECT team_id, role, expires_at, uses_left FROM invites WHERE code_hash = ?1",
                params![code_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((team_id, role, expires_at, uses_left)) = row else { return Ok(Redeem::Unknown) };
        // A re-join's identity first: a device the server still knows hears so whatever the invite.
        if let Some(own) = join.rejoin {
            let known: bool = c
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM members WHERE id = ?1) OR EXISTS (SELECT 1 FROM devices WHERE id = ?2)",
                    params![join.member_id.to_string(), join.device_id.to_string()],
                    |r| r.get(0),
                )
                .map_err(db)?;
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
        let taken: bool = c
            .query_row("SELECT EXISTS (SELECT 1 FROM devices WHERE actor = ?1)", params![join.actor], |r| r.get(0))
            .map_err(db)?;
        if taken {
            return Ok(Redeem::ActorTaken);
        }
        let role = parse_role(&role)?;
        let team_id = TeamId(parse_uuid(&team_id)?);
        let team = c
            .query_row("SELECT name, created_at FROM teams WHERE id = ?1", params![team_id.to_string()], |r| {
                Ok(TeamRecord { id: team_id, name: r.get(0)?, created_at: r.get(1)? })
            })
            .map_err(db)?;
        c.execute("UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = ?1", params![code_hash])
            .map_err(db)?;
        c.execute(
            "INSERT INTO members (id, team_id, name, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![join.member_id.to_string(), team_id.to_string(), join.member_name, role_str(role), now],
        )
        .map_err(db)?;
        c.execute(
            "INSERT INTO devices (id, member_id, team_id, label, token_hash, actor, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                join.device_id.to_string(),
                join.member_id.to_string(),
                team_id.to_string(),
                join.label,
                join.token_hash,
                join.actor,
                join.created_at
            ],
        )
        .map_err(db)?;
        Ok(Redeem::Joined { team, role })
    })
    .await
}

/// Answered from memory while the auth generation has not moved (one inline read of one
/// row per call; see [`AuthCache`]); from the database otherwise.
pub(super) async fn device_by_token(s: &SqliteStorage, token_hash: Vec<u8>) -> StorageResult<Option<DeviceAuth>> {
    let generation = auth_generation(s)?;
    {
        let cache = lock(&s.auth);
        if cache.generation == generation
            && let Some(d) = cache.by_token.get(&token_hash)
        {
            return Ok(Some(d.clone()));
        }
    }
    let key = token_hash.clone();
    let found = s.read(move |c| device_by_token_of(c, token_hash)).await?;
    if let Some(d) = &found {
        lock(&s.auth).remember(generation, key, d.clone());
    }
    Ok(found)
}

pub(super) async fn devices(s: &SqliteStorage, team: Option<TeamId>) -> StorageResult<Vec<DeviceRecord>> {
    s.read(move |c| {
        let team = team.map(|t| t.to_string());
        let mut st = c
            .prepare(&format!(
                "SELECT {DEVICE_COLS} FROM devices d WHERE ?1 IS NULL OR d.team_id = ?1 ORDER BY d.created_at, d.id"
            ))
            .map_err(db)?;
        let rows = st.query_map(params![team], device_from_row).map_err(db)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(device_record(r.map_err(db)?)?);
        }
        Ok(out)
    })
    .await
}

pub(super) async fn revoke_device(s: &SqliteStorage, id: DeviceId, at: i64) -> StorageResult<bool> {
    s.write(move |c| {
        let n = c
            .execute(
                "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.to_string(), at],
            )
            .map_err(db)?;
        if n > 0 {
            bump_auth_generation(c)?;
        }
        Ok(n > 0)
    })
    .await
}

pub(super) async fn set_device_offset(
    s: &SqliteStorage,
    device: DeviceId,
    offset_ms: i64,
    at: i64,
) -> StorageResult<()> {
    s.write(move |c| {
        c.prepare_cached(
            "INSERT INTO device_clocks (device_id, offset_ms, measured_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO UPDATE SET offset_ms = excluded.offset_ms, measured_at = excluded.measured_at",
        )
        .map_err(db)?
        .execute(params![device.to_string(), offset_ms, at])
        .map_err(db)?;
        Ok(())
    })
    .await
}

pub(super) async fn device_offset(s: &SqliteStorage, device: DeviceId) -> StorageResult<Option<(i64, i64)>> {
    s.read(move |c| {
        c.prepare_cached("SELECT offset_ms, measured_at FROM device_clocks WHERE device_id = ?1")
            .map_err(db)?
            .query_row(params![device.to_string()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .optional()
            .map_err(db)
    })
    .await
}

/// The auth generation now (see [`AuthCache`]), read on the calling thread: one row of a WAL
/// database, which never waits for the writer.
pub(super) fn auth_generation(s: &SqliteStorage) -> StorageResult<i64> {
    s.check_open()?;
    let conn = lock(&s.gen_conn);
    let Some(conn) = conn.as_ref() else { return Err(StorageError::Closed) };
    let g: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'auth_gen'")
        .map_err(db)?
        .query_row([], |r| r.get(0))
        .optional()
        .map_err(db)?;
    Ok(g.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kith_domain::{DeviceId, MemberId, Role, TeamId};

    fn device(label_len: usize) -> DeviceAuth {
        DeviceAuth {
            device: DeviceRecord {
                id: DeviceId::new(),
                member: MemberId::new(),
                team: TeamId::new(),
                label: "l".repeat(label_len),
                actor: vec![7; 16],
                created_at: 0,
                revoked_at: None,
            },
            member_name: "Alice".into(),
            role: Role::Member,
            role_seq: 0,
        }
    }

    fn counted(c: &AuthCache) -> usize {
        c.by_token.iter().map(|(k, d)| AuthCache::entry_bytes(k, d)).sum()
    }

    /// What the cache holds: its map's table, measured, and its entries' heap parts.
    fn held(c: &AuthCache) -> usize {
        crate::table::measured(&c.by_token)
            + c.by_token
                .iter()
                .map(|(k, d)| {
                    k.capacity() + d.device.label.capacity() + d.device.actor.capacity() + d.member_name.capacity()
                })
                .sum::<usize>()
    }

    /// The map's table doubles when it fills: counting its entries, not its buckets, the cache
    /// held up to twice its budget just past a power of two.
    #[test]
    fn the_device_cache_holds_no_more_than_its_budget_as_the_table_grows() {
        let per = AuthCache::entry_bytes(&[0; 32], &device(20));
        // Budgets whose entries end just past a full table (1,792 or 3,584 entries).
        for max in [1800 * per, 3600 * per] {
            let mut c = AuthCache::default();
            c.set_max_bytes(max);
            for i in 0..4 * max / per {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&(i as u64).to_be_bytes());
                c.remember(1, key.to_vec(), device(20));
                assert!(held(&c) <= max, "{} bytes held after {i} lookups, budget {max}", held(&c));
            }
        }
    }

    #[test]
    fn the_device_cache_keeps_to_its_byte_bound_and_counts_what_it_holds() {
        let mut c = AuthCache::default();
        c.set_max_bytes(16 * 1024);
        for i in 0..1000u32 {
            c.remember(1, i.to_be_bytes().repeat(8), device(usize::try_from(i % 300).unwrap()));
            assert!(c.total_bytes() <= 16 * 1024, "{} bytes held after {i} lookups", c.total_bytes());
            assert_eq!(c.bytes, counted(&c), "the count follows the entries");
        }
        assert!(!c.by_token.is_empty(), "it still caches");

        // The same device looked up twice (two requests racing) is counted once.
        let key = b"same".to_vec();
        c.remember(1, key.clone(), device(10));
        c.remember(1, key.clone(), device(20));
        assert_eq!(c.bytes, counted(&c));

        // A lookup made before a revocation is not kept; one after it starts the cache over.
        c.remember(0, b"old".to_vec(), device(1));
        assert!(!c.by_token.contains_key(b"old".as_slice()));
        c.remember(2, b"new".to_vec(), device(1));
        assert_eq!(c.by_token.len(), 1);
        assert_eq!(c.bytes, counted(&c));

        // An entry larger than the whole bound is not kept at all; a smaller bound set later holds.
        c.set_max_bytes(64);
        assert_eq!((c.by_token.len(), c.bytes), (0, 0));
        c.remember(2, b"big".to_vec(), device(10));
        assert_eq!((c.by_token.len(), c.bytes), (0, 0));
    }
}
