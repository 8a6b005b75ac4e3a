//! The flags and failures: file-flag aliases, key file permissions, unusable CA files, values
//! that cannot go into a certificate and missing required flags.

use std::path::Path;

use crate::support::{
    TOOLS, TempDir, assert_key_of, ca_args, cert_der, make_all, parse, run_fails, run_in, run_ok,
};

#[test]
fn the_ca_file_flags_also_have_file_aliases() {
    let dir = TempDir::new("aliases");
    let ca_args = ca_args(&dir);
    let ca_args: Vec<&str> = ca_args.iter().map(String::as_str).collect();
    run_ok(dir.path(), "ca_creds", &ca_args);
    let (ca_key, ca_crt, out) = (dir.join("ca.key"), dir.join("ca.crt"), dir.join("out"));
    run_ok(
        dir.path(),
        "server_creds",
        &[
            "--country",
            "US",
            "--org-name",
            "O",
            "--cn",
            "localhost",
            "--ca-key-file",
            &ca_key,
            "--ca-crt-file",
            &ca_crt,
            "--output-dir",
            &out,
        ],
    );
    assert!(Path::new(&dir.join("out/server.crt")).is_file());
    assert!(Path::new(&dir.join("out/server.key")).is_file());
}

#[cfg(unix)]
#[test]
fn an_existing_key_file_is_made_private_before_it_is_rewritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perms");
    let key = dir.join("ca.key");
    std::fs::write(&key, "old").expect("write old key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let ca_args = ca_args(&dir);
    let ca_args: Vec<&str> = ca_args.iter().map(String::as_str).collect();
    run_ok(dir.path(), "ca_creds", &ca_args);
    let ca_der = cert_der(&dir.join("ca.crt"));
    assert_key_of(&key, &parse(&ca_der));
}

#[test]
fn unusable_ca_files_exit_1_naming_the_file_and_write_nothing() {
    let dir = TempDir::new("errors");
    make_all(&dir, "localhost", "dev1", "test.amqtt.io");
    let out = dir.join("out");
    let (ca_key, ca_crt) = (dir.join("ca.key"), dir.join("ca.crt"));
    let (server_key, server_crt) = (dir.join("server.key"), dir.join("server.crt"));
    let missing = dir.join("missing.key");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").expect("write garbage");

    let cases: [(&str, &str, &str, &str); 6] = [
        ("a missing key", &missing, &ca_crt, &missing),
        ("a missing certificate", &ca_key, &missing, &missing),
        ("a key file that is not a key", &garbage, &ca_crt, &garbage),
        (
            "a certificate file that is not a certificate",
            &ca_key,
            &garbage,
            &garbage,
        ),
        (
            "a key of another certificate",
            &server_key,
            &ca_crt,
            &server_key,
        ),
        (
            "a certificate that is not a CA",
            &server_key,
            &server_crt,
            &server_crt,
        ),
    ];
    for (what, key, crt, named) in cases {
        for tool in ["server_creds", "device_creds"] {
            let mut args = vec!["--country", "US", "--org-name", "O"];
            if tool == "server_creds" {
                args.extend(["--cn", "localhost"]);
            } else {
                args.extend(["--device-id", "dev2", "--uri", "test.amqtt.io"]);
            }
            args.extend(["--ca-key", key, "--ca-crt", crt, "--output-dir", &out]);
            let stderr = run_fails(dir.path(), tool, &args);
            assert!(
                stderr.contains(named),
                "{tool} with {what}: stderr does not name {named}: {stderr}"
            );
        }
    }
    assert!(!Path::new(&out).exists(), "nothing may be written on error");
}

#[test]
fn values_that_cannot_go_into_a_certificate_exit_1_naming_the_option() {
    let dir = TempDir::new("values");
    let ca_args = ca_args(&dir);
    let mut bad_country: Vec<&str> = ca_args.iter().map(String::as_str).collect();
    bad_country[1] = "USA";
    let stderr = run_fails(dir.path(), "ca_creds", &bad_country);
    assert!(stderr.contains("--country"), "{stderr}");
    assert!(!dir.path().join("ca.key").exists());

    let ca_args: Vec<&str> = ca_args.iter().map(String::as_str).collect();
    run_ok(dir.path(), "ca_creds", &ca_args);
    for device_id in ["../escape", "a/b", "..", ""] {
        let stderr = run_fails(
            dir.path(),
            "device_creds",
            &[
                "--country",
                "US",
                "--org-name",
                "O",
                "--device-id",
                device_id,
                "--uri",
                "test.amqtt.io",
            ],
        );
        assert!(stderr.contains("--device-id"), "{device_id:?}: {stderr}");
    }
    assert!(
        !dir.path()
            .parent()
            .is_some_and(|p| p.join("escape.key").exists())
    );
}

#[test]
fn missing_required_flags_are_usage_errors() {
    let dir = TempDir::new("usage");
    for tool in TOOLS {
        let output = run_in(dir.path(), tool, &[]);
        assert_eq!(output.status.code(), Some(2), "{tool} without flags");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--country"), "{tool}: {stderr}");
    }
}
