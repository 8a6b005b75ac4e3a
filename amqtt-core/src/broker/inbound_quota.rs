//! Receive Maximum towards the broker (MQTT 5.0, 3.3.4): an MQTT 5.0 client may have at most
//! the broker's `receive_maximum` QoS 1/2 PUBLISHes unacknowledged; one more is a protocol
//! violation, DISCONNECT 0x93 ([MQTT-3.3.4-9]).
//!
//! The broker acknowledges a QoS 1 PUBLISH as it handles it, so what stays unacknowledged is
//! the QoS 2 ones until their PUBCOMP: the session's QoS 2 ids awaiting PUBREL.

use super::session::Session;
use super::shared::Core;
use crate::codec::{Publish, QoS};
use crate::plugin::SessionInfo;

/// Whether `publish`, just received, is one more QoS 1/2 PUBLISH than the client may have in
/// flight. A retransmission of a QoS 2 id already counted is not.
pub(super) fn exceeds_receive_maximum(
    core: &Core,
    session: &Session,
    info: &SessionInfo,
    publish: &Publish,
) -> bool {
    let max = core.config.receive_maximum;
    if !info.protocol.is_v5() || publish.qos == QoS::AtMostOnce || max == u16::MAX {
        return false;
    }
    let state = session.lock();
    if let (QoS::ExactlyOnce, Some(id)) = (publish.qos, publish.packet_id)
        && state.incoming_qos2.contains(&id.get())
    {
        return false;
    }
    state.incoming_qos2.len() >= usize::from(max)
}
