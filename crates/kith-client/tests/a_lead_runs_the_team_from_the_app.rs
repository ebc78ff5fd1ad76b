//! The app's core for a lead's console: the policy and a member's phone edited on the device
//! (saved, then shared) reach the server; a worker edits only their own phone; invites come with a
//! QR code; the lead lists devices, takes over and gives away an alert.

use crate::common;

use common::{Device, Team, in_hours};
use kith_api::{EscalationStepView, MemberEdit};
use kith_client::{
    AlertIdInput, AlertsInput, AssignInput, CheckInInput, EditMemberInput, EditPolicyInput, InviteInput,
    StartShiftInput,
};
use kith_domain::{CheckInStatus, Notify, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_edits_the_policy_and_a_worker_only_their_own_phone() {
    let t = Team::new().await;
    let mut policy = t.lead.client.team_view().await.unwrap().policy;
    policy.grace_s = 300;
    policy.escalation = vec![
        EscalationStepView { after_s: 0, notify: Notify::Buddies },
        EscalationStepView { after_s: 120, notify: Notify::Leads },
    ];
    let v = t.lead.client.edit_policy(EditPolicyInput { policy: policy.clone() }).await.unwrap();
    assert_eq!(v.policy, policy);
    assert!(v.can_edit);
    // Shared: the worker's device gets it with its next sync.
    t.worker.client.sync_now().await.unwrap();
    assert_eq!(t.worker.client.team_view().await.unwrap().policy.grace_s, 300);

    let me = t.worker.client.state().await.unwrap().me.unwrap().member_id;
    let lead = t.lead.client.state().await.unwrap().me.unwrap().member_id;
    let phone = MemberEdit { phone: Some("+44 7700 900123".into()), ..MemberEdit::default() };
    let v = t.worker.client.edit_member(EditMemberInput { member: me, edit: phone.clone() }).await.unwrap();
    assert_eq!(v.members.iter().find(|m| m.id == me).unwrap().phone.as_deref(), Some("+44 7700 900123"));
    let e = t.worker.client.edit_member(EditMemberInput { member: lead, edit: phone }).await.unwrap_err();
    assert_eq!(e.code(), "forbidden");
    let promote = MemberEdit { role: Some(Role::Lead), ..MemberEdit::default() };
    let e = t.worker.client.edit_member(EditMemberInput { member: me, edit: promote }).await.unwrap_err();
    assert_eq!(e.code(), "forbidden");
    let e = t.worker.client.edit_policy(EditPolicyInput { policy }).await.unwrap_err();
    assert_eq!(e.code(), "forbidden");
    // The lead's board, from the server, shows the worker's phone.
    t.lead.client.sync_now().await.unwrap();
    let board = t.lead.client.board().await.unwrap();
    let row = board.rows.iter().find(|r| r.member == me.uuid()).unwrap();
    assert_eq!(row.phone.as_deref(), Some("+44 7700 900123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_invites_lists_devices_and_hands_an_alert_on() {
    let t = Team::new().await;
    let inv = t.lead.client.invite(InviteInput { role: "lead".into(), expires_in_s: None, uses: None }).await.unwrap();
    assert!(inv.qr_svg.contains("<svg"), "{}", inv.qr_svg);
    let mo = Device::new().await;
    mo.join(&t.server, &inv.code, "Mo").await;
    let devices = t.lead.client.devices().await.unwrap();
    assert_eq!(devices.devices.len(), 3);
    assert!(t.worker.client.devices().await.is_err(), "only leads");

    t.worker
        .client
        .start_shift(StartShiftInput {
            purpose: Some("Survey".into()),
            planned_end: in_hours(3),
            interval_s: None,
            buddies: Some(vec![]),
        })
        .await
        .unwrap();
    t.worker
        .client
        .check_in(CheckInInput {
            status: CheckInStatus::Emergency,
            mood: None,
            confidence: None,
            note: Some("Fell".into()),
            note_visibility: None,
            lat: None,
            lon: None,
        })
        .await
        .unwrap();
    let list = t.lead.client.alerts(AlertsInput::default()).await.unwrap();
    let id = list.alerts[0].id;
    assert_eq!(list.alerts[0].said.as_ref().and_then(|c| c.note.as_deref()), Some("Fell"));
    t.lead.client.claim_alert(AlertIdInput { id }).await.unwrap();
    let a = mo.client.take_over_alert(AlertIdInput { id }).await.unwrap();
    assert_eq!(a.claimed_by_name.as_deref(), Some("Mo"));
    let lead = t.lead.client.state().await.unwrap().me.unwrap().member_id;
    let a = mo.client.assign_alert(AssignInput { id, member: lead }).await.unwrap();
    assert_eq!(a.claimed_by, Some(lead.uuid()));
    let actions: Vec<_> = a.history.iter().map(|h| h.action.as_str()).collect();
    assert!(actions.ends_with(&["claimed", "taken_over", "assigned"]), "{actions:?}");
    assert!(t.worker.client.take_over_alert(AlertIdInput { id }).await.is_err(), "only leads");
}
