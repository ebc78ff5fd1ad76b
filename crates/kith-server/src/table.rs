//! A std `HashMap` that knows what its table holds, for the structures bounded by bytes.
//!
//! A map's table (hashbrown) has a power of two of buckets, at most 7/8 of them used: an insert
//! that finds it full doubles it, and removing entries keeps it. Counting a map by its entries
//! (even at 8/7 each) so missed up to half of what it held just after it grew, and all of it once
//! its entries were removed. [`Table`] follows its number of buckets (every change of it goes
//! through an insert or [`Table::reset`]), so [`Table::bytes`] is what the table holds, and
//! [`Table::bytes_after_insert`] what it would hold after one more entry: the bounded structures
//! make room before an insert would take them past their budget.
//! (`HashMap::capacity` alone is not enough: it is the used buckets plus those still free, so a
//! removed entry's tombstone lowers it while the table stays the same size.)

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Deref;

/// The bytes of a table of `buckets` buckets of `T`: the entries (padded to the control bytes'
/// alignment), a control byte each, and a group's worth of trailing control bytes (hashbrown's
/// layout, `Group::WIDTH` 16 on x86-64 and aarch64; 8 elsewhere, counted as 16). The allocator's
/// rounding is not counted.
pub const fn bytes_of<T>(buckets: usize) -> usize {
    const GROUP: usize = 16;
    if buckets == 0 {
        return 0;
    }
    let align = if std::mem::align_of::<T>() > GROUP { std::mem::align_of::<T>() } else { GROUP };
    (buckets * std::mem::size_of::<T>()).div_ceil(align) * align + buckets + GROUP
}

/// The buckets of a table made for `capacity` entries (hashbrown's `capacity_to_buckets`, for
/// entries of more than 3 bytes).
pub const fn buckets_for(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

/// The entries a table of `buckets` buckets holds before it grows.
pub const fn capacity_of(buckets: usize) -> usize {
    if buckets < 8 { buckets.saturating_sub(1) } else { buckets / 8 * 7 }
}

/// A `HashMap` whose table is counted by its buckets. Reads go through `Deref`; every write
/// through the methods here, which follow the table's size.
#[derive(Debug)]
pub struct Table<K, V> {
    map: HashMap<K, V>,
    /// The table's buckets (0: none allocated).
    buckets: usize,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { map: HashMap::new(), buckets: 0 }
    }
}

impl<K, V> Deref for Table<K, V> {
    type Target = HashMap<K, V>;
    fn deref(&self) -> &HashMap<K, V> {
        &self.map
    }
}

impl<K: Eq + Hash, V> Table<K, V> {
    /// The bytes the table holds (its entries' own heap not included).
    pub fn bytes(&self) -> usize {
        bytes_of::<(K, V)>(self.buckets)
    }

    /// The bytes the table would hold after inserting a key it does not hold: twice its buckets
    /// if it has no free one left (what an insert then does, or rehashes in place).
    pub fn bytes_after_insert(&self) -> usize {
        if self.map.len() < self.map.capacity() {
            self.bytes()
        } else {
            bytes_of::<(K, V)>(buckets_for(self.map.capacity() + 1).max(self.buckets * 2))
        }
    }

    /// The bytes of a table made for `capacity` entries.
    pub const fn bytes_for(capacity: usize) -> usize {
        bytes_of::<(K, V)>(buckets_for(capacity))
    }

    /// The most entries a table within `max_bytes` holds (0: not even the smallest table fits).
    pub const fn most(max_bytes: usize) -> usize {
        let mut buckets = 4;
        if bytes_of::<(K, V)>(buckets) > max_bytes {
            return 0;
        }
        while bytes_of::<(K, V)>(buckets * 2) <= max_bytes {
            buckets *= 2;
        }
        capacity_of(buckets)
    }

    /// Follows a growth of the table (an insert only ever grows it: right after, `capacity` is
    /// exact).
    fn grew(&mut self) {
        let now = buckets_for(self.map.capacity());
        if now > self.buckets {
            self.buckets = now;
        }
    }

    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        let old = self.map.insert(k, v);
        if old.is_none() {
            self.grew();
        }
        old
    }

    /// The entry of `k`, inserted with `f` if missing.
    pub fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V
    where
        K: Clone,
    {
        if !self.map.contains_key(&k) {
            self.insert(k.clone(), f());
        }
        self.map.get_mut(&k).unwrap_or_else(|| unreachable!("inserted above"))
    }

    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(k)
    }

    /// Removes `k`'s entry (the table keeps its size: see [`Table::reset`]).
    pub fn remove<Q>(&mut self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(k)
    }

    /// Empties the table and gives it back.
    pub fn clear(&mut self) {
        self.map = HashMap::new();
        self.buckets = 0;
    }

    /// Makes the table smaller, for `capacity` entries (at least those held), if that is fewer
    /// buckets than it has ([`Table::reset`]).
    pub fn shrink_to(&mut self, capacity: usize) {
        if buckets_for(capacity.max(self.map.len())) < self.buckets {
            self.reset(capacity);
        }
    }

    /// Moves the entries into a new table made for `capacity` entries (at least those held) and
    /// gives the old one back: a table made smaller, without the tombstones of removed entries
    /// (an insert into a table with many could otherwise double it even though it is not full).
    pub fn reset(&mut self, capacity: usize) {
        let old = std::mem::take(&mut self.map);
        // (`with_capacity(0)` allocates nothing.)
        let mut map = HashMap::with_capacity(capacity.max(old.len()));
        map.extend(old);
        self.buckets = buckets_for(map.capacity());
        self.map = map;
    }
}

/// What a std map's table holds, from its capacity: exact for a map that has lost no entry since it
/// last grew (a map only added to, or in a test), less otherwise (see [`Table`]).
pub fn held_by<K, V, S>(map: &HashMap<K, V, S>) -> usize {
    bytes_of::<(K, V)>(buckets_for(map.capacity()))
}

#[cfg(test)]
pub use held_by as measured;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_counts_what_it_holds_as_it_grows_loses_entries_and_is_reset() {
        let mut t: Table<u64, [u64; 3]> = Table::default();
        for i in 0..5000u64 {
            let after = t.bytes_after_insert();
            t.insert(i, [i; 3]);
            assert_eq!(t.bytes(), after, "an insert grows the table as foretold, at {i}");
            assert_eq!(measured(&t), t.bytes(), "the table holds what it counts, at {i} entries");
        }
        let grown = t.bytes();
        for i in 0..4900u64 {
            t.remove(&i);
        }
        assert_eq!(t.bytes(), grown, "removing entries keeps the table");
        t.reset(0);
        assert_eq!(measured(&t), t.bytes(), "a reset table counts its new size");
        assert!(t.bytes() < 8 * 1024, "{} bytes for 100 entries", t.bytes());
        t.clear();
        assert_eq!((measured(&t), t.bytes()), (0, 0));
        let most = Table::<u64, [u64; 3]>::most(100_000);
        assert!(bytes_of::<(u64, [u64; 3])>(buckets_for(most)) <= 100_000);
        assert!(bytes_of::<(u64, [u64; 3])>(buckets_for(most + 1)) > 100_000);
    }
}
