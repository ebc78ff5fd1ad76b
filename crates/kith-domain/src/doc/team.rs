//! The team document: name, purpose, phone, policy and roster. Edited by leads.
//!
//! ```text
//! { schema: "kith.team", v: 1, team_id, name, purpose, phone?,
//!   policy: { min_interval_s, max_interval_s, default_interval_s, grace_s, reminder_lead_s,
//!             escalation: [ { after_s, notify: "worker"|"buddies"|"leads" } ] },
//!   members: { <member id>: { name, role, phone?, buddies: { <member id>: true } } } }
//! ```
//! A member may write only their own `name`, `phone` and `buddies`; leads write everything else
//! (`crate::authz`).
//! Each member entry is its own map, so concurrent edits to different members merge cleanly;
//! buddies are a set (map of id to true) so concurrent additions both survive.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

use super::{
    SCHEMA_VERSION, TEAM_SCHEMA, check_schema, enum_from_str, enum_to_str, get_obj, get_str, id_set, malformed,
    map_entries, parse, req_int, req_obj, req_str,
};
use crate::model::{EscalationStep, Member, Notify, Policy, Role, Team, check_phone};
use crate::{DomainError, MemberId, Secs, limits};

/// Writes a new team document. Call once, on an empty document.
pub fn init<T: Transactable + ReadDoc>(tx: &mut T, team: &Team) -> Result<(), DomainError> {
    if tx.get(ROOT, "schema")?.is_some() {
        return Err(malformed("this document already has a header"));
    }
    tx.put(ROOT, "schema", TEAM_SCHEMA)?;
    tx.put(ROOT, "v", SCHEMA_VERSION)?;
    tx.put(ROOT, "team_id", team.id.to_string())?;
    tx.put_object(ROOT, "members", ObjType::Map)?;
    set_details(tx, &team.name, &team.purpose, team.phone.as_deref())?;
    set_policy(tx, &team.policy)?;
    for m in &team.members {
        upsert_member(tx, m)?;
    }
    Ok(())
}

/// Sets the team's name, purpose and phone number.
pub fn set_details<T: Transactable + ReadDoc>(
    tx: &mut T,
    name: &str,
    purpose: &str,
    phone: Option<&str>,
) -> Result<(), DomainError> {
    limits::TEAM_NAME.check(name)?;
    limits::TEAM_PURPOSE.check(purpose)?;
    tx.put(ROOT, "name", name)?;
    tx.put(ROOT, "purpose", purpose)?;
    match phone {
        Some(p) => {
            limits::TEAM_PHONE.check(p)?;
            tx.put(ROOT, "phone", p)?;
        }
        None => {
            if tx.get(ROOT, "phone")?.is_some() {
                tx.delete(ROOT, "phone")?;
            }
        }
    }
    Ok(())
}

/// Replaces the policy. Only fields that differ are written, so concurrent edits of different
/// fields by two leads both survive.
pub fn set_policy<T: Transactable + ReadDoc>(tx: &mut T, p: &Policy) -> Result<(), DomainError> {
    p.check()?;
    let o = match get_obj(tx, &ROOT, "policy", ObjType::Map)? {
        Some(o) => o,
        None => tx.put_object(ROOT, "policy", ObjType::Map)?,
    };
    for (key, v) in [
        ("min_interval_s", p.min_interval),
        ("max_interval_s", p.max_interval),
        ("default_interval_s", p.default_interval),
        ("grace_s", p.grace),
        ("reminder_lead_s", p.reminder_lead),
    ] {
        if super::get_int(tx, &o, key)? != Some(v.get()) {
            tx.put(&o, key, v.get())?;
        }
    }
    let current = read_escalation(tx, &o).ok();
    if current.as_deref() != Some(p.escalation.as_slice()) {
        let list = tx.put_object(&o, "escalation", ObjType::List)?;
        for (i, step) in p.escalation.iter().enumerate() {
            let s = tx.insert_object(&list, i, ObjType::Map)?;
            tx.put(&s, "after_s", step.after.get())?;
            tx.put(&s, "notify", step.notify.to_string())?;
        }
    }
    Ok(())
}

/// Adds a member or updates their name, role, phone and buddies.
pub fn upsert_member<T: Transactable + ReadDoc>(tx: &mut T, m: &Member) -> Result<(), DomainError> {
    limits::MEMBER_NAME.check(&m.name)?;
    if m.buddies.contains(&m.id) {
        return Err(DomainError::Invalid("a member cannot be their own buddy".into()));
    }
    let members = req_obj(tx, &ROOT, "members", ObjType::Map)?;
    let key = m.id.to_string();
    let o = match get_obj(tx, &members, &key, ObjType::Map)? {
        Some(o) => o,
        None => {
            let o = tx.put_object(&members, key.as_str(), ObjType::Map)?;
            tx.put_object(&o, "buddies", ObjType::Map)?;
            o
        }
    };
    if get_str(tx, &o, "name")?.as_deref() != Some(m.name.as_str()) {
        tx.put(&o, "name", m.name.as_str())?;
    }
    let role = enum_to_str(&m.role);
    if get_str(tx, &o, "role")?.as_deref() != Some(role.as_str()) {
        tx.put(&o, "role", role)?;
    }
    write_phone(tx, &o, m.phone.as_deref())?;
    write_buddies(tx, &o, &m.buddies)
}

/// The roster entry of `member`, which must exist.
fn member_obj<T: ReadDoc>(tx: &T, member: MemberId) -> Result<automerge::ObjId, DomainError> {
    let members = req_obj(tx, &ROOT, "members", ObjType::Map)?;
    get_obj(tx, &members, &member.to_string(), ObjType::Map)?
        .ok_or_else(|| DomainError::Invalid(format!("there is no member {member} in this team")))
}

/// Sets (or with `None` removes) a member's phone number: touches `members/<id>/phone` only, so
/// a member may change their own.
pub fn set_phone<T: Transactable + ReadDoc>(
    tx: &mut T,
    member: MemberId,
    phone: Option<&str>,
) -> Result<(), DomainError> {
    let o = member_obj(tx, member)?;
    write_phone(tx, &o, phone)
}

/// Sets a member's role (leads only; see [`Team::check_role_change`](crate::Team::check_role_change)).
pub fn set_role<T: Transactable + ReadDoc>(tx: &mut T, member: MemberId, role: Role) -> Result<(), DomainError> {
    let o = member_obj(tx, member)?;
    let role = enum_to_str(&role);
    if get_str(tx, &o, "role")?.as_deref() != Some(role.as_str()) {
        tx.put(&o, "role", role)?;
    }
    Ok(())
}

/// Sets a member's standing buddies: adds and removes set entries only, so concurrent edits merge.
pub fn set_buddies<T: Transactable + ReadDoc>(
    tx: &mut T,
    member: MemberId,
    buddies: &[MemberId],
) -> Result<(), DomainError> {
    if buddies.contains(&member) {
        return Err(DomainError::Invalid("a member cannot be their own buddy".into()));
    }
    let o = member_obj(tx, member)?;
    write_buddies(tx, &o, buddies)
}

fn write_phone<T: Transactable + ReadDoc>(
    tx: &mut T,
    o: &automerge::ObjId,
    phone: Option<&str>,
) -> Result<(), DomainError> {
    match phone.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            check_phone(p)?;
            if get_str(tx, o, "phone")?.as_deref() != Some(p) {
                tx.put(o, "phone", p)?;
            }
        }
        None => {
            if tx.get(o, "phone")?.is_some() {
                tx.delete(o, "phone")?;
            }
        }
    }
    Ok(())
}

fn write_buddies<T: Transactable + ReadDoc>(
    tx: &mut T,
    o: &automerge::ObjId,
    wanted: &[MemberId],
) -> Result<(), DomainError> {
    let buddies = req_obj(tx, o, "buddies", ObjType::Map)?;
    let existing: Vec<String> = tx.keys(&buddies).collect();
    for k in &existing {
        if !wanted.iter().any(|b| b.to_string() == *k) {
            tx.delete(&buddies, k.as_str())?;
        }
    }
    for b in wanted {
        let k = b.to_string();
        if !existing.contains(&k) {
            tx.put(&buddies, k, true)?;
        }
    }
    Ok(())
}

fn read_escalation<D: ReadDoc>(doc: &D, policy: &automerge::ObjId) -> Result<Vec<EscalationStep>, DomainError> {
    let list = req_obj(doc, policy, "escalation", ObjType::List)?;
    let mut steps = Vec::new();
    for i in 0..doc.length(&list) {
        let id = match doc.get(&list, i)? {
            Some((automerge::Value::Object(ObjType::Map), id)) => id,
            _ => return Err(malformed("escalation steps must be maps")),
        };
        steps.push(EscalationStep {
            after: Secs(req_int(doc, &id, "after_s")?),
            notify: req_str(doc, &id, "notify")?.parse::<Notify>()?,
        });
    }
    Ok(steps)
}

/// Reads and checks a whole team document.
pub fn read<D: ReadDoc>(doc: &D) -> Result<Team, DomainError> {
    check_schema(doc, TEAM_SCHEMA)?;
    let r = &ROOT;
    let p = req_obj(doc, r, "policy", ObjType::Map)?;
    let policy = Policy {
        min_interval: Secs(req_int(doc, &p, "min_interval_s")?),
        max_interval: Secs(req_int(doc, &p, "max_interval_s")?),
        default_interval: Secs(req_int(doc, &p, "default_interval_s")?),
        grace: Secs(req_int(doc, &p, "grace_s")?),
        reminder_lead: Secs(req_int(doc, &p, "reminder_lead_s")?),
        escalation: read_escalation(doc, &p)?,
    };
    policy.check()?;
    let members_obj = req_obj(doc, r, "members", ObjType::Map)?;
    let mut members = Vec::new();
    for (k, o) in map_entries(doc, &members_obj)? {
        let buddies = req_obj(doc, &o, "buddies", ObjType::Map)?;
        let phone = get_str(doc, &o, "phone")?;
        if let Some(p) = &phone {
            check_phone(p)?;
        }
        members.push(Member {
            id: parse(&k, "member id")?,
            name: req_str(doc, &o, "name")?,
            role: enum_from_str(&req_str(doc, &o, "role")?, "role")?,
            buddies: id_set(doc, &buddies, "member id")?,
            phone,
        });
    }
    members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(Team {
        id: parse(&req_str(doc, r, "team_id")?, "team id")?,
        name: req_str(doc, r, "name")?,
        purpose: get_str(doc, r, "purpose")?.unwrap_or_default(),
        phone: get_str(doc, r, "phone")?,
        policy,
        members,
    })
}
