//! aMQTT's JWT authentication and topic plugins: [`UserAuthJwt`]
//! (`amqtt.contrib.jwt.UserAuthJwtPlugin`) admits a client whose password is a valid token
//! naming its user; [`TopicAuthJwt`] (`amqtt.contrib.jwt.TopicAuthJwtPlugin`) allows the topics
//! the token's claims list.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.jwt.UserAuthJwtPlugin:
//!     secret_key: change-me
//!     user_claim: sub
//!     algorithm: HS256
//!   amqtt.contrib.jwt.TopicAuthJwtPlugin:
//!     algorithm: ES256
//!     public_key_file: /etc/amqtt/jwt-public.pem
//!     publish_claim: pub
//!     subscribe_claim: sub_topics
//!     receive_claim: recv
//! ```
//!
//! `algorithm` is honoured (aMQTT always decodes HS256): HS256/384/512 verify with
//! `secret_key`; RS*, PS*, ES256/384 and EdDSA with a PEM public key from `public_key_file`,
//! `public_key`, or `secret_key`. A token signed with another algorithm, with a bad signature or
//! past its `exp` is refused. See `docs/jwt.md`.

mod key;
mod plugins;

pub use plugins::{TopicAuthJwt, TopicAuthJwtConfig, UserAuthJwt, UserAuthJwtConfig};
