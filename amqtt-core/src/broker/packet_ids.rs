//! Packet ids for the messages a session sends: given out in sequence, never one still in flight.

use crate::codec::PacketId;

/// The packet ids a session gives its outgoing QoS 1/2 messages.
///
/// Ids go out in sequence (wrapping past 65 535, skipping 0), so one scan of the ids in flight
/// tells how many of the following ids are free, and the next scan comes only when the sequence
/// reaches an id still in flight. A session's window is smaller than the id space, so a free id
/// always exists.
#[derive(Debug, Default)]
pub(crate) struct PacketIds {
    /// The id given last (0 before the first).
    last: u16,
    /// How many ids after `last` are known not to be in flight.
    free_ahead: u16,
}

impl PacketIds {
    /// The next id in sequence that is not among `in_flight` (the ids of the messages in
    /// flight, every one of them given by this allocator or announced with [`Self::taken`]).
    /// `in_flight` is iterated only when the ids known free have run out.
    pub(crate) fn allocate(
        &mut self,
        in_flight: impl Iterator<Item = PacketId> + Clone,
    ) -> PacketId {
        loop {
            if self.free_ahead == 0 {
                let last = self.last;
                // The ids between `last` and the nearest one in flight after it are free; the
                // last one given, if still in flight, is the farthest: 65 535 ids ahead.
                let free_before = |id: PacketId| id.get().wrapping_sub(last).wrapping_sub(1);
                self.free_ahead = in_flight.clone().map(free_before).min().unwrap_or(u16::MAX);
                if self.free_ahead == 0 {
                    self.last = last.wrapping_add(1);
                    continue;
                }
            }
            self.free_ahead -= 1;
            self.last = self.last.wrapping_add(1);
            if let Some(id) = PacketId::new(self.last) {
                return id;
            }
        }
    }

    /// An id not given by this allocator is now in flight (a message restored with its id):
    /// the next allocation scans again.
    pub(crate) fn taken(&mut self) {
        self.free_ahead = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("a test id is not 0")
    }

    #[test]
    fn gives_ids_in_sequence_from_one() {
        let mut ids = PacketIds::default();
        let given: Vec<u16> = (0..3).map(|_| ids.allocate([].into_iter()).get()).collect();
        assert_eq!(given, [1, 2, 3]);
    }

    #[test]
    fn wraps_past_the_largest_id_skipping_zero() {
        let mut ids = PacketIds {
            last: u16::MAX - 1,
            free_ahead: 0,
        };
        assert_eq!(ids.allocate([].into_iter()).get(), u16::MAX);
        assert_eq!(ids.allocate([].into_iter()).get(), 1);
    }

    #[test]
    fn skips_ids_still_in_flight() {
        let mut ids = PacketIds::default();
        let in_flight = [id(2), id(3), id(5)];
        let given: Vec<u16> = (0..3)
            .map(|_| ids.allocate(in_flight.iter().copied()).get())
            .collect();
        assert_eq!(given, [1, 4, 6]);
    }

    #[test]
    fn an_id_in_flight_since_the_last_lap_is_skipped() {
        let mut ids = PacketIds::default();
        let first = ids.allocate([].into_iter());
        let mut in_flight = vec![first];
        for _ in 0..u16::MAX - 2 {
            ids.allocate(in_flight.iter().copied());
        }
        assert_eq!(ids.allocate(in_flight.iter().copied()).get(), u16::MAX);
        // Id 1 is still in flight a whole lap later: the sequence goes on at 2.
        assert_eq!(ids.allocate(in_flight.iter().copied()).get(), 2);
        in_flight.clear();
        assert_eq!(ids.allocate(in_flight.iter().copied()).get(), 3);
    }

    #[test]
    fn a_restored_id_is_seen_after_taken() {
        let mut ids = PacketIds::default();
        assert_eq!(ids.allocate([].into_iter()).get(), 1);
        ids.taken();
        assert_eq!(ids.allocate([id(2)].into_iter()).get(), 3);
    }
}
