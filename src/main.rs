//! The `whistlebox` command: parses flags and hands over to `whistlebox::cli`.

use clap::{Parser, Subcommand};
use whistlebox::cli::{
    self,
    decrypt::DecryptArgs,
    desk::DeskArgs,
    keygen::KeygenArgs,
    moves::MoveArgs,
    offices::OfficesArgs,
    reply::{AckArgs, UpdateArgs},
    serve::ServeArgs,
};

/// Every heap block is wiped when it is freed. Tips sealed on the server, receipts and
/// reply keys pass through buffers that actix-web, serde and the store allocate and free on
/// their own; wiping them all on free means none of that lingers once it is dropped.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

#[derive(Parser)]
#[command(
    name = "whistlebox",
    version,
    about = "An anonymous tip line, sealed end to end."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the inspectors' keys (on the offline machine).
    Keygen(KeygenArgs),
    /// Sign or show the directory of offices (the county signs it on its offline machine).
    Offices(OfficesArgs),
    /// Hand a case to another office (on the offline machine); a town gets it only once the
    /// resident agrees.
    Move(MoveArgs),
    /// Run the online service.
    Serve(Box<ServeArgs>),
    /// Open an export bundle into one folder per tip (on the offline machine).
    Decrypt(DecryptArgs),
    /// The inspectors' desk: the case ledger in the browser, on the offline machine.
    Desk(DeskArgs),
    /// Sign status updates and messages to residents (on the offline machine).
    Update(UpdateArgs),
    /// Sign an ack of the decrypted tips, so the server deletes them (on the offline machine).
    Ack(AckArgs),
}

fn main() {
    init_logging();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Keygen(args) => cli::keygen::run(args),
        Command::Offices(args) => cli::offices::run(args),
        Command::Move(args) => cli::moves::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Decrypt(args) => cli::decrypt::run(args),
        Command::Desk(args) => cli::desk::run(args),
        Command::Update(args) => cli::reply::run_update(args),
        Command::Ack(args) => cli::reply::run_ack(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

/// Logs go to stderr, without timestamps (no precise time is recorded anywhere), and the
/// code never logs addresses, agents, receipts or tip text.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHISTLEBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
}
