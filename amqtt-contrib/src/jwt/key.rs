//! The token verifier: the configured algorithm, its key, and PyJWT's checks.

use std::collections::HashSet;
use std::path::Path;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Map, Value};

/// The algorithms, as `algorithm` names them, for messages.
const SUPPORTED: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// Where the key comes from: the configuration keys of a plugin.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeySources<'a> {
    /// `algorithm` (default HS256).
    pub(crate) algorithm: Option<&'a str>,
    /// `secret_key`: the HMAC secret, or (aMQTT's only key) a PEM public key.
    pub(crate) secret_key: Option<&'a str>,
    /// `public_key`: PEM text (ours).
    pub(crate) public_key: Option<&'a str>,
    /// `public_key_file`: a PEM file (ours).
    pub(crate) public_key_file: Option<&'a Path>,
}

/// Verifies tokens signed with one algorithm and key.
pub(crate) struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The verifier the keys configure; the error names the key that is wrong.
    pub(crate) fn new(sources: KeySources<'_>) -> Result<Verifier, String> {
        let name = sources.algorithm.unwrap_or("HS256");
        let algorithm: Algorithm = match name.parse() {
            Ok(algorithm) => algorithm,
            Err(_) if matches!(name, "ES256K" | "ES512" | "ES521") => {
                return Err(format!(
                    "`algorithm`: {name} is not supported by this broker; supported: {SUPPORTED}"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "`algorithm`: expected one of {SUPPORTED}, got `{name}`"
                ));
            }
        };
        let key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => hmac_key(name, sources)?,
            _ => public_key(algorithm, name, sources)?,
        };
        // PyJWT's defaults: `exp` and `nbf` checked when present, none required, no leeway; a
        // token with an `aud` is refused, as no audience is configured.
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims = HashSet::new();
        validation.leeway = 0;
        validation.validate_nbf = true;
        Ok(Verifier { key, validation })
    }

    /// The claims of `token` if its algorithm, signature and times are right.
    pub(crate) fn claims(
        &self,
        token: &[u8],
    ) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
        decode::<Map<String, Value>>(token, &self.key, &self.validation).map(|data| data.claims)
    }
}

/// The HMAC secret: `secret_key`, and no public key.
fn hmac_key(name: &str, sources: KeySources<'_>) -> Result<DecodingKey, String> {
    if sources.public_key.is_some() || sources.public_key_file.is_some() {
        let key = if sources.public_key.is_some() {
            "public_key"
        } else {
            "public_key_file"
        };
        return Err(format!(
            "`{key}`: {name} verifies with the shared `secret_key`; public keys are for RS*, PS*, \
             ES* and EdDSA"
        ));
    }
    let secret = sources.secret_key.unwrap_or_default();
    DecodingKey::from_secret(secret.as_bytes())
        .map_err(|_| format!("`secret_key`: required for {name}, and not empty"))
}

/// The PEM public key from the one key that holds it, checked against the algorithm.
fn public_key(
    algorithm: Algorithm,
    name: &str,
    sources: KeySources<'_>,
) -> Result<DecodingKey, String> {
    let given = [
        sources.public_key_file.map(|_| "public_key_file"),
        sources.public_key.map(|_| "public_key"),
        sources.secret_key.map(|_| "secret_key"),
    ];
    let given: Vec<&str> = given.into_iter().flatten().collect();
    let (key_name, pem) = match given.as_slice() {
        [] => {
            return Err(format!(
                "`public_key_file`: {name} verifies with a public key: give a PEM file in \
                 `public_key_file`, or the PEM text in `public_key` (or `secret_key`)"
            ));
        }
        ["public_key_file"] => {
            let path = sources.public_key_file.unwrap_or(Path::new(""));
            let pem = std::fs::read(path)
                .map_err(|e| format!("`public_key_file`: cannot read {}: {e}", path.display()))?;
            ("public_key_file", pem)
        }
        ["public_key"] => (
            "public_key",
            sources.public_key.unwrap_or_default().as_bytes().to_vec(),
        ),
        ["secret_key"] => (
            "secret_key",
            sources.secret_key.unwrap_or_default().as_bytes().to_vec(),
        ),
        several => {
            return Err(format!(
                "`{}`: give the public key once; set only one of them",
                several.join("`, `")
            ));
        }
    };
    let shown = match (key_name, sources.public_key_file) {
        ("public_key_file", Some(path)) => path.display().to_string(),
        _ => "the text".to_owned(),
    };
    let (family, parsed) = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => ("EC", DecodingKey::from_ec_pem(&pem)),
        Algorithm::EdDSA => ("Ed25519", DecodingKey::from_ed_pem(&pem)),
        _ => ("RSA", DecodingKey::from_rsa_pem(&pem)),
    };
    let key = parsed.map_err(|e| {
        format!("`{key_name}`: {shown} is not a PEM {family} public key, as {name} needs: {e}")
    })?;
    // The PEM parses: now the key itself, as the verification will read it (the curve of an EC
    // key, the size of an RSA key).
    let bytes = key
        .try_get_as_bytes()
        .map_err(|e| format!("`{key_name}`: {e}"))?;
    ParsedPublicKey::new(verification(algorithm), bytes).map_err(|e| {
        format!("`{key_name}`: {shown} is not a public key {name} can verify with: {e}")
    })?;
    Ok(key)
}

/// The aws-lc-rs algorithm jsonwebtoken verifies `algorithm` with.
fn verification(algorithm: Algorithm) -> &'static dyn VerificationAlgorithm {
    match algorithm {
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(sources: KeySources<'_>) -> String {
        Verifier::new(sources).expect_err("refused")
    }

    #[test]
    fn algorithms_and_keys_are_checked() {
        let hs = KeySources {
            secret_key: Some("s3cret"),
            ..KeySources::default()
        };
        assert!(Verifier::new(hs).is_ok());
        assert!(error(KeySources::default()).starts_with("`secret_key`: required for HS256"));
        let bad = error(KeySources {
            algorithm: Some("HS999"),
            ..hs
        });
        assert!(bad.starts_with("`algorithm`: expected one of"), "{bad}");
        assert!(
            error(KeySources {
                algorithm: Some("ES256K"),
                ..hs
            })
            .contains("not supported")
        );
        let no_key = error(KeySources {
            algorithm: Some("RS256"),
            ..KeySources::default()
        });
        assert!(no_key.starts_with("`public_key_file`:"), "{no_key}");
        let not_pem = error(KeySources {
            algorithm: Some("ES256"),
            ..hs
        });
        assert!(
            not_pem.starts_with("`secret_key`: the text is not a PEM EC public key"),
            "{not_pem}"
        );
        let twice = error(KeySources {
            algorithm: Some("ES256"),
            public_key: Some("x"),
            ..hs
        });
        assert!(
            twice.starts_with("`public_key`, `secret_key`: give the public key once"),
            "{twice}"
        );
        let public_for_hmac = error(KeySources {
            public_key: Some("x"),
            ..hs
        });
        assert!(
            public_for_hmac.starts_with("`public_key`: HS256 verifies"),
            "{public_for_hmac}"
        );
    }
}
