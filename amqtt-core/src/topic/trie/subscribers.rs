//! The subscribers of one filter: a dense list that a PUBLISH iterates, indexed by key once it is long.
//!
//! Most filters have one subscriber, held in place, or a handful, found by a scan. A filter that every
//! client subscribes to (`broadcast/all`, `$SYS/#`) can have 100,000: a scan per SUBSCRIBE would then
//! cost tens of microseconds under the router's write lock and make reconnect storms quadratic, so past
//! [`List::INDEX_ABOVE`] entries a map from key to position makes insert and remove constant-time.

use std::collections::HashMap;
use std::hash::Hash;

/// The (subscriber, value) entries of one filter, at most one per subscriber.
#[derive(Debug, Clone, Default)]
pub(crate) enum Subscribers<K, V> {
    /// No entry.
    #[default]
    None,
    /// One entry, held in place: most filters have a single subscriber, which then costs no allocation.
    One((K, V)),
    /// Two entries or more.
    Many(Box<List<K, V>>),
}

/// Two entries or more, and their index once there are many.
#[derive(Debug, Clone)]
pub(crate) struct List<K, V> {
    /// The entries, in no particular order, iterated as a slice on every match.
    entries: Vec<(K, V)>,
    /// Each key's position in `entries`, kept only while the list is long.
    #[expect(
        clippy::box_collection,
        reason = "few lists are long: boxed, the absent index costs one word instead of a 48-byte empty map"
    )]
    positions: Option<Box<HashMap<K, usize>>>,
}

impl<K, V> Subscribers<K, V> {
    /// The entries, to visit.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[(K, V)] {
        match self {
            Self::None => &[],
            Self::One(entry) => std::slice::from_ref(entry),
            Self::Many(list) => &list.entries,
        }
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::None)
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl<K: Eq + Hash + Clone, V> Subscribers<K, V> {
    /// Sets `key`'s value, returning the value it replaces.
    pub(crate) fn upsert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Self::None => {
                *self = Self::One((key, value));
                None
            }
            Self::One((existing, old)) if *existing == key => Some(std::mem::replace(old, value)),
            Self::One(_) => {
                let mut entries = Vec::with_capacity(2);
                if let Self::One(first) = std::mem::take(self) {
                    entries.push(first);
                }
                entries.push((key, value));
                let positions = None;
                *self = Self::Many(Box::new(List { entries, positions }));
                None
            }
            Self::Many(list) => list.upsert(key, value),
        }
    }

    /// `key`'s value.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self {
            Self::None => None,
            Self::One((existing, value)) => (existing == key).then_some(value),
            Self::Many(list) => list
                .position(key)
                .and_then(|position| list.entries.get(position))
                .map(|(_, value)| value),
        }
    }

    /// `key`'s value, to change.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self {
            Self::None => None,
            Self::One((existing, value)) => (existing == key).then_some(value),
            Self::Many(list) => {
                let position = list.position(key)?;
                list.entries.get_mut(position).map(|(_, value)| value)
            }
        }
    }

    /// Removes `key`'s entry, returning its value, and releases memory a much shorter list no longer needs.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Self::None => None,
            Self::One((existing, _)) if existing != key => None,
            Self::One(_) => match std::mem::take(self) {
                Self::One((_, value)) => Some(value),
                _ => None,
            },
            Self::Many(list) => {
                let value = list.remove(key)?;
                if list.entries.len() == 1
                    && let Some(last) = list.entries.pop()
                {
                    *self = Self::One(last);
                }
                Some(value)
            }
        }
    }
}

impl<K: Eq + Hash + Clone, V> List<K, V> {
    /// The length beyond which the key index is built.
    const INDEX_ABOVE: usize = 32;
    /// The length below which the key index is dropped; below `INDEX_ABOVE`, so that a list whose length
    /// hovers around the limit does not rebuild the index on every change.
    const UNINDEX_BELOW: usize = Self::INDEX_ABOVE / 2;
    /// Capacity that is never released early: shrinking tiny lists would only reallocate them again.
    const SMALL_CAPACITY: usize = 16;

    /// Sets `key`'s value, returning the value it replaces.
    fn upsert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(position) = self.position(&key) {
            return Some(std::mem::replace(&mut self.entries[position].1, value));
        }
        if let Some(positions) = &mut self.positions {
            positions.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.positions.is_none() && self.entries.len() > Self::INDEX_ABOVE {
            let positions = self.entries.iter().enumerate();
            let positions = positions.map(|(position, (key, _))| (key.clone(), position));
            self.positions = Some(Box::new(positions.collect()));
        }
        None
    }

    /// Removes `key`'s entry, returning its value, and releases memory a much shorter list no longer needs.
    fn remove(&mut self, key: &K) -> Option<V> {
        let position = self.position(key)?;
        let (_, value) = self.entries.swap_remove(position);
        if let Some(positions) = &mut self.positions {
            positions.remove(key);
            // The last entry moved into the freed position.
            if let Some((moved, _)) = self.entries.get(position) {
                positions.insert(moved.clone(), position);
            }
        }
        if self.entries.len() < Self::UNINDEX_BELOW {
            self.positions = None;
        }
        let (len, capacity) = (self.entries.len(), self.entries.capacity());
        if capacity > Self::SMALL_CAPACITY && len * 4 <= capacity {
            // Amortised: shrinking to twice the length leaves room to grow again without reallocating.
            self.entries.shrink_to(len * 2);
        }
        Some(value)
    }

    /// Where `key`'s entry is.
    fn position(&self, key: &K) -> Option<usize> {
        match &self.positions {
            Some(positions) => positions.get(key).copied(),
            None => self
                .entries
                .iter()
                .position(|(existing, _)| existing == key),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::{List, Subscribers};

    /// Checks that a list holds two entries or more and that its index, when present, points every key
    /// at its entry.
    fn assert_index_consistent(subscribers: &Subscribers<u8, u32>) {
        let Subscribers::Many(list) = subscribers else {
            return;
        };
        assert!(list.entries.len() >= 2);
        if let Some(positions) = &list.positions {
            assert_eq!(positions.len(), list.entries.len());
            for (position, (key, _)) in list.entries.iter().enumerate() {
                assert_eq!(positions.get(key), Some(&position));
            }
        }
    }

    #[test]
    fn a_long_list_is_indexed_and_a_short_one_is_not() {
        let mut subscribers = Subscribers::default();
        for key in 0..=List::<u8, u32>::INDEX_ABOVE as u8 {
            assert_eq!(subscribers.upsert(key, 0), None);
        }
        assert!(matches!(&subscribers, Subscribers::Many(list) if list.positions.is_some()));
        assert_index_consistent(&subscribers);
        assert_eq!(subscribers.upsert(3, 1), Some(0));
        for key in 0..=List::<u8, u32>::INDEX_ABOVE as u8 {
            if key == List::<u8, u32>::INDEX_ABOVE as u8 {
                assert!(matches!(subscribers, Subscribers::One((last, 0)) if last == key));
            } else {
                assert!(matches!(subscribers, Subscribers::Many(_)));
            }
            assert!(subscribers.remove(&key).is_some());
            assert_index_consistent(&subscribers);
        }
        assert!(subscribers.is_empty());
    }

    proptest! {
        /// Inserts (`Some(value)`) and removals (`None`) of keys from a range that crosses both index
        /// thresholds, against a `HashMap`.
        #[test]
        fn behaves_like_a_map(operations in prop::collection::vec((0u8..48, prop::option::of(any::<u32>())), 0..400)) {
            let mut subscribers = Subscribers::default();
            let mut model = HashMap::new();
            for (key, value) in operations {
                match value {
                    Some(value) => prop_assert_eq!(subscribers.upsert(key, value), model.insert(key, value)),
                    None => prop_assert_eq!(subscribers.remove(&key), model.remove(&key)),
                }
                assert_index_consistent(&subscribers);
            }
            let mut entries = subscribers.as_slice().to_vec();
            entries.sort_unstable();
            let mut expected: Vec<_> = model.into_iter().collect();
            expected.sort_unstable();
            prop_assert_eq!(entries, expected);
        }
    }
}
