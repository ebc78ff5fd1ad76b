//! Property: the deadline engine's copy of a shift, a [`Summary`] kept up to date from what each
//! change adds (and made again from the whole shift only when it says it must be), always gives
//! the timeline the whole shift gives, which is all the deadline rules read: over random check-ins
//! (support and emergency among them), receipts at the same moment, later, or earlier (a server
//! clock put back), clock offsets, extensions and the end.

use crate::common;
use common::*;
use kith_domain::alerts::{Receipt, ShiftReceipts, Summary, Timeline};
use kith_domain::doc::ShiftAdditions;
use kith_domain::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Batch {
    /// (status, device minute) of each check-in the change adds.
    checkins: Vec<(u8, i64)>,
    /// (made at, new end), device minutes.
    extend: Option<(i64, i64)>,
    end: bool,
    /// Minutes from the previous receipt (negative: the server clock was put back).
    step: i64,
    offset_min: i64,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop::collection::vec((0..6u8, 0..600i64), 0..4),
        prop::option::weighted(0.15, (0..600i64, 0..900i64)),
        prop::bool::weighted(0.05),
        prop_oneof![3 => Just(0i64), 6 => 1..30i64, 1 => -20..0i64],
        -3..3i64,
    )
        .prop_map(|(checkins, extend, end, step, offset_min)| Batch { checkins, extend, end, step, offset_min })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_summary_gives_the_whole_shifts_timeline(batches in prop::collection::vec(batch(), 1..40)) {
        let mut s = new_shift(MemberId::new(), TeamId::new());
        let device = DeviceId::new();
        let mut r = ShiftReceipts { header: Receipt { received_at: T0, offset_ms: 0 }, ..ShiftReceipts::default() };
        let mut summary = Summary::of(&s, &r, T0, false);
        let mut received = T0;
        for b in &batches {
            received = received.plus_ms(b.step * 60_000);
            let rc = Receipt { received_at: received, offset_ms: b.offset_min * 60_000 };
            let mut added = ShiftAdditions::default();
            let mut br = ShiftReceipts::default();
            for &(status, min) in &b.checkins {
                // Mostly ok, as in a real shift.
                let status = match status {
                    4 => CheckInStatus::Support,
                    5 => CheckInStatus::Emergency,
                    _ => CheckInStatus::Ok,
                };
                let c = CheckIn::new(status, at_min(min), s.worker, device);
                r.checkins.insert(c.id, rc);
                br.checkins.insert(c.id, rc);
                s.checkins.push(c.clone());
                added.checkins.push(c);
            }
            s.checkins.sort_by_key(|c| (c.device_time, c.id));
            if let Some((at, end)) = b.extend {
                let e = Extension { id: ExtensionId::new(), new_end: at_min(end), reason: "longer".into(), at: at_min(at) };
                r.extensions.insert(e.id, rc);
                br.extensions.insert(e.id, rc);
                s.extensions.push(e.clone());
                added.extensions.push(e);
            }
            if b.end {
                let end = ShiftEnd { at: at_min(600), note: None };
                s.ended = Some(end.clone());
                r.ended.get_or_insert(rc);
                br.ended = Some(rc);
                added.ended = Some(Some(end));
            }
            let mut next = summary.clone();
            summary = match next.add(&added, &br) {
                Ok(()) => next,
                Err(_) => Summary::of(&s, &r, received, false),
            };
            for now in [received, received.plus_ms(3_600_000)] {
                prop_assert_eq!(summary.timeline(now).into_owned(), Timeline::of(&s, &r, now));
            }
        }
    }
}

#[test]
fn a_long_shift_of_checkins_is_summed_up_without_reading_it_again() {
    let mut s = new_shift(MemberId::new(), TeamId::new());
    let device = DeviceId::new();
    let mut r = ShiftReceipts { header: Receipt { received_at: T0, offset_ms: 0 }, ..ShiftReceipts::default() };
    let mut summary = Summary::of(&s, &r, T0, false);
    for m in 1..=300 {
        // Every tenth a support request: each raises its alert while it is the latest.
        let status = if m % 10 == 0 { CheckInStatus::Support } else { CheckInStatus::Ok };
        let c = CheckIn::new(status, at_min(m), s.worker, device);
        let rc = Receipt { received_at: at_min(m), offset_ms: 0 };
        r.checkins.insert(c.id, rc);
        s.checkins.push(c.clone());
        let br = ShiftReceipts { checkins: [(c.id, rc)].into(), ..ShiftReceipts::default() };
        summary.add(&ShiftAdditions { checkins: vec![c], ..ShiftAdditions::default() }, &br).expect("applies");
    }
    assert_eq!(summary.timeline(at_min(300)).into_owned(), Timeline::of(&s, &r, at_min(300)));
    assert_eq!(summary.timeline(at_min(300)).raising.len(), 30);
    // Once their alerts are stored, the summary keeps none of them.
    summary.forget_raised(|key| key.starts_with("support:"));
    assert!(summary.timeline(at_min(300)).raising.is_empty());
    assert!(!summary.is_whole());
}

#[test]
fn an_entry_under_another_spelling_of_its_id_needs_the_whole_shift() {
    let s = new_shift(MemberId::new(), TeamId::new());
    let r = ShiftReceipts::default();
    let mut summary = Summary::of(&s, &r, T0, false);
    let c = CheckIn::new(CheckInStatus::Ok, at_min(1), s.worker, DeviceId::new());
    let added = ShiftAdditions { checkins: vec![c.clone()], odd_keys: true, ..ShiftAdditions::default() };
    let br = ShiftReceipts { checkins: [(c.id, Receipt::default())].into(), ..ShiftReceipts::default() };
    assert_eq!(summary.add(&added, &br), Err(alerts::NeedsWhole::MayReplace));
    assert!(Summary::of(&s, &r, T0, true).is_whole());
    assert!(kith_domain::ids::is_canonical(&c.id.to_string()));
    assert!(!kith_domain::ids::is_canonical(&c.id.to_string().to_uppercase()));
}
