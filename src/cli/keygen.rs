//! `whistlebox keygen`: makes the inspectors' keys on the offline machine.

use std::fs;
use std::path::PathBuf;

use clap::Args;

use super::{io_err, read_passphrase, write_private, CliError};
use crate::crypto::{self, Argon2Params};
use crate::domain::keys::{OfficeLabel, SecretKeys};

/// Flags of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder to write inspectors.pub and inspectors.key into.
    #[arg(long)]
    pub out: PathBuf,
    /// File whose first line is the passphrase that encrypts inspectors.key.
    #[arg(long)]
    pub passphrase_file: PathBuf,
    /// The office these keys belong to: a short id (letters, digits, dashes), for example
    /// `county` or `dongshan`. Without it, the keys are the county office's.
    #[arg(long, requires = "name")]
    pub office: Option<String>,
    /// The office's name as residents read it, in Chinese, for example "东山镇纪委".
    #[arg(long, requires = "office")]
    pub name: Option<String>,
    /// Replace existing keys (the old secret key is lost, and with it every tip sealed to it).
    #[arg(long)]
    pub force: bool,
}

/// Public and secret key file names.
pub const PUB_FILE: &str = "inspectors.pub";
/// Secret key file name.
pub const KEY_FILE: &str = "inspectors.key";

/// Runs `keygen`.
pub fn run(args: &KeygenArgs) -> Result<(), CliError> {
    crypto::init()?;
    let office = match (&args.office, &args.name) {
        (Some(id), Some(name)) => Some(
            OfficeLabel::new(id, name)
                .map_err(|e| CliError::Usage(format!("--office/--name: {e}")))?,
        ),
        _ => None,
    };
    let passphrase = read_passphrase(&args.passphrase_file)?;
    if passphrase.len() < 12 {
        eprintln!("warning: the passphrase is short; a long one (several words) protects the key far better");
    }
    fs::create_dir_all(&args.out).map_err(io_err(&args.out))?;
    let key_path = args.out.join(KEY_FILE);
    let pub_path = args.out.join(PUB_FILE);
    if !args.force && (key_path.exists() || pub_path.exists()) {
        return Err(CliError::Usage(format!(
            "{} already holds keys; refusing to replace them (use --force only if you mean to lose the old key)",
            args.out.display()
        )));
    }
    let mut keys = SecretKeys::generate();
    keys.office = office;
    let text = keys
        .to_file_text(&passphrase, Argon2Params::KEY_FILE)
        .map_err(|source| CliError::KeyFile {
            path: key_path.clone(),
            source,
        })?;
    write_private(&key_path, text.as_bytes())?;
    let public = keys.public_keys();
    fs::write(&pub_path, public.to_file_text_of(keys.office.as_ref()))
        .map_err(io_err(&pub_path))?;
    println!(
        "wrote {} (secret: keep it on this offline machine)",
        key_path.display()
    );
    println!(
        "wrote {} (copy it to the server's keys/ folder)",
        pub_path.display()
    );
    println!("fingerprint: {}", public.fingerprint());
    if let Some(office) = &keys.office {
        println!(
            "office: {} ({}); the county signs it into the directory with `whistlebox offices sign`",
            office.id, office.name
        );
    }
    Ok(())
}
