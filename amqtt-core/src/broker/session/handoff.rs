//! A persistent session as it leaves for another node of the cluster ([`Handoff`]), and as it
//! arrives here: written to this node's store, when it has one, like a session of its own.

use bytes::Bytes;

use super::{Inflight, SessionState};
use crate::cluster::Handoff;
use crate::codec::{Publish, QoS};
use crate::store::{MessageState, StoreOp, StoredMessage, StoredSession};

impl SessionState {
    /// What another node needs to continue this session: the client as its CONNECT described
    /// it, its subscriptions, its queued and in-flight messages but those of shared
    /// subscriptions (which go to another member of their group here), and its QoS 2 ids.
    pub(crate) fn hand_off(&self) -> Handoff {
        let info = &self.info;
        let session = StoredSession {
            client_id: info.client_id.clone(),
            username: info.username.clone(),
            keep_alive: info.keep_alive,
            will: info.will.clone(),
            disconnected_at: None,
            protocol: info.protocol,
            properties: info.properties.clone(),
        };
        let subscriptions = self
            .subscriptions
            .iter()
            .map(|(filter, grant)| (filter.clone(), *grant))
            .collect();
        let mut messages = Vec::new();
        for inflight in self.inflight.iter().filter(|e| e.share.is_none()) {
            let (state, message) = match &inflight.state {
                Inflight::Unacked(message) | Inflight::Unreceived(message) => {
                    (MessageState::Sent, message.clone())
                }
                // Only the PUBREL/PUBCOMP exchange is left: the message is not needed.
                Inflight::Released => (MessageState::Released, released_placeholder()),
            };
            messages.push(StoredMessage {
                entry: inflight.entry,
                state,
                packet_id: Some(inflight.id),
                message,
            });
        }
        for queued in self.pending.iter().filter(|q| q.share.is_none()) {
            messages.push(StoredMessage {
                entry: queued.entry,
                state: MessageState::Queued,
                packet_id: None,
                message: queued.message.clone(),
            });
        }
        let qos2_received = self
            .incoming_qos2
            .iter()
            .filter_map(|&id| crate::codec::PacketId::new(id))
            .collect();
        Handoff {
            session,
            subscriptions,
            messages,
            qos2_received,
        }
    }

    /// Journals everything this session holds, as a session of this node's store: for a
    /// session that arrived from another node, which the store has never seen.
    pub(crate) fn journal_whole(&self) {
        if !self.is_stored() {
            return;
        }
        self.journal_session(self.disconnected_at.map(|_| std::time::SystemTime::now()));
        for (filter, grant) in &self.subscriptions {
            self.journal_op(|client_id| StoreOp::Subscribe {
                client_id,
                filter: (**filter).into(),
                grant: *grant,
            });
        }
        let Handoff { messages, .. } = self.hand_off();
        for stored in messages {
            self.journal_op(|client_id| StoreOp::Message {
                client_id,
                message: stored,
            });
        }
        for &packet_id in &self.incoming_qos2 {
            if let Some(packet_id) = crate::codec::PacketId::new(packet_id) {
                self.journal_op(|client_id| StoreOp::Qos2Received {
                    client_id,
                    packet_id,
                });
            }
        }
    }
}

/// What stands for the message of a QoS 2 exchange past PUBREC, which no longer has one.
fn released_placeholder() -> Publish {
    Publish::new("$cluster/released", Bytes::new(), QoS::ExactlyOnce, false)
}
