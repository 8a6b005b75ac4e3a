//! Where a message published on this node goes in the cluster ([`Plan`]): every other node with
//! a matching ordinary subscription, and for each matching shared-subscription group with
//! members on several nodes, one of those nodes (this one included), in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use amqtt_core::cluster::Interest;

use crate::interest::RemoteInterest;

/// The other nodes a message goes to, each with the groups it delivers the message to, and the
/// groups this node leaves to them.
#[derive(Debug, Default)]
pub struct Plan {
    pub(crate) nodes: Vec<Destination>,
    pub(crate) elsewhere: Vec<Box<str>>,
}

/// A node a message goes to, and the groups it delivers the message to.
pub(crate) type Destination = (Arc<str>, Vec<Box<str>>);

impl Plan {
    fn node(&mut self, node: &Arc<str>) -> &mut Vec<Box<str>> {
        let index = match self.nodes.iter().position(|(n, _)| n == node) {
            Some(index) => index,
            None => {
                self.nodes.push((node.clone(), Vec::new()));
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[index].1
    }
}

/// Plans where messages go, turn by turn for the groups.
#[derive(Default)]
pub(crate) struct Planner {
    turn: AtomicUsize,
}

impl Planner {
    /// Where a message on `topic` goes besides this node (whose own interest is `local`);
    /// `None` when nowhere.
    pub(crate) fn plan(
        &self,
        topic: &str,
        remote: &RemoteInterest,
        local: &Interest,
    ) -> Option<Plan> {
        let (ordinary, groups) = remote.matching(topic);
        if ordinary.is_empty() && groups.is_empty() {
            return None;
        }
        let mut plan = Plan::default();
        for node in &ordinary {
            plan.node(node);
        }
        for (share, nodes) in groups {
            let here = usize::from(local.contains(&share));
            let pick = self.turn.fetch_add(1, Ordering::Relaxed) % (nodes.len() + here);
            // `pick == nodes.len()`: this node's members take it.
            if let Some(node) = nodes.get(pick) {
                plan.node(node).push(Box::from(&*share));
                plan.elsewhere.push(Box::from(&*share));
            }
        }
        (!plan.nodes.is_empty()).then_some(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_take_turns_between_nodes() {
        let remote = RemoteInterest::default();
        remote.test_put("b.1", "b", "$share/g/t");
        remote.test_put("c.1", "c", "t");
        let local = Interest::default();
        let planner = Planner::default();
        let mut elsewhere = 0;
        for _ in 0..4 {
            let plan = planner.plan("t", &remote, &local).expect("c subscribes");
            assert!(plan.nodes.iter().any(|(n, g)| &**n == "c" && g.is_empty()));
            elsewhere += plan.elsewhere.len();
        }
        assert_eq!(
            elsewhere, 4,
            "no member here: b takes every message of the group"
        );
        assert!(planner.plan("u", &remote, &local).is_none());
    }
}
