//! The name of one level of a stored filter: kept inline when short, so that most names cost no
//! allocation of their own.
//!
//! Level names are mostly short (`sport`, `temp`, a device number); a 16-byte name holds up to
//! [`INLINE`] bytes in place, where a `Box<str>` would take 16 bytes plus a 32-byte heap chunk.
//!
//! A level looked up among names is first made a [`Level`], padded like an inline name, so that comparing
//! it with each name is a compare of fixed-size arrays instead of a call to `memcmp`.

use std::fmt;

/// The longest name stored inline.
const INLINE: usize = 14;

/// A level name, compared as bytes.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Name {
    /// A name of at most [`INLINE`] bytes: the first `len` bytes of `bytes`, the rest zero.
    Inline {
        /// How many bytes of `bytes` are the name.
        len: u8,
        /// The name, padded with zeros.
        bytes: [u8; INLINE],
    },
    /// A longer name, boxed twice so that the variant is one pointer and the name stays 16 bytes
    /// (`Box<[u8]>` alone is two words).
    Heap(Box<Box<[u8]>>),
}

/// A level of a topic name or filter, ready to be compared with [`Name`]s and hashed.
#[derive(Clone, Copy)]
pub(super) enum Level<'a> {
    /// A level short enough to be an inline name.
    Short {
        /// The level.
        bytes: &'a [u8],
        /// The level padded with zeros to 16 bytes, as two little-endian words.
        words: [u64; 2],
    },
    /// A longer level, which only a name on the heap can equal.
    Long(&'a [u8]),
}

impl<'a> Level<'a> {
    /// The level `level`.
    #[inline]
    pub(super) fn new(level: &'a [u8]) -> Self {
        if level.len() <= INLINE {
            Self::Short {
                bytes: level,
                words: padded_words(level),
            }
        } else {
            Self::Long(level)
        }
    }

    /// The level's bytes.
    #[inline]
    pub(super) fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Self::Short { bytes, .. } | Self::Long(bytes) => bytes,
        }
    }
}

/// `level` (at most [`INLINE`] bytes) padded with zeros to 16 bytes, as two little-endian words read in
/// at most three loads that may overlap: no byte is stored and read back, and `memcpy` is not called.
#[inline]
fn padded_words(level: &[u8]) -> [u64; 2] {
    let len = level.len();
    /// The `N` bytes of `level` from `at`, or zeros past its end (which the callers rule out).
    fn load<const N: usize>(level: &[u8], at: usize) -> [u8; N] {
        level
            .get(at..at + N)
            .and_then(|bytes| bytes.try_into().ok())
            .unwrap_or([0; N])
    }
    if len >= 8 {
        let low = u64::from_le_bytes(load(level, 0));
        // The last 8 bytes, shifted down so that byte 8 of the level is the high word's first.
        let high = match len {
            9.. => u64::from_le_bytes(load(level, len - 8)) >> ((16 - len) * 8),
            _ => 0,
        };
        [low, high]
    } else if len >= 4 {
        let first = u64::from(u32::from_le_bytes(load(level, 0)));
        let last = u64::from(u32::from_le_bytes(load(level, len - 4)));
        [first | last << ((len - 4) * 8), 0]
    } else if len >= 1 {
        let [first] = load(level, 0);
        let [middle] = load(level, len / 2);
        let [last] = load(level, len - 1);
        let byte_at = |byte: u8, at: usize| u64::from(byte) << (at * 8);
        [
            byte_at(first, 0) | byte_at(middle, len / 2) | byte_at(last, len - 1),
            0,
        ]
    } else {
        [0, 0]
    }
}

impl Name {
    /// The name of `level`.
    pub(super) fn new(level: &str) -> Self {
        let level = level.as_bytes();
        match u8::try_from(level.len()) {
            Ok(len) if level.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..level.len()].copy_from_slice(level);
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(Box::new(level.into())),
        }
    }

    /// The name's bytes.
    #[inline]
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(bytes) => bytes,
        }
    }

    /// The name as a level, to hash it.
    #[inline]
    pub(super) fn level(&self) -> Level<'_> {
        Level::new(self.as_bytes())
    }

    /// Whether this is the name of `level`.
    #[inline]
    pub(super) fn is(&self, level: &Level<'_>) -> bool {
        match (self, level) {
            (
                Self::Inline { len, bytes },
                Level::Short {
                    bytes: level,
                    words,
                },
            ) => {
                let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13] = *bytes;
                usize::from(*len) == level.len()
                    && u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) == words[0]
                    && u64::from_le_bytes([b8, b9, b10, b11, b12, b13, 0, 0]) == words[1]
            }
            (Self::Heap(name), Level::Long(level)) => ***name == **level,
            _ => false,
        }
    }

    /// Whether this is the one-byte name `byte` (a wildcard's).
    #[inline]
    pub(super) fn is_byte(&self, byte: u8) -> bool {
        matches!(self, Self::Inline { len: 1, bytes: [first, ..] } if *first == byte)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::{INLINE, Level, Name};

    #[test]
    fn short_names_are_inline_and_long_ones_on_the_heap() {
        for length in [0, 1, INLINE - 1, INLINE, INLINE + 1, 100] {
            let level = "x".repeat(length);
            let name = Name::new(&level);
            assert_eq!(name.as_bytes(), level.as_bytes());
            assert_eq!(matches!(name, Name::Inline { .. }), length <= INLINE);
            assert_eq!(name, Name::new(&level));
            assert!(name.is(&Level::new(level.as_bytes())));
            assert!(name.is(&name.level()));
            assert_eq!(Level::new(level.as_bytes()).as_bytes(), level.as_bytes());
            assert!(!name.is(&Level::new("x".repeat(length + 1).as_bytes())));
            assert_eq!(name.is_byte(b'x'), length == 1);
        }
        assert!(!Name::new("ab").is(&Level::new(b"a")));
        assert!(!Name::new("a").is(&Level::new(b"b")));
        // Every length and every position of a differing byte.
        let long = "abcdefghijklmnop";
        for len in 0..=long.len() {
            let name = Name::new(&long[..len]);
            for at in 0..len {
                let mut other = long.as_bytes()[..len].to_vec();
                other[at] = b'_';
                assert!(!name.is(&Level::new(&other)), "{len} {at}");
            }
            assert!(name.is(&Level::new(&long.as_bytes()[..len])));
        }
        assert!(Name::new("+").is_byte(b'+') && !Name::new("+").is_byte(b'#'));
        assert_eq!(format!("{:?}", Name::new("a/é")), "\"a/é\"");
        assert_ne!(Name::new("ab"), Name::new("a"));
    }
}
