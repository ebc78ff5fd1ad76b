//! The real `kith` against a real server whose storage fails like a full disk (`Busy`), then
//! recovers. The emergency made meanwhile says it is queued, not sent; it is never parked: the
//! next `kith sync`, with no new change by the worker, sends it again, the server raises its
//! alert and the lead sees it.

use crate::with_server;

use with_server::Team;

#[test]
fn an_emergency_refused_while_the_servers_disk_is_full_goes_out_at_the_next_sync() {
    let t = Team::with_storage_faults();
    t.worker.ok(&["shift", "start", "--purpose", "Reservoir inspection", "--until", "+4h"]);

    t.server.faults().fill_disk();
    let out = t.worker.ok(&["checkin", "emergency", "--note", "Fell on the dam steps"]);
    assert!(out.contains("EMERGENCY") && out.contains("saved on this device"), "{out}");
    assert!(out.contains("Nobody has been reached yet"), "{out}");
    assert!(out.contains("Not yet shared with your team: the team server could not store it now"), "{out}");
    assert!(out.contains("queued on this device"), "{out}");
    assert!(!out.contains("Not shared with your team"), "a refusal for now is not final: {out}");

    let v = t.worker.json(&["sync"]);
    assert_eq!(v["pushed_docs"], 1, "still queued, so pushed again: {v}");
    assert_eq!(v["retrying"][0]["code"], "busy", "{v}");
    assert_eq!(v["rejected"].as_array().map(Vec::len), Some(0), "{v}");
    let text = t.worker.ok(&["sync"]);
    assert!(text.contains("Not delivered yet: the team server could not store 1 document now"), "{text}");
    assert!(t.lead.ok(&["alerts"]).contains("No open alerts"), "nothing reached anyone yet");

    t.server.faults().free_disk();
    let text = t.worker.ok(&["sync"]);
    assert!(text.contains("sent 1 document(s)"), "{text}");
    assert!(!text.contains("Not delivered") && !text.contains("still only on this device"), "{text}");
    let status = t.worker.ok(&["status"]);
    assert!(!status.contains("Not yet shared"), "{status}");

    let alerts = t.lead.ok(&["alerts"]);
    assert!(alerts.contains("EMERGENCY") && alerts.contains("Alice Field") && alerts.contains("OPEN"), "{alerts}");
    let team = t.lead.ok(&["team"]);
    assert!(team.contains("Fell on the dam steps"), "the lead's device has the check-in: {team}");
}
