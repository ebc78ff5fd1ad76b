//! The latest stored changes, in memory: the feed of a device that syncs regularly is answered
//! from here instead of from the database. A cache: every answer it gives, the database would
//! give too, and what it cannot answer the database does.
//!
//! [`Recent`] holds every change with a seq in `(base, max]`, in seq order, each with the
//! document facts the feed needs (team, kind, owner, whether it created its document). It is
//! only ever extended by a *complete range* of stored changes ([`Recent::extend_range`]: every
//! change with a seq in `(after, upto]`, read from the database or just committed), starting at
//! or below its own greatest seq, so it never has a hole. Both backends keep the storage
//! contract's seq rule (a reader that has seen seq N never later sees a new change below N), so
//! a range read once is final. Who extends it: the backend's writer after each commit (its own
//! changes, and first the changes other processes stored since the window's greatest seq, read
//! in the same transaction), and the backend's watcher of other processes' commits (SQLite:
//! `PRAGMA data_version`; PostgreSQL: LISTEN/NOTIFY), see [`super::log`]. Until one of them has,
//! a reader may answer a feed from a window that lacks another process's newest changes; its
//! cursor then stops at the window's greatest seq, below them, so they are delivered later, never
//! skipped. A position outside the window (an old cursor, one beyond it, or right after the
//! server started) is answered from the database; if that shows a greater seq than the window's,
//! the window answers nothing until it has been extended past it (`seen`), so one feed never
//! mixes a cursor from the database with documents from a window that lacks some changes.

use std::collections::{HashSet, VecDeque};

use kith_domain::{DeviceId, MemberId, TeamId};
use kith_proto::Kind;
use uuid::Uuid;

use super::{DocMeta, FeedEntry, FeedPosition, FeedScope, StoredRef};
use crate::table::Table;

/// Changes read from the database at once to extend the window, at most.
pub const CAPACITY: usize = 1 << 16;

/// The window's bound unless set (`cache.feed_window_bytes`): about 58,000 changes.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;

/// A change's slot in the window's deque.
const SLOT_BYTES: usize = std::mem::size_of::<RecentChange>();

/// A change's place in its team's index.
const INDEX_BYTES: usize = std::mem::size_of::<u64>();

/// One stored change, as the feed needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentChange {
    pub seq: u64,
    pub doc: Uuid,
    pub team: TeamId,
    pub kind: Kind,
    pub owner: Option<MemberId>,
    pub hash: Vec<u8>,
    /// The change created its document (it is the document's first).
    pub created: bool,
    /// The device that pushed it, or on whose behalf the server wrote it.
    pub device: Option<DeviceId>,
    /// Written by the server with its own actor.
    pub by_server: bool,
}

impl RecentChange {
    /// The change as the change log's followers see it.
    pub fn into_ref(self) -> StoredRef {
        StoredRef {
            seq: self.seq,
            meta: DocMeta { id: self.doc, team: self.team, kind: self.kind, owner: self.owner },
            device: self.device,
            by_server: self.by_server,
            hash: self.hash,
        }
    }

    /// What the window counts for it besides its slot in the window's deque and its team's
    /// index, which are counted by their capacity: its hash (32 bytes).
    fn bytes(&self) -> usize {
        self.hash.capacity()
    }
}

/// The window of recent changes.
#[derive(Debug)]
pub struct Recent {
    /// The greatest seq stored before the window starts, and its hash (none if there is none).
    base: u64,
    base_hash: Option<Vec<u8>>,
    /// Every change with seq > `base`, in seq order.
    changes: VecDeque<RecentChange>,
    /// How many changes were forgotten from the front of `changes` since the window started:
    /// `changes[i]` is change number `front + i` (the numbers in `teams`).
    front: u64,
    /// The numbers of each team's changes in the window, in seq order. A feed reads only its
    /// own team's: a quiet device's cursor stays at the last change it may see, tens of
    /// thousands of other teams' changes behind on a busy server, and its periodic sync would
    /// otherwise walk all of them (docs/benchmarks.md, "A quiet sync").
    teams: Table<TeamId, VecDeque<u64>>,
    /// The greatest seq a reader saw in the database. Greater than the window's: changes were
    /// stored that the window does not hold yet, and it answers nothing until it does.
    seen: u64,
    /// What the window holds: the capacity of `changes` (allocated slots, not only used ones: a
    /// deque grows by doubling, and counting its length let the window hold up to twice its
    /// budget), the changes' hashes, each team's index by its capacity, and the teams' map's table
    /// (by its buckets: it doubles too, and keeps its size as teams go). Kept at
    /// most `max_bytes`: the deque grows only as far as the budget reaches, and the oldest
    /// changes are forgotten to make room.
    bytes: usize,
    max_bytes: usize,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent {
            base: 0,
            base_hash: None,
            changes: VecDeque::new(),
            front: 0,
            teams: Table::default(),
            seen: 0,
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl Recent {
    /// An empty window after the change `(seq, hash)`, the greatest stored (none: no changes).
    pub fn after(last: Option<(u64, Vec<u8>)>) -> Recent {
        match last {
            Some((seq, hash)) => Recent { base: seq, base_hash: Some(hash), ..Recent::default() },
            None => Recent::default(),
        }
    }

    /// Bounds the window to `max` bytes, forgetting its oldest changes if it holds more.
    pub fn set_max_bytes(&mut self, max: usize) {
        self.max_bytes = max;
        self.forget_past_max();
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The bytes the window holds, its deques counted by capacity (at most [`Recent::max_bytes`]).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets the oldest change; false if there is none.
    fn forget_oldest(&mut self) -> bool {
        let Some(c) = self.changes.pop_front() else { return false };
        self.bytes = self.bytes.saturating_sub(c.bytes());
        if let Some(own) = self.teams.get_mut(&c.team) {
            own.pop_front();
            if own.is_empty() {
                let index = own.capacity() * INDEX_BYTES;
                let freed = index + self.teams.bytes();
                self.teams.remove(&c.team);
                // The table keeps its size: made smaller once a quarter full or less.
                self.teams.shrink_to(2 * self.teams.len());
                self.bytes = self.bytes.saturating_sub(freed) + self.teams.bytes();
            } else if own.capacity() > 2 * own.len() + 64 {
                let before = own.capacity();
                own.shrink_to_fit();
                self.bytes = self.bytes.saturating_sub((before - own.capacity()) * INDEX_BYTES);
            }
        }
        self.front += 1;
        self.base = c.seq;
        self.base_hash = Some(c.hash);
        true
    }

    /// Gives the deque's unused slots back; whether it held any.
    fn shrink_changes(&mut self) -> bool {
        let before = self.changes.capacity();
        self.changes.shrink_to_fit();
        self.bytes = self.bytes.saturating_sub((before - self.changes.capacity()) * SLOT_BYTES);
        self.changes.capacity() < before
    }

    fn forget_past_max(&mut self) {
        while self.bytes > self.max_bytes {
            // Unused slots go first when giving them back is enough (a lowered budget).
            let spare = (self.changes.capacity() - self.changes.len()) * SLOT_BYTES;
            if spare > 0 && self.bytes - spare <= self.max_bytes && self.shrink_changes() {
                continue;
            }
            if !self.forget_oldest() {
                break;
            }
        }
        // A window cut to a fraction of what it held gives the rest back.
        if self.changes.capacity() > 2 * self.changes.len() + 64 {
            self.shrink_changes();
        }
    }

    /// How many more places a full deque may grow by (at most doubling, as a deque would): what
    /// the budget leaves after `need`, for places that each bring `each` bytes once filled (a slot
    /// the budget could not fill would hold memory and no change); 0 if it leaves none.
    fn growth(&self, capacity: usize, need: usize, each: usize) -> usize {
        capacity.max(4).min(self.max_bytes.saturating_sub(self.bytes + need) / each)
    }

    /// What the teams' table grows by if `team` is new to it.
    fn teams_growth(&self, team: TeamId) -> usize {
        if self.teams.contains_key(&team) { 0 } else { self.teams.bytes_after_insert() - self.teams.bytes() }
    }

    fn push(&mut self, c: RecentChange) {
        // Room first, so that the deques grow only as far as the budget reaches: the change's
        // hash and its team's index entry, and a slot (a full deque grows by at most what is
        // left, or the oldest change is forgotten and its slot used).
        let mut need = c.bytes() + INDEX_BYTES;
        // A new team in a full table of teams doubles it.
        while self.bytes + need + self.teams_growth(c.team) > self.max_bytes && self.forget_oldest() {}
        need += self.teams_growth(c.team);
        if self.changes.len() == self.changes.capacity() {
            let grow = self.growth(self.changes.capacity(), need, SLOT_BYTES + need);
            // No room to grow: the oldest change's slot is used instead.
            if grow == 0 {
                self.forget_oldest();
            }
            let before = self.changes.capacity();
            self.changes.reserve_exact(grow.max(1));
            self.bytes += (self.changes.capacity() - before) * SLOT_BYTES;
        }
        let table = self.teams.bytes();
        let (len, capacity) = match self.teams.get(&c.team) {
            Some(own) => (own.len(), own.capacity()),
            None => {
                self.teams.insert(c.team, VecDeque::new());
                (0, 0)
            }
        };
        self.bytes += self.teams.bytes() - table;
        let grow = if len == capacity { self.growth(capacity, c.bytes(), INDEX_BYTES + c.bytes()).max(1) } else { 0 };
        let number = self.front + self.changes.len() as u64;
        self.bytes += c.bytes();
        let own = self.teams.get_or_insert_with(c.team, VecDeque::new);
        own.reserve_exact(grow);
        self.bytes += (own.capacity() - capacity) * INDEX_BYTES;
        own.push_back(number);
        self.changes.push_back(c);
    }

    /// The greatest stored seq and its hash, as far as this window knows.
    pub fn max(&self) -> Option<(u64, &[u8])> {
        match self.changes.back() {
            Some(c) => Some((c.seq, &c.hash)),
            None => self.base_hash.as_deref().map(|h| (self.base, h)),
        }
    }

    /// The greatest seq the window holds every change up to (0: none).
    pub fn upto(&self) -> u64 {
        self.max().map_or(self.base, |(s, _)| s)
    }

    /// Extends the window with a complete range of stored changes: `changes` are every change
    /// with a seq in `(after, ...]`, in seq order. Those the window holds already are skipped. A
    /// range that starts above the window's greatest seq would leave a hole: it is refused
    /// (false), and the caller starts the window over ([`Recent::after`]).
    pub fn extend_range(&mut self, after: u64, changes: impl IntoIterator<Item = RecentChange>) -> bool {
        if after > self.upto() {
            return false;
        }
        for c in changes {
            if c.seq > self.upto() {
                self.push(c);
            }
        }
        self.forget_past_max();
        true
    }

    /// Notes that the database holds `db_max`: if the window does not reach it, it answers
    /// nothing until it has been extended that far (see `seen`).
    pub fn saw(&mut self, db_max: u64) {
        self.seen = self.seen.max(db_max);
    }

    fn stale(&self) -> bool {
        self.seen > self.upto()
    }

    /// Whether every change after `seq` is in the window (and the window knows `seq`).
    fn covers_after(&self, seq: u64) -> bool {
        !self.stale() && seq >= self.base && seq <= self.upto()
    }

    /// [`super::Storage::feed_position`] from the window, if it can tell: not for a cursor beyond
    /// the window's greatest seq (the database knows better).
    pub fn position(&self, cursor_seq: u64) -> Option<FeedPosition> {
        if self.stale() {
            return None;
        }
        let (max_seq, max_hash) = match self.max() {
            Some((s, h)) => (s, Some(h.to_vec())),
            None => (0, None),
        };
        if cursor_seq > max_seq {
            return None;
        }
        let hash_at_cursor = if cursor_seq == 0 {
            None
        } else if cursor_seq == self.base {
            self.base_hash.clone()
        } else if cursor_seq > self.base {
            self.find(cursor_seq).map(|c| c.hash.clone())
        } else {
            return None;
        };
        Some(FeedPosition { max_seq, max_hash, hash_at_cursor })
    }

    fn find(&self, seq: u64) -> Option<&RecentChange> {
        let i = self.changes.partition_point(|c| c.seq < seq);
        self.changes.get(i).filter(|c| c.seq == seq)
    }

    /// [`super::Storage::change_at_or_before`] from the window, if it can tell.
    pub fn at_or_before(&self, seq: u64) -> Option<Option<(u64, Vec<u8>)>> {
        if self.stale() || seq < self.base {
            return None;
        }
        let i = self.changes.partition_point(|c| c.seq <= seq);
        Some(match i {
            0 => self.base_hash.clone().map(|h| (self.base, h)),
            _ => self.changes.get(i - 1).map(|c| (c.seq, c.hash.clone())),
        })
    }

    /// [`super::Storage::stored_since`] from the window, if it holds every change after `after`.
    pub fn since(&self, after: u64, limit: usize) -> Option<Vec<StoredRef>> {
        if !self.covers_after(after) {
            return None;
        }
        let start = self.changes.partition_point(|c| c.seq <= after);
        Some(self.changes.range(start..).take(limit).map(|c| c.clone().into_ref()).collect())
    }

    /// The hashes of document `doc`'s changes with seq > `after`, in seq order, if the window
    /// holds every change after `after` ([`super::Storage::recent_hashes`]).
    pub fn hashes_after(&self, doc: Uuid, after: u64) -> Option<Vec<Vec<u8>>> {
        if !self.covers_after(after) {
            return None;
        }
        let start = self.changes.partition_point(|c| c.seq <= after);
        Some(self.changes.range(start..).filter(|c| c.doc == doc).map(|c| c.hash.clone()).collect())
    }

    /// [`super::Storage::feed_docs`] from the window, if it holds every change after `after`:
    /// from the changes of the scope's team only (the metric `kith_feed_window_changes_read_total`
    /// counts those read).
    pub fn feed_docs(&self, scope: &FeedScope, after: u64, limit: usize) -> Option<Vec<FeedEntry>> {
        if !self.covers_after(after) {
            return None;
        }
        let Some(own) = self.teams.get(&scope.team) else { return Some(Vec::new()) };
        let change = |number: &u64| {
            let i = number.checked_sub(self.front).and_then(|i| usize::try_from(i).ok())?;
            self.changes.get(i)
        };
        let start = own.partition_point(|n| change(n).is_some_and(|c| c.seq <= after));
        let mut out: Vec<FeedEntry> = Vec::new();
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut read = 0u64;
        for c in own.range(start..).filter_map(change) {
            read += 1;
            let visible = c.kind == Kind::Team || scope.all_shifts || c.owner == Some(scope.member);
            if !visible {
                continue;
            }
            if seen.contains(&c.doc) {
                continue;
            }
            if out.len() >= limit {
                // Documents come in order of their first change after `after`: the first
                // `limit` are known.
                break;
            }
            out.push(FeedEntry {
                meta: DocMeta { id: c.doc, team: c.team, kind: c.kind, owner: c.owner },
                // A document's first change is its creation: if that is not this one, the
                // document existed before the window (at or before `after`).
                first_seq: if c.created { c.seq } else { self.base },
                min_seq_after: c.seq,
            });
            seen.insert(c.doc);
        }
        metrics::counter!("kith_feed_window_changes_read_total").increment(read);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: u64, doc: Uuid, team: TeamId, owner: Option<MemberId>, created: bool) -> RecentChange {
        let kind = if owner.is_some() { Kind::Shift } else { Kind::Team };
        RecentChange {
            seq,
            doc,
            team,
            kind,
            owner,
            hash: seq.to_be_bytes().to_vec(),
            created,
            device: None,
            by_server: false,
        }
    }

    /// What a change costs the window once its deques are full: its slot, its hash, its index entry.
    fn per_change(c: &RecentChange) -> usize {
        SLOT_BYTES + c.hash.capacity() + INDEX_BYTES
    }

    /// What the window has allocated: its deque's and its teams' indexes' capacity, the hashes.
    fn held(r: &Recent) -> usize {
        r.changes.capacity() * SLOT_BYTES
            + r.changes.iter().map(|c| c.hash.capacity()).sum::<usize>()
            + r.teams.values().map(|t| t.capacity() * INDEX_BYTES).sum::<usize>()
            + teams_table(r)
    }

    /// The teams' map's table: as counted (by its buckets), checked against its own capacity
    /// (which misses the tombstones of removed teams, so it can only be less).
    fn teams_table(r: &Recent) -> usize {
        let measured = crate::table::measured(&r.teams);
        assert!(measured <= r.teams.bytes(), "the teams' table holds {measured} bytes, counted {}", r.teams.bytes());
        r.teams.bytes()
    }

    /// The teams' map's table doubles when it fills: counting its entries, not its buckets, the
    /// window held more than its budget just past a power of two of teams.
    #[test]
    fn the_window_holds_no_more_than_its_budget_as_its_teams_table_grows() {
        let doc = Uuid::now_v7();
        // Budgets whose changes, each of a team of its own, end just past a full table (1,792 or
        // 3,584 teams).
        for teams in [1800usize, 3600] {
            let mut r = Recent::after(None);
            let each = per_change(&change(1, doc, TeamId::new(), None, true)) + 3 * INDEX_BYTES + 56;
            r.set_max_bytes(teams * each);
            for s in 1..=3 * teams as u64 {
                assert!(r.extend_range(s - 1, [change(s, doc, TeamId::new(), None, true)]));
                assert!(
                    held(&r) <= r.max_bytes(),
                    "{teams}: {} bytes held after change {s}, budget {}",
                    held(&r),
                    r.max_bytes()
                );
            }
            assert!(r.teams.len() * 3 >= teams, "{teams}: only {} teams held", r.teams.len());
        }
    }

    /// A deque grows by doubling: counting its changes, not its capacity, a window just past a
    /// power of two held up to twice its budget (seen in a heap profile, docs/benchmarks.md).
    #[test]
    fn the_window_holds_no_more_than_its_budget_as_its_deques_grow() {
        let team = TeamId::new();
        let doc = Uuid::now_v7();
        for fits in [1025usize, 1500, 4097] {
            let mut r = Recent::after(None);
            r.set_max_bytes(fits * per_change(&change(1, doc, team, None, true)) + 256);
            for s in 1..=3 * fits as u64 {
                assert!(r.extend_range(s - 1, [change(s, doc, team, None, s == 1)]));
                assert!(
                    held(&r) <= r.max_bytes(),
                    "{fits}: {} bytes held after change {s}, budget {}",
                    held(&r),
                    r.max_bytes()
                );
            }
            assert!(r.changes.len() * 10 >= fits * 9, "{fits}: only {} changes held", r.changes.len());
            // Ranges as the log reads them, many at once.
            let upto = r.upto();
            assert!(r.extend_range(upto, (upto + 1..=upto + 5000).map(|s| change(s, doc, team, None, false))));
            assert!(
                held(&r) <= r.max_bytes(),
                "{fits}: {} bytes held after a range, budget {}",
                held(&r),
                r.max_bytes()
            );
        }
    }

    #[test]
    fn the_window_answers_only_for_positions_it_covers() {
        let (team, other) = (TeamId::new(), TeamId::new());
        let (me, you) = (MemberId::new(), MemberId::new());
        let (mine, yours, team_doc, foreign) = (Uuid::now_v7(), Uuid::now_v7(), team.uuid(), Uuid::now_v7());
        let mut r = Recent::after(Some((10, vec![10])));
        r.extend_range(
            10,
            [
                change(11, mine, team, Some(me), true),
                change(12, yours, team, Some(you), true),
                change(14, foreign, other, Some(you), true),
                change(15, team_doc, team, None, false),
                change(16, mine, team, Some(me), false),
            ],
        );
        assert_eq!(r.max(), Some((16, &16u64.to_be_bytes()[..])));
        let member = FeedScope { team, member: me, all_shifts: false };
        let lead = FeedScope { team, member: you, all_shifts: true };
        // Before the window: the database answers.
        assert!(r.feed_docs(&member, 9, 10).is_none());
        assert!(r.position(9).is_none());
        assert!(r.at_or_before(9).is_none());
        // From the window's start.
        let docs = r.feed_docs(&member, 10, 10).unwrap();
        assert_eq!(
            docs.iter().map(|e| (e.meta.id, e.first_seq, e.min_seq_after)).collect::<Vec<_>>(),
            vec![(mine, 11, 11), (team_doc, 10, 15)]
        );
        let docs = r.feed_docs(&lead, 11, 10).unwrap();
        assert_eq!(docs.iter().map(|e| e.meta.id).collect::<Vec<_>>(), vec![yours, team_doc, mine]);
        assert_eq!(r.feed_docs(&lead, 11, 1).unwrap().len(), 1);
        assert!(r.feed_docs(&member, 16, 10).unwrap().is_empty());
        let p = r.position(12).unwrap();
        assert_eq!((p.max_seq, p.hash_at_cursor), (16, Some(12u64.to_be_bytes().to_vec())));
        assert_eq!(r.position(13).unwrap().hash_at_cursor, None, "no change has seq 13");
        assert_eq!(r.position(10).unwrap().hash_at_cursor, Some(vec![10]));
        assert!(r.position(17).is_none(), "beyond the window: the database knows better");
        assert!(r.feed_docs(&member, 17, 10).is_none());
        assert_eq!(r.at_or_before(13), Some(Some((12, 12u64.to_be_bytes().to_vec()))));
        assert_eq!(r.at_or_before(10), Some(Some((10, vec![10]))));
        // The change log as the deadline engine and the live channel follow it.
        assert!(r.since(9, 10).is_none());
        let seqs = |v: Vec<StoredRef>| v.iter().map(|c| c.seq).collect::<Vec<_>>();
        assert_eq!(seqs(r.since(10, 10).unwrap()), vec![11, 12, 14, 15, 16]);
        assert_eq!(seqs(r.since(12, 2).unwrap()), vec![14, 15]);
        assert!(r.since(16, 10).unwrap().is_empty());
        assert!(r.since(17, 10).is_none());
    }

    #[test]
    fn a_window_that_saw_a_greater_seq_in_the_database_answers_nothing() {
        let team = TeamId::new();
        let mut r = Recent::after(Some((10, vec![10])));
        assert!(r.extend_range(10, [change(11, team.uuid(), team, None, false)]));
        let scope = FeedScope { team, member: MemberId::new(), all_shifts: true };
        r.saw(11);
        assert!(r.position(11).is_some() && r.feed_docs(&scope, 10, 10).is_some(), "nothing new");
        r.saw(13);
        assert!(r.position(11).is_none());
        assert!(r.feed_docs(&scope, 10, 10).is_none());
        assert!(r.at_or_before(11).is_none());
        // A commit seen in the database before it reached the window: once it has, it answers again.
        assert!(!r.extend_range(12, [change(13, team.uuid(), team, None, false)]), "a range with a hole is refused");
        assert!(r.position(11).is_none());
        // Ranges that overlap what the window holds add only what is new.
        assert!(r.extend_range(10, (11..=13).map(|s| change(s, team.uuid(), team, None, false))));
        assert_eq!(r.upto(), 13);
        assert!(r.position(11).is_some());
        assert_eq!(r.since(10, 10).unwrap().iter().map(|c| c.seq).collect::<Vec<_>>(), vec![11, 12, 13]);
    }

    /// The feed as the window answered it before it had a per-team index: every change after
    /// `after` walked, those of other teams skipped.
    fn feed_by_scan(r: &Recent, scope: &FeedScope, after: u64, limit: usize) -> Option<Vec<FeedEntry>> {
        if !r.covers_after(after) {
            return None;
        }
        let mut out: Vec<FeedEntry> = Vec::new();
        for c in r.changes.iter().filter(|c| c.seq > after) {
            let visible =
                c.team == scope.team && (c.kind == Kind::Team || scope.all_shifts || c.owner == Some(scope.member));
            if !visible || out.iter().any(|e| e.meta.id == c.doc) {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            out.push(FeedEntry {
                meta: DocMeta { id: c.doc, team: c.team, kind: c.kind, owner: c.owner },
                first_seq: if c.created { c.seq } else { r.base },
                min_seq_after: c.seq,
            });
        }
        Some(out)
    }

    #[test]
    fn a_feed_reads_its_own_teams_changes_and_answers_as_a_scan_of_every_change_would() {
        let teams = [TeamId::new(), TeamId::new(), TeamId::new()];
        let members = [MemberId::new(), MemberId::new()];
        let team_docs: Vec<Uuid> = teams.iter().map(|t| t.uuid()).collect();
        let shifts: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
        let mut r = Recent::after(Some((0, vec![0])));
        // Small enough that the window forgets its oldest changes (and whole teams) as it goes.
        r.set_max_bytes(40 * per_change(&change(1, shifts[0], teams[0], None, false)));
        let mut created = HashSet::new();
        let mut seq = 0u64;
        // A deterministic mix: bursts of one team, the others interleaved, gaps in the seqs.
        for step in 0..600u64 {
            let burst: Vec<RecentChange> = (0..(step % 5 + 1))
                .map(|k| {
                    seq += 1 + (step * 7 + k) % 3 / 2;
                    let t = ((step / 40 + k * (step % 2)) % 3) as usize;
                    if (step + k) % 4 == 0 {
                        change(seq, team_docs[t], teams[t], None, false)
                    } else {
                        let i = ((step * 5 + k) % 4) as usize;
                        let doc = shifts[t * 4 + i];
                        change(seq, doc, teams[t], Some(members[i % 2]), created.insert(doc))
                    }
                })
                .collect();
            let after = r.upto();
            assert!(r.extend_range(after, burst));
            for team in teams {
                for (member, all_shifts) in [(members[0], false), (members[1], false), (members[0], true)] {
                    let scope = FeedScope { team, member, all_shifts };
                    for from in [
                        r.base.saturating_sub(1),
                        r.base,
                        r.base + 1,
                        r.upto() / 2,
                        r.upto().saturating_sub(3),
                        r.upto(),
                    ] {
                        for limit in [1, 3, 100] {
                            assert_eq!(
                                r.feed_docs(&scope, from, limit),
                                feed_by_scan(&r, &scope, from, limit),
                                "step {step}, from {from}, limit {limit}"
                            );
                        }
                    }
                }
            }
            assert!(r.bytes() <= r.max_bytes());
            assert_eq!(r.bytes(), held(&r));
            assert_eq!(
                r.teams.values().map(VecDeque::len).sum::<usize>(),
                r.changes.len(),
                "every change indexed once"
            );
        }
        // A team with no change left in the window has no index, and its feed is empty.
        let quiet = FeedScope { team: TeamId::new(), member: members[0], all_shifts: true };
        assert_eq!(r.feed_docs(&quiet, r.base, 10), Some(vec![]));
    }

    #[test]
    fn a_full_window_forgets_its_oldest_changes() {
        let team = TeamId::new();
        let mut r = Recent::after(None);
        let doc = Uuid::now_v7();
        let one = per_change(&change(1, doc, team, None, true));
        r.set_max_bytes(1000 * one + 256);
        r.extend_range(0, (1..=1005).map(|s| change(s, doc, team, None, s == 1)));
        assert!(r.bytes() <= r.max_bytes());
        assert_eq!(r.bytes(), held(&r));
        // The newest changes stay, nearly 1,000 of them (the team's index grows by doubling).
        assert_eq!(r.upto(), 1005);
        assert!(r.changes.len() >= 990, "{} changes held", r.changes.len());
        let base = r.base;
        let scope = FeedScope { team, member: MemberId::new(), all_shifts: true };
        assert!(r.feed_docs(&scope, base - 1, 10).is_none());
        assert!(r.feed_docs(&scope, base, 10).is_some());
        assert_eq!(r.position(base + 1).unwrap().hash_at_cursor, Some((base + 1).to_be_bytes().to_vec()));
    }

    #[test]
    fn the_window_keeps_to_its_bytes_whatever_the_ranges() {
        let team = TeamId::new();
        let doc = Uuid::now_v7();
        let mut r = Recent::after(None);
        r.set_max_bytes(10_000);
        for k in 0..50u64 {
            assert!(r.extend_range(k * 40, (k * 40 + 1..=k * 40 + 40).map(|s| change(s, doc, team, None, s == 1))));
            assert!(r.bytes() <= 10_000, "{} bytes", r.bytes());
            assert_eq!(r.bytes(), held(&r));
        }
        // Lowered: it forgets down to the new bound at once.
        r.set_max_bytes(1_000);
        assert!(r.bytes() <= 1_000 && !r.changes.is_empty());
        assert_eq!(r.upto(), 2000);
    }
}
