//! What the certificate tests share: running the tools, a temporary directory, reading the
//! certificates and keys they wrote, and the `openssl` command-line tool.

use amqtt_tests::amqtt_binary;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// The tools under test.
pub(crate) const TOOLS: [&str; 3] = ["ca_creds", "server_creds", "device_creds"];

/// Runs `tool` with `args` in `cwd` to completion.
pub(crate) fn run_in(cwd: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new(amqtt_binary(tool))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("run {tool}: {error}"))
}

/// Runs `tool` and asserts that it succeeded.
pub(crate) fn run_ok(cwd: &Path, tool: &str, args: &[&str]) {
    let output = run_in(cwd, tool, args);
    assert!(
        output.status.success(),
        "{tool} {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `tool`, asserts that it exited 1, and returns its standard error.
pub(crate) fn run_fails(cwd: &Path, tool: &str, args: &[&str]) -> String {
    let output = run_in(cwd, tool, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{tool} {args:?} should exit 1; stdout: {} stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A temporary directory that is removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "amqtt-creds-{}-{}-{name}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> String {
        self.0
            .join(name)
            .to_str()
            .expect("UTF-8 temp path")
            .to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first PEM block of `path`.
pub(crate) fn read_pem(path: &str) -> Pem {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("read {path}: {error}"));
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes)
        .unwrap_or_else(|error| panic!("{path} is not PEM: {error}"));
    pem
}

/// The DER certificate in the PEM file `path`.
pub(crate) fn cert_der(path: &str) -> Vec<u8> {
    let pem = read_pem(path);
    assert_eq!(pem.label, "CERTIFICATE", "{path}");
    pem.contents
}

/// Parses a DER certificate.
pub(crate) fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).expect("parse certificate");
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    cert
}

/// The values of one attribute of a name, e.g. `X509Name::iter_common_name`.
pub(crate) fn attr<'a, I>(values: I) -> Vec<String>
where
    I: Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
{
    values
        .map(|value| value.as_str().expect("string attribute").to_owned())
        .collect()
}

/// `C`, `O` and `CN` of a name.
pub(crate) fn c_o_cn(name: &X509Name<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        attr(name.iter_country()),
        attr(name.iter_organization()),
        attr(name.iter_common_name()),
    )
}

/// The subject alternative names: DNS names, URIs and IP addresses (as bytes).
pub(crate) fn sans(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>, Vec<Vec<u8>>) {
    let ext = cert
        .subject_alternative_name()
        .expect("well-formed SAN")
        .expect("a SAN extension");
    assert!(
        !ext.critical,
        "SAN is not critical (the subject is not empty)"
    );
    let (mut dns, mut uris, mut ips) = (Vec::new(), Vec::new(), Vec::new());
    for name in &ext.value.general_names {
        match name {
            GeneralName::DNSName(name) => dns.push((*name).to_owned()),
            GeneralName::URI(uri) => uris.push((*uri).to_owned()),
            GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    (dns, uris, ips)
}

/// The RSA key size of a certificate's public key, in bits.
pub(crate) fn rsa_bits(cert: &X509Certificate<'_>) -> usize {
    match cert.public_key().parsed().expect("parse public key") {
        PublicKey::RSA(rsa) => rsa.key_size(),
        other => panic!("expected an RSA key, got {other:?}"),
    }
}

/// Length of the validity period in whole days.
pub(crate) fn validity_days(cert: &X509Certificate<'_>) -> i64 {
    let validity = cert.validity();
    (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400
}

/// The subject key identifier.
pub(crate) fn ski(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                Some(id.0.to_vec())
            }
            _ => None,
        })
        .expect("a subject key identifier")
}

/// The key identifier of the authority key identifier extension.
pub(crate) fn aki(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
        .expect("an authority key identifier")
}

/// Asserts that the PEM key file `key_path` is an unencrypted PKCS#8 RSA key, readable by its
/// owner only (on unix), whose public key is the one in `cert`.
pub(crate) fn assert_key_of(key_path: &str, cert: &X509Certificate<'_>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_path)
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key_path} mode {mode:o}");
    }
    let pem = read_pem(key_path);
    assert_eq!(pem.label, "PRIVATE KEY", "{key_path} is PKCS#8");
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pem.contents)
        .unwrap_or_else(|error| panic!("{key_path} is not an RSA PKCS#8 key: {error}"));
    use aws_lc_rs::signature::KeyPair as _;
    assert_eq!(
        key.public_key().as_ref(),
        cert.public_key().subject_public_key.data.as_ref(),
        "{key_path} is not the key of its certificate"
    );
}

/// The flags that make a CA in `dir`.
pub(crate) fn ca_args(dir: &TempDir) -> Vec<String> {
    [
        "--country",
        "US",
        "--state",
        "New York",
        "--locality",
        "NYC",
        "--org-name",
        "aMQTT Test Org",
        "--cn",
        "aMQTT Test CA",
        "--output-dir",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([dir.path().to_str().expect("UTF-8 temp path").to_owned()])
    .collect()
}

/// Runs `ca_creds`, `server_creds` and `device_creds` into `dir`.
pub(crate) fn make_all(dir: &TempDir, server_cn: &str, device_id: &str, uri: &str) {
    let ca_args = ca_args(dir);
    let ca_args: Vec<&str> = ca_args.iter().map(String::as_str).collect();
    run_ok(dir.path(), "ca_creds", &ca_args);
    let (ca_key, ca_crt, out) = (dir.join("ca.key"), dir.join("ca.crt"), dir.join(""));
    run_ok(
        dir.path(),
        "server_creds",
        &[
            "--country",
            "US",
            "--org-name",
            "aMQTT Test Org",
            "--cn",
            server_cn,
            "--ca-key",
            &ca_key,
            "--ca-crt",
            &ca_crt,
            "--output-dir",
            &out,
        ],
    );
    run_ok(
        dir.path(),
        "device_creds",
        &[
            "--country",
            "US",
            "--org-name",
            "aMQTT Test Org",
            "--device-id",
            device_id,
            "--uri",
            uri,
            "--ca-key",
            &ca_key,
            "--ca-crt",
            &ca_crt,
            "--output-dir",
            &out,
        ],
    );
}

/// Whether the `openssl` command-line tool runs here; prints a skip message when it does not.
pub(crate) fn openssl_installed(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|output| output.status.success());
    if !ok {
        eprintln!("skipped: {test}: the openssl command-line tool is not installed");
    }
    ok
}

/// Runs `openssl` with `args` in `cwd` and asserts that it succeeded.
pub(crate) fn openssl(cwd: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
