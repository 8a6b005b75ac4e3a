//! The children of a trie node: a short list scanned in order while there are few of them, a hash
//! table once there are many.
//!
//! Most nodes of a real subscription trie have one or a handful of children (`site` has one child `N`,
//! `N` has `device`, `device/M` has `temp`); comparing a few short names is several times faster than
//! hashing the level with SipHash, and an empty list costs no allocation. A level with thousands of
//! children (device ids, client ids) still gets constant-time lookups from the table, whose SipHash keys
//! keep clients from degrading it with crafted names.
//!
//! The wildcard levels `+` and `#` are children like the others, named `+` and `#`; a walk looks them up
//! with the literal level in the same scan. A table keeps them aside, so that a lookup hashes only the
//! literal level.
//!
//! The table holds boxed children: one pointer per bucket. hashbrown doubles its buckets as it grows, so
//! a large table is between 44 % and 88 % full, and every empty bucket costs only a pointer.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::name::Name;
use crate::topic::{MULTI_LEVEL_WILDCARD, SINGLE_LEVEL_WILDCARD};

/// A child of a node: the name of its level and the node itself.
#[derive(Debug, Clone)]
pub(super) struct Child<N> {
    /// The level's name: a literal, `+` or `#`.
    pub(super) name: Name,
    /// The node below that level.
    pub(super) node: N,
}

/// The children of a node, by level.
#[derive(Debug, Clone)]
pub(super) enum Children<N> {
    /// Up to [`Children::MAX_FEW`] children, in no particular order.
    Few(Box<[Child<N>]>),
    /// More children than a list scan handles well. Boxed: few nodes have one.
    Many(Box<Many<N>>),
}

/// Many children: the literal ones in a hash table, the wildcard ones aside.
#[derive(Debug, Clone)]
pub(super) struct Many<N> {
    /// The keys of the literal names' hashes.
    hasher: RandomState,
    /// The children with a literal name, each boxed.
    literal: HashTable<Box<Child<N>>>,
    /// The `+` and `#` children.
    wildcards: Box<[Child<N>]>,
}

/// The children a level of a topic name leads to.
pub(super) struct Matching<'a, N> {
    /// The child named by the level.
    pub(super) literal: Option<&'a N>,
    /// The `+` child.
    pub(super) single_level: Option<&'a N>,
    /// The `#` child.
    pub(super) multi_level: Option<&'a N>,
}

impl<N> Default for Children<N> {
    fn default() -> Self {
        Self::Few(Box::default())
    }
}

/// Whether `level` names a wildcard child.
fn is_wildcard(level: &[u8]) -> bool {
    level == SINGLE_LEVEL_WILDCARD.as_bytes() || level == MULTI_LEVEL_WILDCARD.as_bytes()
}

/// Fills `matching` with what `child` is to the topic level `level`.
#[inline]
fn classify<'a, N>(child: &'a Child<N>, level: &[u8], matching: &mut Matching<'a, N>) {
    let name = child.name.as_bytes();
    if name == level {
        matching.literal = Some(&child.node);
    } else if name == SINGLE_LEVEL_WILDCARD.as_bytes() {
        matching.single_level = Some(&child.node);
    } else if name == MULTI_LEVEL_WILDCARD.as_bytes() {
        matching.multi_level = Some(&child.node);
    }
}

/// `children` with `child` added, reallocated to fit.
fn pushed<N>(children: &mut Box<[Child<N>]>, child: Child<N>) {
    let mut list = Vec::from(std::mem::take(children));
    list.reserve_exact(1);
    list.push(child);
    *children = list.into_boxed_slice();
}

/// Removes the child named `level` from `children`, reallocating the rest to fit.
fn removed<N>(children: &mut Box<[Child<N>]>, level: &[u8]) -> Option<N> {
    let position = children
        .iter()
        .position(|child| child.name.as_bytes() == level)?;
    let mut list = Vec::from(std::mem::take(children));
    let child = list.swap_remove(position);
    *children = list.into_boxed_slice();
    Some(child.node)
}

impl<N> Children<N> {
    /// The most children kept in a list; one more turns the list into a table.
    const MAX_FEW: usize = 8;
    /// The fewest literal children kept in a table; one fewer turns it back into a list. Below `MAX_FEW`,
    /// so a level whose child count hovers around the limit does not convert back and forth.
    const MIN_MANY: usize = Self::MAX_FEW / 2;

    /// The child named `level` (a literal, `+` or `#`).
    pub(super) fn get(&self, level: &str) -> Option<&N> {
        let level = level.as_bytes();
        match self {
            Self::Few(children) => children
                .iter()
                .find(|child| child.name.as_bytes() == level)
                .map(|child| &child.node),
            Self::Many(many) if is_wildcard(level) => many
                .wildcards
                .iter()
                .find(|child| child.name.as_bytes() == level)
                .map(|child| &child.node),
            Self::Many(many) => many
                .literal
                .find(many.hasher.hash_one(level), |child| {
                    child.name.as_bytes() == level
                })
                .map(|child| &child.node),
        }
    }

    /// The child named by the topic level `level`, and the `+` and `#` children, found in one scan.
    #[inline]
    pub(super) fn matching(&self, level: &str) -> Matching<'_, N> {
        let level = level.as_bytes();
        let mut matching = Matching {
            literal: None,
            single_level: None,
            multi_level: None,
        };
        match self {
            Self::Few(children) => {
                for child in children.iter() {
                    classify(child, level, &mut matching);
                }
            }
            Self::Many(many) => {
                for child in many.wildcards.iter() {
                    classify(child, level, &mut matching);
                }
                let found = many.literal.find(many.hasher.hash_one(level), |child| {
                    child.name.as_bytes() == level
                });
                if let Some(child) = found {
                    matching.literal = Some(&child.node);
                }
            }
        }
        matching
    }

    /// The child named `level` (a literal, `+` or `#`), to change.
    pub(super) fn get_mut(&mut self, level: &str) -> Option<&mut N> {
        let level = level.as_bytes();
        let child = match self {
            Self::Few(children) => children
                .iter_mut()
                .find(|child| child.name.as_bytes() == level),
            Self::Many(many) => {
                let many = &mut **many;
                if is_wildcard(level) {
                    many.wildcards
                        .iter_mut()
                        .find(|child| child.name.as_bytes() == level)
                } else {
                    let hash = many.hasher.hash_one(level);
                    many.literal
                        .find_mut(hash, |child| child.name.as_bytes() == level)
                        .map(|child| &mut **child)
                }
            }
        };
        child.map(|child| &mut child.node)
    }

    /// Adds `node` for `level`, which has no child yet.
    pub(super) fn insert_new(&mut self, level: &str, node: N) {
        let child = Child {
            name: Name::new(level),
            node,
        };
        match self {
            Self::Few(children) if children.len() < Self::MAX_FEW => pushed(children, child),
            Self::Few(children) => {
                let mut many = Box::new(Many {
                    hasher: RandomState::new(),
                    literal: HashTable::with_capacity(Self::MAX_FEW + 1),
                    wildcards: Box::default(),
                });
                for child in Vec::from(std::mem::take(children)) {
                    many.insert(child);
                }
                many.insert(child);
                *self = Self::Many(many);
            }
            Self::Many(many) => many.insert(child),
        }
    }

    /// Removes the child named `level`, releasing memory the remaining children no longer need.
    pub(super) fn remove(&mut self, level: &str) -> Option<N> {
        let level = level.as_bytes();
        match self {
            Self::Few(children) => removed(children, level),
            Self::Many(many) if is_wildcard(level) => removed(&mut many.wildcards, level),
            Self::Many(many) => {
                let hash = many.hasher.hash_one(level);
                let found = many
                    .literal
                    .find_entry(hash, |child| child.name.as_bytes() == level);
                let (child, _) = found.ok()?.remove();
                if many.literal.len() < Self::MIN_MANY {
                    let Many {
                        literal, wildcards, ..
                    } = *std::mem::replace(many, Box::new(Many::empty()));
                    let mut few = Vec::from(wildcards);
                    few.extend(literal.into_iter().map(|child| *child));
                    *self = Self::Few(few.into_boxed_slice());
                } else if many.literal.len() * 4 <= many.literal.capacity() {
                    // Amortised: a table that grew for many children shrinks once three quarters have gone.
                    let hasher = &many.hasher;
                    many.literal.shrink_to(many.literal.len() * 2, |child| {
                        hasher.hash_one(child.name.as_bytes())
                    });
                }
                Some(child.node)
            }
        }
    }

    /// Whether there is no child.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Few(children) => children.is_empty(),
            Self::Many(many) => many.literal.is_empty() && many.wildcards.is_empty(),
        }
    }

    /// The number of children.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Few(children) => children.len(),
            Self::Many(many) => many.literal.len() + many.wildcards.len(),
        }
    }
}

impl<N> Many<N> {
    /// A table without children, holding no allocation.
    fn empty() -> Self {
        Self {
            hasher: RandomState::new(),
            literal: HashTable::new(),
            wildcards: Box::default(),
        }
    }

    /// Adds `child`, whose name is not taken yet.
    fn insert(&mut self, child: Child<N>) {
        if is_wildcard(child.name.as_bytes()) {
            pushed(&mut self.wildcards, child);
        } else {
            let hasher = &self.hasher;
            let hash = hasher.hash_one(child.name.as_bytes());
            self.literal.insert_unique(hash, Box::new(child), |child| {
                hasher.hash_one(child.name.as_bytes())
            });
        }
    }
}
