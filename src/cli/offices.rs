//! `whistlebox offices`: on the county's offline machine, signs the directory of offices
//! that the server may seal reports to; anywhere, shows what a directory holds.

use std::fs;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{io_err, load_secret_keys, read_bounded, CliError};
use crate::crypto;
use crate::domain::keys::PublicKeys;
use crate::domain::office::{Directory, Office, DEFAULT_ROOT_ID, MAX_DIRECTORY_BYTES, MAX_TOWNS};
use crate::domain::Day;
use crate::signing::next_sequence;

/// Flags of `offices`.
#[derive(Debug, Args)]
pub struct OfficesArgs {
    /// sign or show.
    #[command(subcommand)]
    pub command: OfficesCommand,
}

/// What `offices` does.
#[derive(Debug, Subcommand)]
pub enum OfficesCommand {
    /// Sign the directory of offices with the county's key (on the county's offline machine).
    Sign(SignArgs),
    /// Check a directory against the county's inspectors.pub and list its offices.
    Show(ShowArgs),
}

/// Flags of `offices sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The county office's secret key file (its inspectors.key). Its folder also keeps
    /// `offices.sequence`, the number of the last directory signed.
    #[arg(long)]
    pub key: PathBuf,
    /// File whose first line is the key's passphrase.
    #[arg(long)]
    pub passphrase_file: PathBuf,
    /// The county office's name as residents read it (needed when its key file names none).
    #[arg(long)]
    pub name: Option<String>,
    /// A town office's inspectors.pub, as `whistlebox keygen --office` wrote it; repeat for
    /// each town. Check each file's fingerprint with its office before signing.
    #[arg(long = "town")]
    pub towns: Vec<PathBuf>,
    /// Where to write the signed directory (copy it to the server's keys/ folder as
    /// offices.json).
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `offices show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The signed directory.
    #[arg(long)]
    pub directory: PathBuf,
    /// The county office's inspectors.pub.
    #[arg(long)]
    pub root: PathBuf,
}

/// Runs `offices`.
pub fn run(args: &OfficesArgs) -> Result<(), CliError> {
    crypto::init()?;
    match &args.command {
        OfficesCommand::Sign(a) => sign(a),
        OfficesCommand::Show(a) => show(a),
    }
}

fn read_pub(path: &std::path::Path) -> Result<(PublicKeys, String), CliError> {
    let raw = read_bounded(path, 64 * 1024)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| CliError::Usage(format!("{}: not a key file", path.display())))?
        .to_owned();
    let keys = PublicKeys::from_file_text(&text).map_err(|source| CliError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((keys, text))
}

fn sign(args: &SignArgs) -> Result<(), CliError> {
    if args.towns.len() > MAX_TOWNS {
        return Err(CliError::Usage(format!(
            "a directory holds at most {MAX_TOWNS} town offices"
        )));
    }
    let keys = load_secret_keys(&args.key, &args.passphrase_file)?;
    let (id, name) = match (&keys.office, &args.name) {
        (_, Some(name)) => (
            keys.office
                .as_ref()
                .map(|o| o.id.clone())
                .unwrap_or_else(|| DEFAULT_ROOT_ID.parse().expect("a valid id")),
            name.trim().to_owned(),
        ),
        (Some(office), None) => (office.id.clone(), office.name.clone()),
        (None, None) => {
            return Err(CliError::Usage(
                "this key file names no office: give the county office's name with --name".into(),
            ))
        }
    };
    let mut towns = Vec::new();
    for path in &args.towns {
        let (town_keys, text) = read_pub(path)?;
        let label = PublicKeys::office_in_file_text(&text)
            .map_err(|source| CliError::KeyFile {
                path: path.clone(),
                source,
            })?
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{}: names no office (make town keys with `whistlebox keygen --office ID --name NAME`)",
                    path.display()
                ))
            })?;
        towns.push(Office {
            id: label.id,
            name: label.name,
            keys: town_keys,
        });
    }
    let sequence = next_sequence(&args.key, "offices.sequence")?;
    let directory = Directory {
        sequence,
        root: Office {
            id,
            name,
            keys: keys.public_keys(),
        },
        towns,
    };
    let bytes = directory
        .sign(Day::today(), &keys.sign_key)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    fs::write(&args.out, bytes).map_err(io_err(&args.out))?;
    println!(
        "signed directory number {sequence} into {} (install it on the server as keys/offices.json):",
        args.out.display()
    );
    print_offices(&directory);
    Ok(())
}

fn show(args: &ShowArgs) -> Result<(), CliError> {
    let (root, _) = read_pub(&args.root)?;
    let bytes = read_bounded(&args.directory, MAX_DIRECTORY_BYTES as u64)?;
    let directory = Directory::verify(&bytes, &root)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.directory.display())))?;
    println!(
        "directory number {}, signed by the county key {}:",
        directory.sequence,
        root.fingerprint()
    );
    print_offices(&directory);
    Ok(())
}

fn print_offices(directory: &Directory) {
    for (role, office) in std::iter::once(("county", &directory.root))
        .chain(directory.towns.iter().map(|t| ("town", t)))
    {
        println!(
            "  {role:6} {:20} {}  fingerprint {}",
            office.id.as_str(),
            office.name,
            office.keys.fingerprint()
        );
    }
}
