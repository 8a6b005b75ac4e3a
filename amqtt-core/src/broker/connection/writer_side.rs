//! The connection's writer (`Outbox::run_writer`) driven by the connection's own task, alongside
//! the reader and the close: one task per connection, not two. Each poll of the task polls the
//! reader's work first and then the writer, so what the reader queued for its own client (an
//! acknowledgement, a SUBACK, a message routed back to it) is written in the same poll, without a
//! wake-up of another task.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::time::Duration;

/// The writer future of one connection, and whether it has finished.
pub(super) struct WriterSide<'a, W> {
    writer: Pin<&'a mut W>,
    done: bool,
}

impl<'a, W: Future<Output = ()>> WriterSide<'a, W> {
    /// Wraps the pinned writer future; nothing runs until [`WriterSide::alongside`].
    pub(super) fn new(writer: Pin<&'a mut W>) -> WriterSide<'a, W> {
        WriterSide {
            writer,
            done: false,
        }
    }

    /// Runs `work` to its end while the writer makes progress in the same task; the writer may
    /// finish first (the outbox was closed and drained, or the socket failed), `work` not.
    ///
    /// `work` comes pinned by the caller, not by value: a future passed by value into an async
    /// fn is laid out both in the caller's state and in the callee's, and the read loop's future
    /// is most of what an idle connection holds.
    pub(super) async fn alongside<T>(&mut self, mut work: Pin<&mut impl Future<Output = T>>) -> T {
        poll_fn(|cx| {
            let worked = work.as_mut().poll(cx);
            if !self.done {
                self.done = self.writer.as_mut().poll(cx).is_ready();
            }
            worked
        })
        .await
    }

    /// Lets the writer flush what is queued and close the socket, for at most `grace`: a peer
    /// that stopped reading must not keep the connection alive.
    pub(super) async fn finish(&mut self, grace: Duration) {
        if !self.done {
            let _ = tokio::time::timeout(grace, self.writer.as_mut()).await;
            self.done = true;
        }
    }
}
