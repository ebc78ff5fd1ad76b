//! The lead's console on the command line: `kith team show|policy|member`, `kith invite`,
//! `kith devices`. Team edits are written into this device's copy of the team document (like any
//! change: saved first, then shared) with the same rules as the app (kith_client::local); invites
//! and devices live on the server.

use serde_json::json;

use kith_api::{DeviceList, EscalationStepView, InviteRequest, InviteResponse, MemberEdit, PolicyEdit, TeamView};
use kith_client::local;
use kith_domain::{MemberId, Notify, Team, Timestamp};
use kith_sync::Method;

use crate::cli::{DevicesArgs, DevicesCommand, InviteArgs, MemberArgs, PolicyArgs};
use crate::clock::{format_duration, parse_interval, relative, rfc3339};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::net;
use crate::remote::linked;
use crate::session::Session;

fn is_lead(s: &mut Session, team: &Team) -> Result<bool, CliError> {
    let link = net::server_link(s)?;
    Ok(local::is_lead(team, s.profile.member_id, link.as_ref()))
}

fn team_text(cx: &Ctx<'_>, t: &Team, lead: bool) -> String {
    let p = &t.policy;
    let d = |s: kith_domain::Secs| format_duration(s);
    let mut out =
        format!("{}{}\n", t.name, t.phone.as_deref().map(|p| format!(" (team phone {p})")).unwrap_or_default());
    out.push_str(&format!(
        "Policy: check in every {} to {} (default {}); overdue {} after due; reminder {} before.\n",
        d(p.min_interval),
        d(p.max_interval),
        d(p.default_interval),
        d(p.grace),
        d(p.reminder_lead)
    ));
    let chain: Vec<String> = p.escalation.iter().map(|s| format!("{} {}", d(s.after), s.notify)).collect();
    out.push_str(&format!("Escalation after the overdue moment: {}.\n", chain.join(", then ")));
    out.push_str(&format!("{} member(s):\n", t.members.len()));
    for m in &t.members {
        let buddies: Vec<&str> = m.buddies.iter().filter_map(|b| t.member(*b)).map(|b| b.name.as_str()).collect();
        out.push_str(&format!(
            "  {:<24} {:<6} phone {:<18} buddies {}\n    id {}\n",
            m.name,
            match m.role {
                kith_domain::Role::Member => "member",
                _ => "lead",
            },
            m.phone.as_deref().unwrap_or("-"),
            if buddies.is_empty() { "-".to_string() } else { buddies.join(", ") },
            m.id
        ));
    }
    let _ = cx;
    out.push_str(if lead {
        "Change it with kith team policy ... and kith team member <who> ...\n"
    } else {
        "Set your own phone number with kith team member me --phone \"...\"\n"
    });
    out
}

/// `kith team show`.
pub fn show(cx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let t = local::team(&mut s.store, &s.profile)?;
    let lead = is_lead(&mut s, &t)?;
    let text = team_text(cx, &t, lead);
    let out = cx.emit(&TeamView::of(&t, lead), &text);
    s.finish();
    out
}

/// An escalation chain as written on the command line: `0:worker,5m:buddies,15m:leads`.
pub fn parse_escalation(input: &str) -> Result<Vec<EscalationStepView>, CliError> {
    input
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|step| {
            let (after, who) = step.split_once(':').ok_or_else(|| {
                CliError::Usage(format!(
                    "'{step}' is not an escalation step: write time:who, e.g. 5m:buddies (who is worker, buddies or leads)"
                ))
            })?;
            let after = if after.trim() == "0" { kith_domain::Secs(0) } else { parse_interval(after)? };
            let notify: Notify = who.trim().parse().map_err(|_| {
                CliError::Usage(format!("'{}' is not someone to notify: use worker, buddies or leads", who.trim()))
            })?;
            Ok(EscalationStepView { after_s: after.get(), notify })
        })
        .collect()
}

/// `kith team policy ...`: changes the given fields, keeps the others.
pub fn policy(cx: &mut Ctx<'_>, a: &PolicyArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let t = local::team(&mut s.store, &s.profile)?;
    let mut p = PolicyEdit::of(&t.policy);
    let secs = |v: &Option<String>, into: &mut i64| -> Result<(), CliError> {
        if let Some(v) = v {
            *into = parse_interval(v)?.get();
        }
        Ok(())
    };
    secs(&a.min, &mut p.min_interval_s)?;
    secs(&a.max, &mut p.max_interval_s)?;
    secs(&a.default, &mut p.default_interval_s)?;
    secs(&a.grace, &mut p.grace_s)?;
    secs(&a.reminder, &mut p.reminder_lead_s)?;
    if let Some(e) = &a.escalation {
        p.escalation = parse_escalation(e)?;
    }
    let link = net::server_link(&s)?;
    let t = local::edit_policy(&mut s.store, &s.profile, link.as_ref(), &p)?;
    let sharing = net::share(&mut s, t.id.uuid(), cx.now);
    let text = format!(
        "Policy saved on this device at {}. {}\n{}",
        cx.clock(cx.now),
        sharing.line(|at| cx.clock(at)),
        team_text(cx, &t, true)
    );
    let value = json!({ "team": TeamView::of(&t, true), "saved_at": rfc3339(cx.now), "sharing": sharing.json(), "shared": sharing.shared() });
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// `kith team member <who> [--role] [--buddy ...|--no-buddies] [--phone ...|--no-phone]`.
pub fn member(cx: &mut Ctx<'_>, a: &MemberArgs) -> Result<(), CliError> {
    let mut s = Session::open(&cx.dir)?;
    let t = local::team(&mut s.store, &s.profile)?;
    let me = s.profile.member_id;
    let who = local::find_member(&t, me, &a.who)?;
    let buddies = if a.no_buddies {
        Some(Vec::new())
    } else if a.buddies.is_empty() {
        None
    } else {
        Some(a.buddies.iter().map(|b| local::find_member(&t, me, b)).collect::<Result<Vec<MemberId>, _>>()?)
    };
    let edit = MemberEdit {
        role: a.role.map(Into::into),
        buddies,
        phone: if a.no_phone { Some(String::new()) } else { a.phone.clone() },
    };
    if edit == MemberEdit::default() {
        return Err(CliError::Usage(
            "say what to change: --role, --buddy (or --no-buddies), --phone (or --no-phone)".into(),
        ));
    }
    let link = net::server_link(&s)?;
    let t = local::edit_member(&mut s.store, &s.profile, link.as_ref(), who, &edit)?;
    let lead = is_lead(&mut s, &t)?;
    let sharing = net::share(&mut s, t.id.uuid(), cx.now);
    let name = t.member(who).map_or("them", |m| m.name.as_str());
    let text = format!(
        "{name}: saved on this device at {}. {}\n{}",
        cx.clock(cx.now),
        sharing.line(|at| cx.clock(at)),
        team_text(cx, &t, lead)
    );
    let value = json!({ "team": TeamView::of(&t, lead), "member": who, "saved_at": rfc3339(cx.now), "sharing": sharing.json(), "shared": sharing.shared() });
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

/// `kith invite [--role] [--uses] [--expires]`.
pub fn invite(cx: &mut Ctx<'_>, a: &InviteArgs) -> Result<(), CliError> {
    let s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    let client = link.client()?;
    let expires = humantime::parse_duration(a.expires.trim()).map_err(|_| {
        CliError::Usage(format!("'{}' is not a duration: write it like 7d or 12h (at most 90 days)", a.expires))
    })?;
    let role = match a.role {
        crate::cli::RoleArg::Member => "member",
        crate::cli::RoleArg::Lead => "lead",
    };
    let body = InviteRequest { role: role.into(), uses: a.uses, expires_in_s: expires.as_secs() };
    let inv: InviteResponse =
        net::block_on(client.request(Method::POST, "v1/invites", Some(&body)))?.map_err(net::sync_err)?;
    let text = format!(
        "Invite for a {role} ({} use(s)), valid until {}:\n  code {}\n  link {}\nThey join with: kith join \"{}\" --name \"Their Name\" (or open the link in the app).\n",
        a.uses,
        cx.clock(Timestamp(inv.expires_at)),
        inv.code,
        inv.link,
        inv.link
    );
    let value = json!({ "code": inv.code, "link": inv.link, "expires_at": rfc3339(Timestamp(inv.expires_at)), "role": role, "uses": a.uses });
    let out = cx.emit(&value, &text);
    s.finish();
    out
}

fn devices_text(cx: &Ctx<'_>, list: &DeviceList) -> String {
    let mut out = format!("{} device(s):\n", list.devices.len());
    for d in &list.devices {
        let state = match (d.revoked_at, d.last_seen) {
            (Some(at), _) => format!("REVOKED {}", cx.clock(at)),
            (None, Some(seen)) => format!("last seen {}", relative(seen, list.server_time)),
            (None, None) => "not seen since the server started".into(),
        };
        out.push_str(&format!(
            "  {:<20} {:<28} joined {}  {}{}\n    id {}\n",
            d.member_name,
            d.label,
            cx.clock(d.joined_at),
            state,
            if d.this_device { "  (this device)" } else { "" },
            d.id
        ));
    }
    out.push_str("Revoke one with: kith devices revoke <id>\n");
    out
}

/// `kith devices [list|revoke <id>]`.
pub fn devices(cx: &mut Ctx<'_>, a: &DevicesArgs) -> Result<(), CliError> {
    let s = Session::open(&cx.dir)?;
    let link = linked(&s)?;
    let client = link.client()?;
    let (list, head): (DeviceList, _) = match &a.action {
        None | Some(DevicesCommand::List) => (
            net::block_on(client.request(Method::GET, "v1/devices", None::<&()>))?.map_err(net::sync_err)?,
            String::new(),
        ),
        Some(DevicesCommand::Revoke { id }) => {
            let path = format!("v1/devices/{id}/revoke");
            let list = net::block_on(client.request(Method::POST, &path, None::<&()>))?.map_err(net::sync_err)?;
            (list, format!("Revoked {id}: it is cut off now, and nothing it sends is stored.\n"))
        }
    };
    let text = format!("{head}{}", devices_text(cx, &list));
    let out = cx.emit(&list, &text);
    s.finish();
    out
}
