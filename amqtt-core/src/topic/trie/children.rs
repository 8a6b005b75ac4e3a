//! The literal children of a trie node: a short list scanned in order while there are few of them, a hash
//! map once there are many.
//!
//! Most nodes of a real subscription trie have one or a handful of children (`site` has one child `N`,
//! `N` has `device`, `device/M` has `temp`); comparing a few short strings is several times faster than
//! hashing the level with SipHash, and an empty list costs no allocation. A level with thousands of
//! children (device ids, client ids) still gets constant-time lookups from the map, whose SipHash keys
//! keep clients from degrading it with crafted names.

use std::collections::HashMap;

/// The literal children of a node, by level.
#[derive(Debug, Clone)]
pub(super) enum Children<N> {
    /// Up to [`Children::MAX_FEW`] children, in insertion order.
    Few(Vec<(Box<str>, N)>),
    /// More children than a list scan handles well. Boxed: few nodes have one, and every node,
    /// leaves included, would otherwise be the map's size.
    #[allow(clippy::box_collection)] // the point: the variant is one pointer, not a map header
    Many(Box<HashMap<Box<str>, N>>),
}

impl<N> Default for Children<N> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<N> Children<N> {
    /// The most children kept in a list; one more turns the list into a map.
    const MAX_FEW: usize = 8;
    /// The fewest children kept in a map; one fewer turns it back into a list. Below `MAX_FEW`, so a level
    /// whose child count hovers around the limit does not convert back and forth on every change.
    const MIN_MANY: usize = Self::MAX_FEW / 2;

    /// The child for `level`.
    pub(super) fn get(&self, level: &str) -> Option<&N> {
        match self {
            Self::Few(children) => children
                .iter()
                .find(|(name, _)| **name == *level)
                .map(|(_, child)| child),
            Self::Many(children) => children.get(level),
        }
    }

    /// The child for `level`, to change.
    pub(super) fn get_mut(&mut self, level: &str) -> Option<&mut N> {
        match self {
            Self::Few(children) => children
                .iter_mut()
                .find(|(name, _)| **name == *level)
                .map(|(_, child)| child),
            Self::Many(children) => children.get_mut(level),
        }
    }

    /// Adds `child` for `level`, which has no child yet.
    pub(super) fn insert_new(&mut self, level: &str, child: N) {
        match self {
            Self::Few(children) if children.len() < Self::MAX_FEW => {
                children.push((level.into(), child))
            }
            Self::Few(children) => {
                let mut many: HashMap<_, _> = std::mem::take(children).into_iter().collect();
                many.insert(level.into(), child);
                *self = Self::Many(Box::new(many));
            }
            Self::Many(children) => {
                children.insert(level.into(), child);
            }
        }
    }

    /// Removes the child for `level`, releasing memory the remaining children no longer need.
    pub(super) fn remove(&mut self, level: &str) -> Option<N> {
        match self {
            Self::Few(children) => {
                let position = children.iter().position(|(name, _)| **name == *level)?;
                let (_, child) = children.swap_remove(position);
                if children.is_empty() {
                    *children = Vec::new();
                }
                Some(child)
            }
            Self::Many(children) => {
                let child = children.remove(level)?;
                if children.len() < Self::MIN_MANY {
                    *self = Self::Few(std::mem::take(&mut **children).into_iter().collect());
                } else if children.len() * 4 <= children.capacity() {
                    // Amortised: a map that grew for many children shrinks once three quarters have gone.
                    children.shrink_to(children.len() * 2);
                }
                Some(child)
            }
        }
    }

    /// Whether there is no child.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Few(children) => children.is_empty(),
            Self::Many(children) => children.is_empty(),
        }
    }
}
