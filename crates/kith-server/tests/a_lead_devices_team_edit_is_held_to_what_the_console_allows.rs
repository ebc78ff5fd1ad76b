//! A lead edits the team from the browser console or from their own device. The console asks each
//! edit what the domain asks (`Policy::check_edit`: an escalation chain that reaches the leads,
//! bounded intervals; a team keeps a lead), but a lead device's pushed team changes were only read
//! for coherence: a chain that never reached a lead, or a team demoted to no lead at all, was
//! stored, and then a missed check-in reached nobody who could act. The server now asks the same of
//! a pushed edit (`Team::check_edit_from`): refused with a message, nothing stored; an edit the
//! console would allow goes through.

use crate::common;
use common::*;
use kith_domain::doc::team;
use kith_domain::{EscalationStep, Notify, Policy, Role, Secs};
use kith_proto::Outcome;
use kith_server::testing::TestServer;

/// An edit of the team document, as a lead's device makes it.
type Edit = Box<dyn Fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), kith_domain::DomainError>>;

#[tokio::test]
async fn a_chain_reaching_no_lead_or_a_team_with_no_lead_is_refused_and_a_good_edit_goes_through() {
    let server = TestServer::start().await;
    let (mut lead, _alice) = team_of_two(&server).await;
    lead.sync().await;
    let id = lead.team.uuid();
    let stored = server_doc(&server, id).await.unwrap().get_heads();
    let seq = max_seq(&server).await;

    let edits: [(&str, Edit); 2] = [
        (
            "must reach the leads",
            Box::new(|tx| {
                let p = Policy {
                    escalation: vec![EscalationStep { after: Secs(0), notify: Notify::Worker }],
                    ..Policy::default()
                };
                team::set_policy(tx, &p)
            }),
        ),
        ("keeps at least one lead", {
            let me = lead.member;
            Box::new(move |tx| team::set_role(tx, me, Role::Member))
        }),
    ];
    for (says, edit) in edits {
        let before = lead.doc(id).clone();
        lead.docs.get_mut(&id).unwrap().transact(|tx| edit(tx)).map_err(|f| f.error).unwrap();
        let resp = lead.sync_docs(&[id]).await;
        assert_invalid(&resp.docs[0].outcome, says);
        assert_eq!(server_doc(&server, id).await.unwrap().get_heads(), stored, "{says}: unchanged");
        assert_eq!(max_seq(&server).await, seq, "{says}: nothing stored");
        lead.docs.insert(id, before);
    }

    // A longer grace is an edit the console allows.
    let p = Policy { grace: Secs::minutes(20), ..Policy::default() };
    lead.docs.get_mut(&id).unwrap().transact(|tx| team::set_policy(tx, &p)).map_err(|f| f.error).unwrap();
    let resp = lead.sync_docs(&[id]).await;
    assert_eq!(resp.docs[0].outcome, Outcome::Accepted);
}
