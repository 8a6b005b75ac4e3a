//! The children of a trie node: a short list scanned in order while there are few of them, a hash
//! table once there are many.
//!
//! Most nodes of a real subscription trie have one or a handful of children (`site` has one child `N`,
//! `N` has `device`, `device/M` has `temp`); comparing a few short names is several times faster than
//! hashing the level with SipHash, and an empty list costs no allocation. A level with thousands of
//! children (device ids, client ids) still gets constant-time lookups from the table, whose SipHash keys
//! keep clients from degrading it with crafted names.
//!
//! The wildcard levels `+` and `#` are children like the others, named `+` and `#`, kept in front of the
//! literal ones: `+` first, then `#`. A walk checks the first one or two names for a wildcard, then scans
//! the literal ones for its level and stops at the first hit. A table keeps them aside in the same order,
//! so that a lookup hashes only the literal level.
//!
//! The table hashes the literal names with SipHash under the process's random keys (see
//! [`keys`](super::hash::keys)).
//!
//! The table holds boxed children: one pointer per bucket. hashbrown doubles its buckets as it grows, so
//! a large table is between 44 % and 88 % full, and every empty bucket costs only a pointer.

use hashbrown::HashTable;

use super::hash::{Lookup, keys};
use super::name::{Level, Name};

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
    /// Up to [`Children::MAX_FEW`] children: the `+` child if any, then the `#` child if any, then the
    /// literal ones in no particular order.
    Few(Box<[Child<N>]>),
    /// More children than a list scan handles well. Boxed: few nodes have one.
    Many(Box<Many<N>>),
}

/// Many children: the literal ones in a hash table, the wildcard ones aside.
#[derive(Debug, Clone)]
pub(super) struct Many<N> {
    /// The children with a literal name, each boxed.
    literal: HashTable<Box<Child<N>>>,
    /// The `+` child if any, then the `#` child if any.
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

/// The first byte of the `+` level.
const PLUS: u8 = b'+';
/// The first byte of the `#` level.
const HASH: u8 = b'#';

/// Whether `level` names a wildcard child.
fn is_wildcard(level: &[u8]) -> bool {
    level == [PLUS] || level == [HASH]
}

/// The `+` child, the `#` child and the literal children of a list that keeps its wildcards in front.
#[inline]
fn split_wildcards<N>(children: &[Child<N>]) -> (Option<&N>, Option<&N>, &[Child<N>]) {
    let mut rest = children;
    let mut single_level = None;
    if let [first, others @ ..] = rest
        && first.name.is_byte(PLUS)
    {
        single_level = Some(&first.node);
        rest = others;
    }
    let mut multi_level = None;
    if let [first, others @ ..] = rest
        && first.name.is_byte(HASH)
    {
        multi_level = Some(&first.node);
        rest = others;
    }
    (single_level, multi_level, rest)
}

/// Where a child named `name` goes in a list that keeps its wildcards in front: `+` first, `#` next.
fn position_for<N>(children: &[Child<N>], name: &Name) -> usize {
    if name.is_byte(PLUS) {
        0
    } else if name.is_byte(HASH) {
        usize::from(
            children
                .first()
                .is_some_and(|first| first.name.is_byte(PLUS)),
        )
    } else {
        children.len()
    }
}

/// `children` with `child` added in its place, reallocated to fit.
fn inserted<N>(children: &mut Box<[Child<N>]>, child: Child<N>) {
    let position = position_for(children, &child.name);
    let mut list = Vec::from(std::mem::take(children));
    list.reserve_exact(1);
    list.insert(position, child);
    *children = list.into_boxed_slice();
}

/// Removes the child named `level` from `children`, keeping the others in order and reallocating them to
/// fit.
fn removed<N>(children: &mut Box<[Child<N>]>, level: &Level<'_>) -> Option<N> {
    let position = children.iter().position(|child| child.name.is(level))?;
    let mut list = Vec::from(std::mem::take(children));
    let child = list.remove(position);
    *children = list.into_boxed_slice();
    Some(child.node)
}

impl<N> Children<N> {
    /// The most children kept in a list; one more turns the list into a table.
    const MAX_FEW: usize = 8;
    /// The largest table that shrinks in place as children leave. Shrinking rehashes every remaining
    /// child in one go, under the index's write lock: 18 ms for a level that had 300 000 children, a
    /// stall for every publisher. A larger table keeps its buckets (8 bytes each) until at most half
    /// this many children are left, then moves them to a small table and retires its own.
    const MAX_SHRINK: usize = 4096;
    /// The fewest literal children kept in a table; one fewer turns it back into a list. Below `MAX_FEW`,
    /// so a level whose child count hovers around the limit does not convert back and forth.
    const MIN_MANY: usize = Self::MAX_FEW / 2;

    /// The child named `level` (a literal, `+` or `#`).
    pub(super) fn get(&self, level: &str) -> Option<&N> {
        let level = Level::new(level.as_bytes());
        match self {
            Self::Few(children) => find(children, &level),
            Self::Many(many) if is_wildcard(level.as_bytes()) => find(&many.wildcards, &level),
            Self::Many(many) => many
                .literal
                .find(keys().hash(&level), |child| child.name.is(&level))
                .map(|child| &child.node),
        }
    }

    /// The child named by the topic level `level`, and the `+` and `#` children.
    #[inline]
    pub(super) fn matching(&self, lookup: &Lookup<'_>) -> Matching<'_, N> {
        let level = &lookup.level;
        match self {
            Self::Few(children) => {
                let (single_level, multi_level, literals) = split_wildcards(children);
                Matching {
                    literal: find(literals, level),
                    single_level,
                    multi_level,
                }
            }
            Self::Many(many) => {
                let (single_level, multi_level, _) = split_wildcards(&many.wildcards);
                let literal = many
                    .literal
                    .find(lookup.hash(), |child| child.name.is(level))
                    .map(|child| &child.node);
                Matching {
                    literal,
                    single_level,
                    multi_level,
                }
            }
        }
    }

    /// The `#` child.
    #[inline]
    pub(super) fn multi_level(&self) -> Option<&N> {
        let (_, multi_level, _) = match self {
            Self::Few(children) => split_wildcards(children),
            Self::Many(many) => split_wildcards(&many.wildcards),
        };
        multi_level
    }

    /// The child named `level` (a literal, `+` or `#`), to change.
    pub(super) fn get_mut(&mut self, level: &str) -> Option<&mut N> {
        let level = Level::new(level.as_bytes());
        let child = match self {
            Self::Few(children) => children.iter_mut().find(|child| child.name.is(&level)),
            Self::Many(many) => {
                let many = &mut **many;
                if is_wildcard(level.as_bytes()) {
                    many.wildcards
                        .iter_mut()
                        .find(|child| child.name.is(&level))
                } else {
                    let hash = keys().hash(&level);
                    many.literal
                        .find_mut(hash, |child| child.name.is(&level))
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
            Self::Few(children) if children.len() < Self::MAX_FEW => inserted(children, child),
            Self::Few(children) => {
                let mut many = Box::new(Many {
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

    /// Removes the child named `level`, releasing memory the remaining children no longer need. A large
    /// table that turns back into a list is put in `retired` rather than freed (see
    /// [`Released`](super::Released)).
    pub(super) fn remove(&mut self, level: &str, retired: &mut Vec<Many<N>>) -> Option<N> {
        let level = Level::new(level.as_bytes());
        match self {
            Self::Few(children) => removed(children, &level),
            Self::Many(many) if is_wildcard(level.as_bytes()) => {
                removed(&mut many.wildcards, &level)
            }
            Self::Many(many) => {
                let hash = keys().hash(&level);
                let found = many.literal.find_entry(hash, |child| child.name.is(&level));
                let (child, _) = found.ok()?.remove();
                if many.literal.len() < Self::MIN_MANY {
                    let mut old = std::mem::replace(many, Box::new(Many::empty()));
                    // The wildcards, in order, go in front.
                    let mut few = Vec::from(std::mem::take(&mut old.wildcards));
                    few.extend(old.literal.drain().map(|child| *child));
                    if old.literal.capacity() > Self::MAX_SHRINK {
                        retired.push(*old);
                    }
                    *self = Self::Few(few.into_boxed_slice());
                } else if many.literal.len() * 4 <= many.literal.capacity() {
                    // Amortised: a table that grew for many children shrinks once three quarters have gone.
                    let hasher = |child: &Child<N>| keys().hash(&child.name.level());
                    if many.literal.capacity() <= Self::MAX_SHRINK {
                        many.literal
                            .shrink_to(many.literal.len() * 2, |child| hasher(child));
                    } else if many.literal.len() <= Self::MAX_SHRINK / 2 {
                        // A large table waits until few children are left, so that moving them is
                        // cheap, and its allocation is retired, not freed, under the caller's lock.
                        let mut smaller = HashTable::with_capacity(many.literal.len() * 2);
                        for child in many.literal.drain() {
                            smaller.insert_unique(hasher(&child), child, |child| hasher(child));
                        }
                        let large = std::mem::replace(&mut many.literal, smaller);
                        retired.push(Many {
                            literal: large,
                            wildcards: Box::default(),
                        });
                    }
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

    /// The names of the children, in the order a list keeps them (a table's literal ones after its
    /// wildcards, in no particular order).
    #[cfg(test)]
    pub(super) fn names(&self) -> Vec<String> {
        let (wildcards, literal): (&[Child<N>], Vec<&Child<N>>) = match self {
            Self::Few(children) => (&[], children.iter().collect()),
            Self::Many(many) => (
                &many.wildcards,
                many.literal.iter().map(|child| &**child).collect(),
            ),
        };
        let children = wildcards.iter().chain(literal);
        let names =
            children.map(|child| String::from_utf8_lossy(child.name.as_bytes()).into_owned());
        names.collect()
    }
}

/// The node of the child of `children` named `level`, stopping at the first hit.
#[inline]
fn find<'a, N>(children: &'a [Child<N>], level: &Level<'_>) -> Option<&'a N> {
    children
        .iter()
        .find(|child| child.name.is(level))
        .map(|child| &child.node)
}

impl<N> Many<N> {
    /// A table without children, holding no allocation.
    fn empty() -> Self {
        Self {
            literal: HashTable::new(),
            wildcards: Box::default(),
        }
    }

    /// Adds `child`, whose name is not taken yet.
    fn insert(&mut self, child: Child<N>) {
        if is_wildcard(child.name.as_bytes()) {
            inserted(&mut self.wildcards, child);
        } else {
            let keys = keys();
            let hash = keys.hash(&child.name.level());
            self.literal.insert_unique(hash, Box::new(child), |child| {
                keys.hash(&child.name.level())
            });
        }
    }
}
