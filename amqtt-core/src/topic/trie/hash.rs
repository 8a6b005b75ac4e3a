//! The keyed hash of the level names in a large table of children: SipHash-1-3 (as std's `RandomState`,
//! from the `siphasher` crate), of a short level as one fixed 16-byte message, and at most once per level
//! of a topic name however many tables it is looked up in.
//!
//! Keyed with random keys, SipHash keeps clients from degrading a table with crafted level names. Hashing
//! a level name as a byte stream costs a length prefix, a loop over the bytes and the tail's assembly. A
//! level of at most 14 bytes is already padded to a fixed array to be compared with the names
//! ([`Level::Short`]); hashing that array plus its length as two words is cheaper.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

use siphasher::sip::SipHasher13;

use super::name::Level;

/// The keys of every table's hash, drawn once per process: a level looked up in two tables (`a/+/c` and
/// `a/b/c` for the topic `a/b/c`) is then hashed once.
pub(super) fn keys() -> &'static Keys {
    /// The keys, once drawn.
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(Keys::random)
}

/// A level of a topic name being matched, and its hash once a table has asked for it.
pub(super) struct Lookup<'a> {
    /// The level.
    pub(super) level: Level<'a>,
    /// Its hash under [`keys`], computed at the first table the level is looked up in.
    hash: Cell<Option<u64>>,
}

impl<'a> Lookup<'a> {
    /// The level `level`, not hashed yet.
    #[inline]
    pub(super) fn new(level: &'a [u8]) -> Self {
        Self {
            level: Level::new(level),
            hash: Cell::new(None),
        }
    }

    /// The level's hash under [`keys`].
    #[inline]
    pub(super) fn hash(&self) -> u64 {
        if let Some(hash) = self.hash.get() {
            return hash;
        }
        let hash = keys().hash(&self.level);
        self.hash.set(Some(hash));
        hash
    }
}

/// The two secret keys of the tables' hash.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// The first key.
    k0: u64,
    /// The second key.
    k1: u64,
}

impl Keys {
    /// Fresh random keys, drawn from std's randomly keyed hasher.
    pub(super) fn random() -> Self {
        let state = RandomState::new();
        Self {
            k0: state.hash_one(0_u8),
            k1: state.hash_one(1_u8),
        }
    }

    /// The hash of `level`: SipHash-1-3 of its padded bytes and its length as two words when it is
    /// short, of its bytes otherwise.
    #[inline]
    pub(super) fn hash(&self, level: &Level<'_>) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.k0, self.k1);
        match level {
            Level::Short { bytes, words } => {
                let [first, second] = short_message(bytes.len(), words);
                hasher.write_u64(first);
                hasher.write_u64(second);
            }
            Level::Long(bytes) => hasher.write(bytes),
        }
        hasher.finish()
    }
}

/// The 16-byte message hashed for a short level: its bytes padded with zeros to 15 bytes, then its
/// length.
#[inline]
fn short_message(len: usize, words: &[u64; 2]) -> [u64; 2] {
    [words[0], words[1] | (len as u64) << 56]
}

#[cfg(test)]
mod tests {
    use super::{Keys, Level, Lookup, keys};

    /// A lookup hashes its level under the process's keys, once.
    #[test]
    fn a_lookup_hashes_under_the_process_keys() {
        let lookup = Lookup::new(b"level");
        assert_eq!(lookup.hash(), keys().hash(&Level::new(b"level")));
        assert_eq!(lookup.hash(), lookup.hash());
        let long = Lookup::new(b"a level longer than 14 bytes");
        assert_eq!(
            long.hash(),
            keys().hash(&Level::new(b"a level longer than 14 bytes"))
        );
    }

    /// Short levels differing only in length or padding hash apart, and the keys matter.
    #[test]
    fn short_levels_hash_by_bytes_and_length() {
        let keys = Keys::random();
        let levels = [
            "",
            "a",
            "a\0",
            "ab",
            "abcdefgh",
            "abcdefghijklmn",
            "abcdefghijklmno",
        ];
        let hashes: Vec<u64> = levels
            .iter()
            .map(|level| keys.hash(&Level::new(level.as_bytes())))
            .collect();
        for (i, hash) in hashes.iter().enumerate() {
            assert_eq!(*hash, keys.hash(&Level::new(levels[i].as_bytes())));
            assert!(!hashes[..i].contains(hash), "{:?}", levels[i]);
        }
        assert_ne!(Keys::random().hash(&Level::new(b"a")), hashes[1]);
    }
}
