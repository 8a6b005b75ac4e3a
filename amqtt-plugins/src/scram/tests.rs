//! SCRAM against RFC 7677's SCRAM-SHA-256 example exchange (user `user`, password `pencil`).

use std::num::NonZeroU32;

use amqtt_core::client::Authenticator as _;
use base64::Engine as _;
use bytes::Bytes;

use super::messages::{self, ClientFinal, ClientFirst};
use super::{BASE64, ScramClient, ScramCredential};

const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn credential() -> ScramCredential {
    let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
    ScramCredential::derive(b"pencil", &salt, NonZeroU32::new(4096).expect("non-zero"))
}

#[test]
fn client_answers_as_rfc_7677() {
    let client = ScramClient::new("user", "pencil");
    let history = [Bytes::from(CLIENT_FIRST)];
    let answer = client.respond(&history, Some(SERVER_FIRST.as_bytes()));
    assert_eq!(answer, Ok(Some(Bytes::from(CLIENT_FINAL))));
    let history = [history[0].clone(), SERVER_FIRST.into(), CLIENT_FINAL.into()];
    assert_eq!(
        client.finish(&history, Some(SERVER_FINAL.as_bytes())),
        Ok(())
    );
    assert!(client.finish(&history, Some(b"v=AAAA")).is_err());
    let wrong = ScramClient::new("user", "pencils");
    assert_ne!(
        wrong.respond(&history[..1], Some(SERVER_FIRST.as_bytes())),
        Ok(Some(Bytes::from(CLIENT_FINAL)))
    );
}

#[test]
fn server_checks_the_proof_as_rfc_7677() {
    let credential = credential();
    let first = ClientFirst::parse(CLIENT_FIRST).expect("client-first");
    assert_eq!((first.username.as_str(), first.gs2_header), ("user", "n,,"));
    let last = ClientFinal::parse(CLIENT_FINAL).expect("client-final");
    let auth_message = messages::auth_message(first.bare, SERVER_FIRST, last.without_proof);
    assert!(messages::proof_matches(
        &credential.stored_key,
        &auth_message,
        &last.proof
    ));
    let mut forged = last.proof;
    forged[0] ^= 1;
    assert!(!messages::proof_matches(
        &credential.stored_key,
        &auth_message,
        &forged
    ));
    assert_eq!(
        messages::server_final(&credential.server_key, &auth_message),
        SERVER_FINAL
    );
}

#[test]
fn credential_round_trips_and_checks_passwords() {
    let credential = credential();
    let text = credential.to_string();
    assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
    assert_eq!(ScramCredential::parse(&text), Ok(credential.clone()));
    assert!(credential.verify_password(b"pencil"));
    assert!(!credential.verify_password(b"pencil2"));
    assert!(ScramCredential::parse("SCRAM-SHA-256$0:AA==$AA==:AA==").is_err());
    assert!(ScramCredential::parse("SCRAM-SHA-256$4096:AA==$AA==:AA==").is_err());
}

#[test]
fn user_names_are_escaped() {
    let message = ClientFirst::build("a,b=c", "nonce");
    assert_eq!(message, "n,,n=a=2Cb=3Dc,r=nonce");
    let parsed = ClientFirst::parse(&message).expect("parses");
    assert_eq!(parsed.username, "a,b=c");
    assert!(ClientFirst::parse("p=tls-unique,,n=user,r=abc").is_err());
    assert!(ClientFirst::parse("n,,n=a=2,r=abc").is_err());
    assert!(ClientFirst::parse("n,,r=abc").is_err());
}
