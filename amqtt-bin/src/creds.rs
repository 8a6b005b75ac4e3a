//! Certificate generation shared by the `ca_creds`, `server_creds` and `device_creds` tools.
//!
//! The three tools follow aMQTT's scripts of the same names:
//!
//! - a root CA: an RSA-4096 key and a self-signed certificate valid for 3650 days, with
//!   `basicConstraints` `CA:TRUE` and key usages `keyCertSign` and `cRLSign` (both critical);
//! - a server (broker) certificate: an RSA-2048 key, valid for 365 days, signed by the CA, with
//!   the common name and `127.0.0.1` as subject alternative names and the `serverAuth` extended
//!   key usage;
//! - a device (client) certificate: an RSA-2048 key, valid for 365 days, signed by the CA, with
//!   the SAN URI `spiffe://<uri>/device/<device id>` that aMQTT's certificate authentication
//!   plugin reads, the SAN DNS name `<device id>.local` and the `clientAuth` extended key usage.
//!
//! Certificates are signed with SHA-256 and carry SHA-1 subject key identifiers (RFC 5280
//! method 1, as OpenSSL and aMQTT compute them, so either tool set can sign with the other's
//! CA). Serial numbers are rcgen's: the first 20 bytes of the SHA-256 digest of the freshly
//! generated public key, as unpredictable as the random serials aMQTT draws. Keys are written
//! as unencrypted PKCS#8 PEM (`PRIVATE KEY`), readable by their owner only on unix. An existing
//! CA key may be PKCS#8, PKCS#1 (`RSA PRIVATE KEY`, as aMQTT writes it) or SEC1
//! (`EC PRIVATE KEY`).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
    PublicKeyData, RsaKeySize, SanType,
};
use time::{Duration, OffsetDateTime};

/// How long a CA certificate is valid, in days (aMQTT: 10 years).
pub const CA_VALIDITY_DAYS: i64 = 3650;

/// How long a server or device certificate is valid, in days (aMQTT: 1 year).
pub const LEAF_VALIDITY_DAYS: i64 = 365;

/// The IP address that aMQTT adds to every server certificate, next to the common name.
pub const SERVER_LOOPBACK_SAN: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Why credentials could not be made; the message names the file or value at fault.
#[derive(Debug)]
pub enum CredsError {
    /// A command-line value cannot go into a certificate (or a file name).
    InvalidValue {
        /// The option, e.g. `--country`.
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A file could not be read.
    Read {
        /// What the file should hold, e.g. "CA key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file was read but does not hold what it should.
    Parse {
        /// What the file should hold, e.g. "CA certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA key does not belong to the CA certificate.
    KeyMismatch {
        /// The CA key file.
        key: PathBuf,
        /// The CA certificate file.
        cert: PathBuf,
    },
    /// Key generation or certificate signing failed.
    Generate(rcgen::Error),
    /// An output file or directory could not be written.
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl fmt::Display for CredsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredsError::InvalidValue { option, reason } => write!(f, "{option}: {reason}"),
            CredsError::Read { what, path, source } => {
                write!(f, "cannot read {what} file {}: {source}", path.display())
            }
            CredsError::Parse { what, path, reason } => {
                write!(f, "{} is not a usable {what}: {reason}", path.display())
            }
            CredsError::KeyMismatch { key, cert } => write!(
                f,
                "the CA key {} does not belong to the CA certificate {}",
                key.display(),
                cert.display()
            ),
            CredsError::Generate(error) => write!(f, "cannot make the certificate: {error}"),
            CredsError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for CredsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CredsError::Read { source, .. } | CredsError::Write { source, .. } => Some(source),
            CredsError::Generate(error) => Some(error),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for CredsError {
    fn from(error: rcgen::Error) -> Self {
        CredsError::Generate(error)
    }
}

/// A private key and the certificate made for it.
pub struct Credentials {
    /// The private key.
    pub key: KeyPair,
    /// The certificate.
    pub cert: Certificate,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // KeyPair's own Debug elides the secret.
        f.debug_struct("Credentials")
            .field("key", &self.key)
            .field("cert", &self.cert.pem())
            .finish()
    }
}

/// The subject of a root CA certificate (`ca_creds`' options).
#[derive(Debug, Clone)]
pub struct CaSubject {
    /// `countryName`: a two-letter country code.
    pub country: String,
    /// `stateOrProvinceName`.
    pub state: String,
    /// `localityName`.
    pub locality: String,
    /// `organizationName`.
    pub org_name: String,
    /// `commonName`.
    pub cn: String,
}

/// A loaded CA: its subject and key identifier, and the key that signs with it.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Issuer's own Debug elides the key.
        f.debug_struct("CertificateAuthority")
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Makes an RSA-4096 key and a self-signed root CA certificate for it.
pub fn generate_ca(subject: &CaSubject) -> Result<Credentials, CredsError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, country_value(&subject.country)?);
    name.push(
        DnType::StateOrProvinceName,
        non_empty("--state", &subject.state)?,
    );
    name.push(
        DnType::LocalityName,
        non_empty("--locality", &subject.locality)?,
    );
    name.push(
        DnType::OrganizationName,
        non_empty("--org-name", &subject.org_name)?,
    );
    name.push(DnType::CommonName, non_empty("--cn", &subject.cn)?);

    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, CA_VALIDITY_DAYS);

    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096)?;
    params.key_identifier_method = sha1_key_id(&key);
    let cert = params.self_signed(&key)?;
    Ok(Credentials { key, cert })
}

/// Loads a CA from its PEM key and certificate files, checking that the certificate is a CA
/// certificate and that the key is its key.
pub fn load_ca(key_path: &Path, cert_path: &Path) -> Result<CertificateAuthority, CredsError> {
    let key_pem = read_text(key_path, "CA key")?;
    let key = KeyPair::from_pem(&key_pem).map_err(|error| CredsError::Parse {
        what: "CA key",
        path: key_path.to_owned(),
        reason: format!(
            "{error} (expected an unencrypted RSA or ECDSA private key in PEM: PRIVATE KEY, \
             RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
    })?;

    let cert_pem = read_text(cert_path, "CA certificate")?;
    let not_a_cert = |reason: String| CredsError::Parse {
        what: "CA certificate",
        path: cert_path.to_owned(),
        reason,
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|error| not_a_cert(format!("no PEM certificate found ({error})")))?;
    if pem.label != "CERTIFICATE" {
        return Err(not_a_cert(format!(
            "its first PEM block is {}, not CERTIFICATE",
            pem.label
        )));
    }
    let cert = pem
        .parse_x509()
        .map_err(|error| not_a_cert(format!("cannot parse the certificate ({error})")))?;
    if !cert.is_ca() {
        return Err(not_a_cert(
            "it is not a CA certificate (basicConstraints CA:TRUE is missing)".to_owned(),
        ));
    }
    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(CredsError::KeyMismatch {
            key: key_path.to_owned(),
            cert: cert_path.to_owned(),
        });
    }

    let issuer = Issuer::from_ca_cert_der(&pem.contents.clone().into(), key)
        .map_err(|error| not_a_cert(format!("cannot use its subject as issuer ({error})")))?;
    Ok(CertificateAuthority { issuer })
}

/// Makes an RSA-2048 key and a server certificate signed by `ca`, whose subject alternative
/// names are `cn` (a DNS name, or an IP address if it is one) and 127.0.0.1.
pub fn generate_server(
    country: &str,
    org_name: &str,
    cn: &str,
    ca: &CertificateAuthority,
) -> Result<Credentials, CredsError> {
    let cn = non_empty("--cn", cn)?;
    let cn_san = match cn.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(ascii_value("--cn", cn)?),
    };
    let mut sans = vec![cn_san];
    if cn.parse::<IpAddr>() != Ok(SERVER_LOOPBACK_SAN) {
        sans.push(SanType::IpAddress(SERVER_LOOPBACK_SAN));
    }
    signed_leaf(
        leaf_name(country, org_name, cn)?,
        sans,
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        ExtendedKeyUsagePurpose::ServerAuth,
        ca,
    )
}

/// The SAN URI of a device certificate, the identity that aMQTT's certificate authentication
/// plugin checks against the client id.
pub fn device_uri(uri: &str, device_id: &str) -> String {
    format!("spiffe://{uri}/device/{device_id}")
}

/// Makes an RSA-2048 key and a device certificate signed by `ca`, with common name
/// `device_id`, SAN URI [`device_uri`] and SAN DNS name `<device_id>.local`.
///
/// The device id also names the output files, so it may not be empty, `.` or `..`, nor hold a
/// `/` or `\` (nor could a client id with `/` match the SPIFFE path aMQTT expects).
pub fn generate_device(
    country: &str,
    org_name: &str,
    device_id: &str,
    uri: &str,
    ca: &CertificateAuthority,
) -> Result<Credentials, CredsError> {
    check_device_id(device_id)?;
    let uri = non_empty("--uri", uri)?;
    if uri.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(CredsError::InvalidValue {
            option: "--uri",
            reason: format!("{uri:?} is not a domain name (it holds a space or a '/')"),
        });
    }
    let sans = vec![
        SanType::URI(ascii_value("--uri", &device_uri(uri, device_id))?),
        SanType::DnsName(ascii_value("--device-id", &format!("{device_id}.local"))?),
    ];
    signed_leaf(
        leaf_name(country, org_name, device_id)?,
        sans,
        vec![KeyUsagePurpose::DigitalSignature],
        ExtendedKeyUsagePurpose::ClientAuth,
        ca,
    )
}

/// Writes `<prefix>.key` (mode 0600 on unix) and `<prefix>.crt` into `dir`, creating `dir` if
/// needed and replacing files of those names; returns the key and certificate paths.
pub fn write_key_and_crt(
    creds: &Credentials,
    prefix: &str,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), CredsError> {
    fs::create_dir_all(dir).map_err(|source| CredsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let key_path = dir.join(format!("{prefix}.key"));
    let crt_path = dir.join(format!("{prefix}.crt"));
    write_private(&key_path, creds.key.serialize_pem().as_bytes()).map_err(|source| {
        CredsError::Write {
            path: key_path.clone(),
            source,
        }
    })?;
    fs::write(&crt_path, creds.cert.pem()).map_err(|source| CredsError::Write {
        path: crt_path.clone(),
        source,
    })?;
    Ok((key_path, crt_path))
}

/// Signs a fresh RSA-2048 key's end-entity certificate with `ca`.
fn signed_leaf(
    name: DistinguishedName,
    sans: Vec<SanType>,
    key_usages: Vec<KeyUsagePurpose>,
    eku: ExtendedKeyUsagePurpose,
    ca: &CertificateAuthority,
) -> Result<Credentials, CredsError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = key_usages;
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, LEAF_VALIDITY_DAYS);

    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    params.key_identifier_method = sha1_key_id(&key);
    let cert = params.signed_by(&key, &ca.issuer)?;
    Ok(Credentials { key, cert })
}

/// The subject `C=country, O=org_name, CN=cn` of a server or device certificate.
fn leaf_name(country: &str, org_name: &str, cn: &str) -> Result<DistinguishedName, CredsError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, country_value(country)?);
    name.push(DnType::OrganizationName, non_empty("--org-name", org_name)?);
    name.push(DnType::CommonName, cn);
    Ok(name)
}

/// The subject key identifier of RFC 5280 section 4.2.1.2 method (1): the SHA-1 digest of the
/// public key's bits. OpenSSL and Python's cryptography use it too; aMQTT's `server_creds` and
/// `device_creds` derive the authority key identifier that way, so a CA made here can sign with
/// them as well.
fn sha1_key_id(key: &KeyPair) -> KeyIdMethod {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        key.der_bytes(),
    );
    KeyIdMethod::PreSpecified(digest.as_ref().to_vec())
}

/// A validity period from now for `days` days.
fn set_validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + Duration::days(days);
}

/// `countryName`: two ASCII letters, encoded as a PrintableString like aMQTT (Python
/// cryptography) does.
fn country_value(country: &str) -> Result<DnValue, CredsError> {
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CredsError::InvalidValue {
            option: "--country",
            reason: format!("{country:?} is not a two-letter country code"),
        });
    }
    let printable = country
        .try_into()
        .map_err(|error: rcgen::Error| CredsError::InvalidValue {
            option: "--country",
            reason: error.to_string(),
        })?;
    Ok(DnValue::PrintableString(printable))
}

/// `value`, if it is not empty.
fn non_empty<'a>(option: &'static str, value: &'a str) -> Result<&'a str, CredsError> {
    if value.is_empty() {
        Err(CredsError::InvalidValue {
            option,
            reason: "may not be empty".to_owned(),
        })
    } else {
        Ok(value)
    }
}

/// `value` as an IA5 (ASCII) string, the only kind a DNS or URI SAN may hold.
fn ascii_value(option: &'static str, value: &str) -> Result<rcgen::string::Ia5String, CredsError> {
    value
        .try_into()
        .map_err(|_: rcgen::Error| CredsError::InvalidValue {
            option,
            reason: format!("{value:?} may hold ASCII characters only"),
        })
}

/// Checks that a device id can name a file and a SPIFFE path segment.
fn check_device_id(device_id: &str) -> Result<(), CredsError> {
    let reason = if device_id.is_empty() {
        "may not be empty"
    } else if device_id == "." || device_id == ".." {
        "may not be '.' or '..'"
    } else if device_id.contains(['/', '\\', '\0']) {
        "may not hold '/', '\\' or NUL"
    } else {
        return Ok(());
    };
    Err(CredsError::InvalidValue {
        option: "--device-id",
        reason: format!("{device_id:?} {reason}"),
    })
}

/// Reads a text (PEM) file.
fn read_text(path: &Path, what: &'static str) -> Result<String, CredsError> {
    let bytes = fs::read(path).map_err(|source| CredsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| CredsError::Parse {
        what,
        path: path.to_owned(),
        reason: "it is not a text (PEM) file".to_owned(),
    })
}

/// Writes `contents` to `path`, readable and writable by the owner only on unix, also when
/// `path` already exists with wider permissions (they are narrowed before anything is written).
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}
