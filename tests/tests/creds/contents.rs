//! The contents of the generated certificates: names, extensions, keys and chains, checked with
//! x509-parser, with webpki as rustls would, and with the `openssl` tool (also signing with a CA
//! that `openssl` made).

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::support::{
    TempDir, aki, assert_key_of, attr, c_o_cn, ca_args, cert_der, make_all, openssl,
    openssl_installed, parse, read_pem, rsa_bits, run_ok, sans, ski, validity_days,
};

#[test]
fn ca_server_and_device_certificates_have_amqtts_contents_and_chain_to_the_ca() {
    let dir = TempDir::new("chain");
    make_all(&dir, "broker.test", "sensor-7", "test.amqtt.io");
    for name in [
        "ca.key",
        "ca.crt",
        "server.key",
        "server.crt",
        "sensor-7.key",
        "sensor-7.crt",
    ] {
        assert!(dir.path().join(name).is_file(), "{name} not written");
    }

    // The CA: self-signed RSA-4096, 10 years, CA:TRUE, keyCertSign + cRLSign.
    let ca_der = cert_der(&dir.join("ca.crt"));
    let ca = parse(&ca_der);
    assert_eq!(ca.subject().as_raw(), ca.issuer().as_raw(), "self-signed");
    ca.verify_signature(None)
        .expect("CA self-signature verifies");
    assert_eq!(attr(ca.subject().iter_country()), ["US"]);
    assert_eq!(attr(ca.subject().iter_state_or_province()), ["New York"]);
    assert_eq!(attr(ca.subject().iter_locality()), ["NYC"]);
    assert_eq!(attr(ca.subject().iter_organization()), ["aMQTT Test Org"]);
    assert_eq!(attr(ca.subject().iter_common_name()), ["aMQTT Test CA"]);
    let constraints = ca
        .basic_constraints()
        .expect("well-formed basicConstraints")
        .expect("basicConstraints");
    assert!(
        constraints.critical && constraints.value.ca,
        "CA:TRUE, critical"
    );
    assert_eq!(constraints.value.path_len_constraint, None);
    let usage = ca
        .key_usage()
        .expect("well-formed keyUsage")
        .expect("keyUsage");
    assert!(usage.critical);
    assert!(usage.value.key_cert_sign() && usage.value.crl_sign());
    assert!(!usage.value.digital_signature());
    assert_eq!(rsa_bits(&ca), 4096);
    assert_eq!(validity_days(&ca), 3650);
    assert_key_of(&dir.join("ca.key"), &ca);

    // The server: signed by the CA, SAN DNS=cn and IP=127.0.0.1, serverAuth, 1 year.
    let server_der = cert_der(&dir.join("server.crt"));
    let server = parse(&server_der);
    assert_eq!(server.issuer().as_raw(), ca.subject().as_raw());
    server
        .verify_signature(Some(ca.public_key()))
        .expect("server certificate signed by the CA");
    assert_eq!(
        aki(&server),
        ski(&ca),
        "authority key id is the CA's key id"
    );
    assert_eq!(
        c_o_cn(server.subject()),
        (
            vec!["US".to_owned()],
            vec!["aMQTT Test Org".to_owned()],
            vec!["broker.test".to_owned()]
        )
    );
    let (dns, uris, ips) = sans(&server);
    assert_eq!(dns, ["broker.test"]);
    assert!(uris.is_empty());
    assert_eq!(ips, [vec![127, 0, 0, 1]]);
    assert!(!server.is_ca(), "server certificate is not a CA");
    let eku = server
        .extended_key_usage()
        .expect("well-formed EKU")
        .expect("EKU");
    assert!(eku.value.server_auth && !eku.value.client_auth);
    assert_eq!(rsa_bits(&server), 2048);
    assert_eq!(validity_days(&server), 365);
    assert_key_of(&dir.join("server.key"), &server);

    // The device: signed by the CA, SAN URI spiffe://<uri>/device/<id> and DNS <id>.local.
    let device_der = cert_der(&dir.join("sensor-7.crt"));
    let device = parse(&device_der);
    assert_eq!(device.issuer().as_raw(), ca.subject().as_raw());
    device
        .verify_signature(Some(ca.public_key()))
        .expect("device certificate signed by the CA");
    assert_eq!(aki(&device), ski(&ca));
    assert_eq!(
        c_o_cn(device.subject()),
        (
            vec!["US".to_owned()],
            vec!["aMQTT Test Org".to_owned()],
            vec!["sensor-7".to_owned()]
        )
    );
    let (dns, uris, ips) = sans(&device);
    assert_eq!(uris, ["spiffe://test.amqtt.io/device/sensor-7"]);
    assert_eq!(dns, ["sensor-7.local"]);
    assert!(ips.is_empty());
    assert!(!device.is_ca());
    let eku = device
        .extended_key_usage()
        .expect("well-formed EKU")
        .expect("EKU");
    assert!(eku.value.client_auth && !eku.value.server_auth);
    assert_eq!(rsa_bits(&device), 2048);
    assert_eq!(validity_days(&device), 365);
    assert_key_of(&dir.join("sensor-7.key"), &device);
}

#[test]
fn rustls_webpki_accepts_the_server_for_its_names_and_the_device_as_a_client() {
    let dir = TempDir::new("webpki");
    make_all(&dir, "broker.test", "dev1", "test.amqtt.io");
    let ca_der = CertificateDer::from(cert_der(&dir.join("ca.crt")));
    let anchors = [webpki::anchor_from_trusted_cert(&ca_der).expect("CA as trust anchor")];
    let now = UnixTime::now();
    let algs = webpki::ALL_VERIFICATION_ALGS;

    let server_der = CertificateDer::from(cert_der(&dir.join("server.crt")));
    let server = webpki::EndEntityCert::try_from(&server_der).expect("server end entity");
    server
        .verify_for_usage(
            algs,
            &anchors,
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .expect("server certificate chains to the CA for serverAuth");
    for name in ["broker.test", "127.0.0.1"] {
        let name = ServerName::try_from(name).expect("server name");
        server
            .verify_is_valid_for_subject_name(&name)
            .unwrap_or_else(|error| panic!("server certificate not valid for {name:?}: {error}"));
    }
    let other = ServerName::try_from("other.test").expect("server name");
    assert!(
        server.verify_is_valid_for_subject_name(&other).is_err(),
        "server certificate must not be valid for other.test"
    );

    let device_der = CertificateDer::from(cert_der(&dir.join("dev1.crt")));
    let device = webpki::EndEntityCert::try_from(&device_der).expect("device end entity");
    device
        .verify_for_usage(
            algs,
            &anchors,
            &[],
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .expect("device certificate chains to the CA for clientAuth");
    assert!(
        device
            .verify_for_usage(
                algs,
                &anchors,
                &[],
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None
            )
            .is_err(),
        "a device certificate must not serve as a server certificate"
    );

    // A CA made by another run is not trusted for these certificates.
    let other_dir = TempDir::new("webpki-other");
    let other_args = ca_args(&other_dir);
    let other_args: Vec<&str> = other_args.iter().map(String::as_str).collect();
    run_ok(other_dir.path(), "ca_creds", &other_args);
    let other_ca = CertificateDer::from(cert_der(&other_dir.join("ca.crt")));
    let other_anchors = [webpki::anchor_from_trusted_cert(&other_ca).expect("trust anchor")];
    assert!(
        server
            .verify_for_usage(
                algs,
                &other_anchors,
                &[],
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None
            )
            .is_err(),
        "the server certificate must not chain to an unrelated CA with the same name"
    );
}

#[test]
fn openssl_verifies_the_chain_names_and_purposes() {
    if !openssl_installed("openssl_verifies_the_chain_names_and_purposes") {
        return;
    }
    let dir = TempDir::new("openssl");
    make_all(&dir, "localhost", "dev1", "test.amqtt.io");
    let cwd = dir.path();
    openssl(
        cwd,
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            "server.crt",
        ],
    );
    openssl(
        cwd,
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            "server.crt",
        ],
    );
    openssl(
        cwd,
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslclient",
            "dev1.crt",
        ],
    );
    let text = openssl(cwd, &["x509", "-in", "dev1.crt", "-noout", "-text"]);
    assert!(
        text.contains("URI:spiffe://test.amqtt.io/device/dev1"),
        "no spiffe SAN in:\n{text}"
    );
    let text = openssl(cwd, &["x509", "-in", "ca.crt", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE"), "CA is not a CA:\n{text}");
    // Each key belongs to its certificate.
    for (key, crt) in [
        ("ca.key", "ca.crt"),
        ("server.key", "server.crt"),
        ("dev1.key", "dev1.crt"),
    ] {
        let from_key = openssl(cwd, &["pkey", "-in", key, "-pubout"]);
        let from_crt = openssl(cwd, &["x509", "-in", crt, "-noout", "-pubkey"]);
        assert_eq!(from_key, from_crt, "{key} is not the key of {crt}");
    }
}

#[test]
fn signs_with_an_existing_pkcs1_rsa_or_sec1_ec_ca_made_by_openssl() {
    if !openssl_installed("signs_with_an_existing_pkcs1_rsa_or_sec1_ec_ca_made_by_openssl") {
        return;
    }
    // The traditional key formats: PKCS#1 for RSA (as aMQTT writes its ca.key), SEC1 for EC
    // (`openssl ec` writes it by default).
    for (kind, newkey, convert, label) in [
        (
            "rsa",
            "rsa:2048",
            &["rsa", "-traditional"][..],
            "RSA PRIVATE KEY",
        ),
        ("ec", "ec", &["ec"][..], "EC PRIVATE KEY"),
    ] {
        let dir = TempDir::new(&format!("openssl-ca-{kind}"));
        let cwd = dir.path();
        let mut req = vec![
            "req",
            "-x509",
            "-newkey",
            newkey,
            "-nodes",
            "-keyout",
            "pkcs8.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-subj",
            "/C=DE/O=Other Org/CN=OpenSSL CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        if kind == "ec" {
            req.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        openssl(cwd, &req);
        let mut to_traditional = convert.to_vec();
        to_traditional.extend(["-in", "pkcs8.key", "-out", "ca.key"]);
        openssl(cwd, &to_traditional);
        assert_eq!(read_pem(&dir.join("ca.key")).label, label);

        // The default CA files are ca.key and ca.crt in the current directory, and the output
        // directory is the current directory.
        run_ok(
            cwd,
            "server_creds",
            &[
                "--country",
                "DE",
                "--org-name",
                "Other Org",
                "--cn",
                "localhost",
            ],
        );
        run_ok(
            cwd,
            "device_creds",
            &[
                "--country",
                "DE",
                "--org-name",
                "Other Org",
                "--device-id",
                "d1",
                "--uri",
                "example.org",
            ],
        );
        openssl(
            cwd,
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-purpose",
                "sslserver",
                "-verify_hostname",
                "localhost",
                "server.crt",
            ],
        );
        openssl(
            cwd,
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-purpose",
                "sslclient",
                "d1.crt",
            ],
        );
        let ca_der = cert_der(&dir.join("ca.crt"));
        let ca = parse(&ca_der);
        for crt in ["server.crt", "d1.crt"] {
            let der = cert_der(&dir.join(crt));
            let cert = parse(&der);
            cert.verify_signature(Some(ca.public_key()))
                .unwrap_or_else(|error| panic!("{kind} CA: {crt}: {error}"));
            assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
            assert_eq!(aki(&cert), ski(&ca), "{kind} CA: {crt}");
        }
    }
}
