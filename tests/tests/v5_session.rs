//! End-to-end tests of the MQTT 5.0 session lifecycle over real sockets: the session expiry
//! interval of each session (CONNECT and DISCONNECT), the will delay interval, the DISCONNECT the
//! broker sends before it closes a 5.0 client (takeover, keep-alive, shutdown, receive maximum,
//! packet too large), and the server keep-alive.

#[path = "v5_session/disconnect.rs"]
mod disconnect;
#[path = "v5_session/expiry.rs"]
mod expiry;
#[path = "v5_session/limits.rs"]
mod limits;
#[path = "v5_session/will_delay.rs"]
mod will_delay;
