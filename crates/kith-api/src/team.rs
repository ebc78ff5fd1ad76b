//! Editing the team from the console: its roster and policy as a lead edits them, a member's
//! edit, the team's devices, and assigning an alert. The rules a lead's edit must keep are the
//! domain's (`Policy::check_edit`, `Team::check_role_change`, `Team::check_buddies`,
//! `check_phone`); these types only carry them.

use kith_domain::{
    DeviceId, DomainError, EscalationStep, MemberId, Notify, Policy, Role, Secs, Team, TeamId, Timestamp,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One step of the escalation chain, as a lead edits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EscalationStepView {
    /// Seconds after the overdue moment (cumulative from it, not from the step before).
    pub after_s: i64,
    pub notify: Notify,
}

/// The team's whole policy: check-in interval limits, grace, reminder lead and escalation chain.
/// `PUT /v1/team/policy` body, and the `edit_policy` command's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PolicyEdit {
    pub min_interval_s: i64,
    pub max_interval_s: i64,
    pub default_interval_s: i64,
    /// How long past due before a check-in counts as overdue.
    pub grace_s: i64,
    /// How long before a due time (or planned end) the worker is reminded.
    pub reminder_lead_s: i64,
    /// In time order; must reach the leads.
    pub escalation: Vec<EscalationStepView>,
}

impl PolicyEdit {
    pub fn of(p: &Policy) -> PolicyEdit {
        PolicyEdit {
            min_interval_s: p.min_interval.get(),
            max_interval_s: p.max_interval.get(),
            default_interval_s: p.default_interval.get(),
            grace_s: p.grace.get(),
            reminder_lead_s: p.reminder_lead.get(),
            escalation: p
                .escalation
                .iter()
                .map(|s| EscalationStepView { after_s: s.after.get(), notify: s.notify })
                .collect(),
        }
    }

    /// The policy, checked as a lead's edit must be (`Policy::check_edit`).
    pub fn to_policy(&self) -> Result<Policy, DomainError> {
        let p = Policy {
            min_interval: Secs(self.min_interval_s),
            max_interval: Secs(self.max_interval_s),
            default_interval: Secs(self.default_interval_s),
            grace: Secs(self.grace_s),
            reminder_lead: Secs(self.reminder_lead_s),
            escalation: self
                .escalation
                .iter()
                .map(|s| EscalationStep { after: Secs(s.after_s), notify: s.notify })
                .collect(),
        };
        p.check_edit()?;
        Ok(p)
    }
}

/// One member of the roster, as the console shows and edits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    pub phone: Option<String>,
    /// Standing buddies (each shift may name others).
    pub buddies: Vec<MemberId>,
}

/// `GET /v1/team`: the roster and the whole policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TeamView {
    pub id: TeamId,
    pub name: String,
    pub purpose: String,
    /// The team's own phone number (shown with an emergency made offline).
    pub phone: Option<String>,
    pub policy: PolicyEdit,
    /// By name.
    pub members: Vec<MemberView>,
    /// The viewer may edit the policy and the roster (a lead).
    pub can_edit: bool,
}

impl TeamView {
    pub fn of(team: &Team, can_edit: bool) -> TeamView {
        TeamView {
            id: team.id,
            name: team.name.clone(),
            purpose: team.purpose.clone(),
            phone: team.phone.clone(),
            policy: PolicyEdit::of(&team.policy),
            members: team
                .members
                .iter()
                .map(|m| MemberView {
                    id: m.id,
                    name: m.name.clone(),
                    role: m.role,
                    phone: m.phone.clone(),
                    buddies: m.buddies.clone(),
                })
                .collect(),
            can_edit,
        }
    }
}

/// `PUT /v1/members/{id}` body: what to change of one member (absent fields are left alone).
/// A member may change their own phone and buddies; a lead anyone's, and roles.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MemberEdit {
    #[serde(default)]
    #[ts(optional)]
    pub role: Option<Role>,
    #[serde(default)]
    #[ts(optional)]
    pub buddies: Option<Vec<MemberId>>,
    /// A phone number; empty removes it.
    #[serde(default)]
    #[ts(optional)]
    pub phone: Option<String>,
}

impl MemberEdit {
    /// Whether anything in it is for leads only (a role).
    pub fn needs_lead(&self) -> bool {
        self.role.is_some()
    }

    /// The phone to write: `Some(None)` removes it, `None` leaves it.
    pub fn phone(&self) -> Option<Option<&str>> {
        self.phone.as_deref().map(|p| Some(p.trim()).filter(|p| !p.is_empty()))
    }

    /// Checks the edit of `member` against the team's rules before anything is written.
    pub fn check(&self, team: &Team, member: MemberId) -> Result<(), DomainError> {
        if team.member(member).is_none() {
            return Err(DomainError::Invalid(format!("there is no member {member} in this team")));
        }
        if let Some(role) = self.role {
            team.check_role_change(member, role)?;
        }
        if let Some(b) = &self.buddies {
            team.check_buddies(member, b)?;
        }
        if let Some(Some(p)) = self.phone() {
            kith_domain::check_phone(p)?;
        }
        Ok(())
    }
}

/// One device of the team, for a lead (`GET /v1/devices`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceView {
    pub id: DeviceId,
    pub member: MemberId,
    pub member_name: String,
    /// What the device called itself when it joined ("Kith on alice-laptop", "Dashboard in Chromium").
    pub label: String,
    /// When it joined (server clock).
    pub joined_at: Timestamp,
    /// When it last reached the server (since the server started), if it has.
    pub last_seen: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The device asking.
    pub this_device: bool,
}

/// `GET /v1/devices`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceList {
    pub server_time: Timestamp,
    /// Working devices first, then revoked ones; by member name within each.
    pub devices: Vec<DeviceView>,
}

/// `POST /v1/alerts/{id}/assign` body: the lead or buddy who owns the alert from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AssignRequest {
    pub member: MemberId,
}
