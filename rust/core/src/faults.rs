//! Panic containment: a bug in the handling of one connection, or in one turn of the reactor,
//! must not take the server down, and must not unwind into the engine that hosts it.
//!
//! The reactor runs each connection's work inside `catch_unwind` (`Reactor::with_connection`):
//! a panic there drops that connection only, which the main thread sees as an unclean
//! disconnect, and reports the panic as an [`Event::Fault`](crate::Event::Fault). Every turn is
//! contained the same way as a whole (`Reactor::contained_turn`), so a panic outside any
//! connection costs that turn, not the network thread.
//!
//! With the `fault-injection` feature (test builds only), [`crate::Sender::inject_fault`] makes
//! the reactor panic on purpose at one of these places, so tests can show both.

use std::any::Any;

/// Where an injected fault panics (`fault-injection` feature).
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSite {
    /// Inside the handling of this peer's connection.
    Connection(crate::PeerId),
    /// Inside a reactor turn, outside any connection.
    Turn,
}

/// The message a panic was raised with, for the report.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn messages_of_both_payload_kinds_are_read() {
        let payload = std::panic::catch_unwind(|| panic!("static text")).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "static text");
        let n = 7;
        let payload = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "formatted 7");
        let payload = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(payload.as_ref()), "a panic without a message");
    }
}
