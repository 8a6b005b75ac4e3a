//! End-to-end tests of the certificate tools `ca_creds`, `server_creds` and `device_creds`.
//!
//! Each test runs the binaries into a temporary directory and checks what they wrote: with
//! x509-parser (extensions, names, signatures), with webpki the way rustls verifies a server or
//! client certificate, with aws-lc-rs that each key is the key of its certificate, and with the
//! `openssl` command-line tool when it is installed (otherwise those checks print `skipped: ...`
//! and the test goes on).
//!
//! The binaries belong to another package (`amqtt-bin`), so Cargo does not build them for these
//! tests; the first test to need them builds them once, into the target directory and profile of
//! this test executable (as the `cli` tests do for `amqtt`).

#[path = "creds/contents.rs"]
mod contents;
#[path = "creds/errors.rs"]
mod errors;
#[path = "creds/support.rs"]
mod support;
