//! `device_creds`: makes a device's (client's) key and certificate, signed by a CA, like
//! aMQTT's script of the same name.
//!
//! ```text
//! device_creds --country US --org-name "My Org" --device-id sensor-1 --uri test.amqtt.io \
//!     [--ca-key ca.key] [--ca-crt ca.crt] [--output-dir DIR]
//! ```
//!
//! Writes `<device-id>.key` (RSA-2048, PKCS#8 PEM, mode 0600 on unix) and `<device-id>.crt`
//! (PEM, valid for 365 days, common name the device id, SANs `spiffe://<uri>/device/<device-id>`
//! and `<device-id>.local`, extended key usage `clientAuth`) into DIR, the current directory by
//! default. aMQTT's certificate authentication plugin, configured with `uri_domain: <uri>`,
//! accepts the certificate from a client whose client id is the device id. The CA files default
//! to `ca.key` and `ca.crt` in the current directory, as `ca_creds` writes them.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_bin::creds::{self, CredsError};
use clap::Parser;

/// Command-line options (aMQTT's; `--ca-key-file` and `--ca-crt-file` are accepted as well).
#[derive(Debug, Parser)]
#[command(
    name = "device_creds",
    version,
    about = "Generate a key and certificate for a device in PEM format, signed by the provided \
             CA credentials (RSA-2048 key, certificate valid for 1 year)"
)]
struct Args {
    /// x509 'country_name' attribute (two letters)
    #[arg(long)]
    country: String,
    /// x509 'organization_name' attribute
    #[arg(long)]
    org_name: String,
    /// device id for the SAN (also the common name and the output file names)
    #[arg(long)]
    device_id: String,
    /// domain name for device SAN: spiffe://URI/device/DEVICE_ID
    #[arg(long)]
    uri: String,
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
            eprintln!("device_creds: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the CA, then makes and writes the device credentials.
fn run(args: &Args) -> Result<(), CredsError> {
    let ca = creds::load_ca(&args.ca_key, &args.ca_crt)?;
    let device = creds::generate_device(
        &args.country,
        &args.org_name,
        &args.device_id,
        &args.uri,
        &ca,
    )?;
    let (key, crt) = creds::write_key_and_crt(&device, &args.device_id, &args.output_dir)?;
    println!("Created: {} and {}", crt.display(), key.display());
    Ok(())
}
