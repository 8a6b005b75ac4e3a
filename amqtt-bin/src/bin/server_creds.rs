//! `server_creds`: makes the broker's key and certificate, signed by a CA, like aMQTT's script
//! of the same name.
//!
//! ```text
//! server_creds --country US --org-name "My Org" --cn broker.example.com \
//!     [--ca-key ca.key] [--ca-crt ca.crt] [--output-dir DIR]
//! ```
//!
//! Writes `server.key` (RSA-2048, PKCS#8 PEM, mode 0600 on unix) and `server.crt` (PEM, valid
//! for 365 days, SANs: the common name and 127.0.0.1, extended key usage `serverAuth`) into DIR,
//! the current directory by default. The CA files default to `ca.key` and `ca.crt` in the
//! current directory, as `ca_creds` writes them.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_bin::creds::{self, CredsError};
use clap::Parser;

/// Command-line options (aMQTT's; `--ca-key-file` and `--ca-crt-file` are accepted as well).
#[derive(Debug, Parser)]
#[command(
    name = "server_creds",
    version,
    about = "Generate a key and certificate for the broker in PEM format, signed by the provided \
             CA credentials (RSA-2048 key, certificate valid for 1 year)"
)]
struct Args {
    /// x509 'country_name' attribute (two letters)
    #[arg(long)]
    country: String,
    /// x509 'organization_name' attribute
    #[arg(long)]
    org_name: String,
    /// x509 'common_name' attribute, also the certificate's DNS name (or IP address)
    #[arg(long)]
    cn: String,
    /// output directory (created if missing)
    #[arg(long, default_value = ".")]
    output_dir: PathBuf,
    /// root key filename used for signing
    #[arg(long, visible_alias = "ca-key-file", default_value = "ca.key")]
    ca_key: PathBuf,
    /// root cert filename used for signing
    #[arg(long, visible_alias = "ca-crt-file", default_value = "ca.crt")]
    ca_crt: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server_creds: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the CA, then makes and writes the server credentials.
fn run(args: &Args) -> Result<(), CredsError> {
    let ca = creds::load_ca(&args.ca_key, &args.ca_crt)?;
    let server = creds::generate_server(&args.country, &args.org_name, &args.cn, &ca)?;
    let (key, crt) = creds::write_key_and_crt(&server, "server", &args.output_dir)?;
    println!("Created: {} and {}", crt.display(), key.display());
    Ok(())
}
