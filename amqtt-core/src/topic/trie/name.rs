//! The name of one level of a stored filter: kept inline when short, so that most names cost no
//! allocation of their own.
//!
//! Level names are mostly short (`sport`, `temp`, a device number); a 16-byte name holds up to
//! [`INLINE`] bytes in place, where a `Box<str>` would take 16 bytes plus a 32-byte heap chunk.

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
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::{INLINE, Name};

    #[test]
    fn short_names_are_inline_and_long_ones_on_the_heap() {
        for length in [0, 1, INLINE - 1, INLINE, INLINE + 1, 100] {
            let level = "x".repeat(length);
            let name = Name::new(&level);
            assert_eq!(name.as_bytes(), level.as_bytes());
            assert_eq!(matches!(name, Name::Inline { .. }), length <= INLINE);
            assert_eq!(name, Name::new(&level));
        }
        assert_eq!(format!("{:?}", Name::new("a/é")), "\"a/é\"");
        assert_ne!(Name::new("ab"), Name::new("a"));
    }
}
