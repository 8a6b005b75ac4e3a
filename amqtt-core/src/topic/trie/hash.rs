//! The keyed hash of the level names in a large table of children: SipHash-1-3, as std's `RandomState`,
//! computed here so that a short level is hashed as one fixed 16-byte message, and at most once per
//! level of a topic name however many tables it is looked up in.
//!
//! Keyed with random keys, SipHash keeps clients from degrading a table with crafted level names. std's
//! hasher takes any byte stream, so hashing a level name costs a length prefix, a loop over the bytes and
//! the tail's assembly: about 190 instructions for a one-byte name. A level of at most 14 bytes is
//! already padded to a fixed array to be compared with the names ([`Level::Short`]); hashing that array
//! plus its length as two words costs a third of it.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

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

    /// The hash of `level`: SipHash-1-3 of its padded bytes and its length when it is short, of its bytes
    /// otherwise.
    #[inline]
    pub(super) fn hash(&self, level: &Level<'_>) -> u64 {
        match level {
            Level::Short { bytes, words } => {
                siphash_short::<1, 3>(self, &short_message(bytes.len(), words))
            }
            Level::Long(bytes) => siphash::<1, 3>(self, bytes),
        }
    }
}

/// The 16-byte message hashed for a short level: its bytes padded with zeros to 15 bytes, then its
/// length.
#[inline]
fn short_message(len: usize, words: &[u64; 2]) -> [u64; 2] {
    [words[0], words[1] | (len as u64) << 56]
}

/// SipHash-`C`-`D` of the 16-byte message `words` under `keys`: [`siphash`] unrolled.
#[inline]
fn siphash_short<const C: usize, const D: usize>(keys: &Keys, words: &[u64; 2]) -> u64 {
    let mut v = initial(keys);
    compress::<C>(&mut v, words[0]);
    compress::<C>(&mut v, words[1]);
    // The final block: no byte left over, the length 16 in the top byte.
    compress::<C>(&mut v, 16 << 56);
    finish::<D>(v)
}

/// SipHash's state before the first word.
#[inline(always)]
fn initial(keys: &Keys) -> [u64; 4] {
    [
        keys.k0 ^ 0x736f_6d65_7073_6575,
        keys.k1 ^ 0x646f_7261_6e64_6f6d,
        keys.k0 ^ 0x6c79_6765_6e65_7261,
        keys.k1 ^ 0x7465_6462_7974_6573,
    ]
}

/// Absorbs one word into the state `v` with `C` rounds.
#[inline(always)]
fn compress<const C: usize>(v: &mut [u64; 4], word: u64) {
    v[3] ^= word;
    for _ in 0..C {
        sip_round(v);
    }
    v[0] ^= word;
}

/// The hash of the state `v` once every word is in, after `D` rounds.
#[inline(always)]
fn finish<const D: usize>(mut v: [u64; 4]) -> u64 {
    v[2] ^= 0xff;
    for _ in 0..D {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// SipHash-`C`-`D` of `message` under `keys`.
fn siphash<const C: usize, const D: usize>(keys: &Keys, message: &[u8]) -> u64 {
    let mut v = initial(keys);
    let mut chunks = message.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        compress::<C>(&mut v, u64::from_le_bytes(word));
    }
    let mut last = [0; 8];
    let tail = chunks.remainder();
    last[..tail.len()].copy_from_slice(tail);
    // The length modulo 256, as SipHash specifies.
    last[7] = message.len() as u8;
    compress::<C>(&mut v, u64::from_le_bytes(last));
    finish::<D>(v)
}

/// One SipRound.
#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use super::{Keys, Level, Lookup, keys, short_message, siphash, siphash_short};

    /// The rounds are SipHash's: SipHash-2-4 agrees with std's (deprecated) `SipHasher` at every length
    /// around the word boundaries.
    #[test]
    #[expect(
        deprecated,
        reason = "std's only public SipHash with chosen keys, as a reference"
    )]
    fn siphash_2_4_agrees_with_std() {
        let keys = Keys {
            k0: 0x0706_0504_0302_0100,
            k1: 0x0f0e_0d0c_0b0a_0908,
        };
        let message: Vec<u8> = (0..40).collect();
        for len in 0..message.len() {
            let mut reference = std::hash::SipHasher::new_with_keys(keys.k0, keys.k1);
            reference.write(&message[..len]);
            assert_eq!(
                siphash::<2, 4>(&keys, &message[..len]),
                reference.finish(),
                "{len}"
            );
        }
        // The first vector of the SipHash paper's reference implementation (empty message).
        assert_eq!(siphash::<2, 4>(&keys, &[]), 0x726f_db47_dd0e_0e31);
    }

    /// A short level's hash is SipHash-1-3 of its 16-byte message.
    #[test]
    fn the_short_path_is_siphash_of_the_message() {
        let keys = Keys::random();
        for level in ["", "a", "+", "abcdefgh", "abcdefghijklmn"] {
            let Level::Short { bytes, words } = Level::new(level.as_bytes()) else {
                panic!("{level:?} is short");
            };
            let words = short_message(bytes.len(), &words);
            let mut message = [0; 16];
            message[..level.len()].copy_from_slice(level.as_bytes());
            message[15] = level.len() as u8;
            assert_eq!(
                siphash_short::<1, 3>(&keys, &words),
                siphash::<1, 3>(&keys, &message)
            );
            assert_eq!(
                siphash_short::<2, 4>(&keys, &words),
                siphash::<2, 4>(&keys, &message)
            );
            assert_eq!(
                keys.hash(&Level::new(level.as_bytes())),
                siphash::<1, 3>(&keys, &message)
            );
        }
    }

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
