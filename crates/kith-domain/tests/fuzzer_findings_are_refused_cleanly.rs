//! Inputs the fuzzers (fuzz/, docs/reliability.md) found that once made a decoder panic: each is
//! refused with an error. The files are kept with the seed corpora, so every fuzzing run also
//! starts from them.

use automerge::{Automerge, Change};
use kith_domain::authz::{Author, AuthzError, authorize};
use kith_domain::change::Decoded;
use kith_domain::{DeviceId, MemberId, Role, TeamId};

fn author() -> Author {
    Author { team: TeamId::new(), member: MemberId::new(), device: DeviceId::new(), role: Role::Member }
}

/// A change whose operations name an object of an actor the change does not list: Automerge 0.12's
/// `Change::decode` unwraps the missing actor and panics (automerge/src/change.rs:331). The
/// authorisation catches it and refuses the change as malformed (found by fuzz target push_change).
#[test]
fn a_change_naming_an_unlisted_actor_is_malformed() {
    let bytes = include_bytes!("../../../fuzz/seeds/push_change/automerge-decode-panic");
    let change = Change::from_bytes(bytes.to_vec()).expect("its header and checksum are valid");
    let doc = Automerge::new();
    match authorize(&doc, &Decoded::new(change.clone()), &author()) {
        Err(AuthzError::Malformed(_)) => {}
        other => panic!("expected the change to be refused as malformed, got {other:?}"),
    }
}
