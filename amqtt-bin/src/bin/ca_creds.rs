//! `ca_creds`: makes the key and self-signed certificate of a root CA, like aMQTT's script of
//! the same name.
//!
//! ```text
//! ca_creds --country US --state NY --locality NYC --org-name "My Org" --cn "My CA" [--output-dir DIR]
//! ```
//!
//! Writes `ca.key` (RSA-4096, PKCS#8 PEM, mode 0600 on unix) and `ca.crt` (PEM, valid for
//! 3650 days, `CA:TRUE`, key usages `keyCertSign` and `cRLSign`) into DIR, the current directory
//! by default. `server_creds` and `device_creds` sign with them.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_bin::creds::{self, CaSubject, CredsError};
use clap::Parser;

/// Command-line options (aMQTT's).
#[derive(Debug, Parser)]
#[command(
    name = "ca_creds",
    version,
    about = "Generate a self-signed key and certificate to be used as the root CA \
             (RSA-4096 key, certificate valid for 10 years)"
)]
struct Args {
    /// x509 'country_name' attribute (two letters)
    #[arg(long)]
    country: String,
    /// x509 'state_or_province_name' attribute
    #[arg(long)]
    state: String,
    /// x509 'locality_name' attribute
    #[arg(long)]
    locality: String,
    /// x509 'organization_name' attribute
    #[arg(long)]
    org_name: String,
    /// x509 'common_name' attribute
    #[arg(long)]
    cn: String,
    /// output directory (created if missing)
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ca_creds: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Makes and writes the CA credentials.
fn run(args: Args) -> Result<(), CredsError> {
    let subject = CaSubject {
        country: args.country,
        state: args.state,
        locality: args.locality,
        org_name: args.org_name,
        cn: args.cn,
    };
    let ca = creds::generate_ca(&subject)?;
    let (key, crt) = creds::write_key_and_crt(&ca, "ca", &args.output_dir)?;
    println!("Created: {} and {}", crt.display(), key.display());
    Ok(())
}
