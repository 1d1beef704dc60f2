//! `whistlebox serve`: the online service.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use clap::Args;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::keygen::{KEY_FILE, PUB_FILE};
use super::{io_err, read_bounded, write_private, CliError};
use crate::crypto::{self, Argon2Params};
use crate::domain::keys::{PublicKeys, SecretKeys};
use crate::domain::office::Directory;
use crate::domain::office::MAX_DIRECTORY_BYTES;
use crate::domain::receipt::ReceiptHasher;
use crate::domain::tip::DEFAULT_MAX_SEALED_BYTES;
use crate::service::offices::{OfficeBook, Seen, DIRECTORY_FILE, SEEN_FILE};
use crate::service::uploads::UploadLimits;
use crate::service::{DailyQuota, Intake, Metrics};
use crate::store::{PgConfig, PgOptions, PgStore, SledStore, TipStore};
use crate::web::clerk::ClerkState;
use crate::web::limits::{LimitConfig, Limiter};
use crate::web::{self, AdminState, AppState, OfficeContact, ServerOptions};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data folder (the sled store, and demo keys in demo mode).
    #[arg(long, default_value = "./data")]
    pub data: PathBuf,
    /// Where tips are kept: `sled` (an embedded store in DATA/store, for one server) or a
    /// PostgreSQL connection string that several servers share, as a URL
    /// (`postgres://whistlebox@db1,db2/whistlebox?target_session_attrs=read-write`) or as
    /// `key=value` words (`host=db1,db2 dbname=whistlebox target_session_attrs=read-write`).
    /// Put no password in it (command lines are visible): see --store-password-file.
    #[arg(long, default_value = "sled")]
    pub store: String,
    /// File whose first line is the PostgreSQL password (for --store postgres://...).
    #[arg(long)]
    pub store_password_file: Option<PathBuf>,
    /// Connections this server keeps to PostgreSQL at most.
    #[arg(long, default_value_t = PgOptions::default().pool_size)]
    pub store_pool_size: u32,
    /// Seconds a request keeps trying while PostgreSQL is unreachable (a failover to the
    /// standby) before it fails with 500.
    #[arg(long, default_value_t = PgOptions::default().reconnect_for.as_secs())]
    pub store_reconnect_secs: u64,
    /// Folder holding inspectors.pub. Without it the server refuses to start, unless its
    /// public listener is on loopback (and neither --proxied nor --public-url says it faces
    /// the public through a proxy) or --demo is given: then it runs in DEMO MODE.
    #[arg(long, default_value = "./keys")]
    pub keys: PathBuf,
    /// Run in DEMO MODE (a throwaway key whose secret half lies in the data folder) when
    /// KEYS/inspectors.pub is missing, even on a public address. Never for real reports.
    #[arg(long)]
    pub demo: bool,
    /// Public address (pages and /api).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Admin address (/admin); keep it on loopback or a private network.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub admin_bind: String,
    /// File whose first line is the admin token [default: KEYS/admin-token.secret, created
    /// if missing].
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// File whose first line is a token that opens `/admin/v1/metrics` and nothing else, for
    /// a monitoring system (the admin token also exports every tip).
    #[arg(long)]
    pub metrics_token_file: Option<PathBuf>,
    /// Secret mixed into every receipt hash, kept outside the data folder [default:
    /// KEYS/receipt-pepper.secret, created if missing]. Losing it makes every receipt unknown.
    #[arg(long)]
    pub pepper_file: Option<PathBuf>,
    /// Largest sealed tip accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_SEALED_BYTES)]
    pub max_tip_bytes: usize,
    /// How many Argon2id receipt derivations may run at once (each takes 64 MiB)
    /// [default: the number of cores].
    #[arg(long)]
    pub argon2_threads: Option<usize>,
    /// HTTP worker threads on the public listener [default: the number of cores].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Rate limits: `on` (the default) or `off` (for load tests and benchmarks only).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    pub rate_limits: String,
    /// The server sits behind a proxy or Tor, so every client has the same address: only
    /// the global limits apply.
    #[arg(long)]
    pub proxied: bool,
    /// Apply per-client limits (rates and the connection cap) to loopback peers too. By
    /// default a loopback or unspecified peer is exempt: it is nginx or Tor on this machine,
    /// speaking for every resident at once. For tests that play clients from 127.0.0.x.
    #[arg(long, conflicts_with = "proxied")]
    pub client_limits_on_loopback: bool,
    /// Tips and follow-ups one client may send per hour.
    #[arg(long, default_value_t = LimitConfig::default().client_submit_per_hour)]
    pub limit_client_submit_per_hour: u32,
    /// Receipt checks one client may make per minute.
    #[arg(long, default_value_t = LimitConfig::default().client_receipt_per_minute)]
    pub limit_client_status_per_minute: u32,
    /// Page requests one client may make per minute.
    #[arg(long, default_value_t = LimitConfig::default().client_page_per_minute)]
    pub limit_client_pages_per_minute: u32,
    /// Tips and follow-ups per second, all clients together.
    #[arg(long, default_value_t = LimitConfig::default().global_submit_per_second)]
    pub limit_global_submit_per_second: u32,
    /// Receipt checks per second, all clients together.
    #[arg(long, default_value_t = LimitConfig::default().global_receipt_per_second)]
    pub limit_global_status_per_second: u32,
    /// Lookup-value checks (`/api/v2`, receipts hashed in the browser) per client per minute.
    #[arg(long, default_value_t = LimitConfig::default().client_lookup_per_minute)]
    pub limit_client_lookup_per_minute: u32,
    /// Lookup-value checks per second, all clients together.
    #[arg(long, default_value_t = LimitConfig::default().global_lookup_per_second)]
    pub limit_global_lookup_per_second: u32,
    /// MiB of files of forms posted without JavaScript held in memory at once, all clients
    /// together (counted as the bytes arrive); past it such a form is answered 503.
    #[arg(long, default_value_t = crate::service::uploads::FORMS_IN_MEMORY_MIB)]
    pub forms_in_memory_mib: usize,
    /// Uploads of evidence files one client may start per hour.
    #[arg(long, default_value_t = LimitConfig::default().client_upload_per_hour)]
    pub limit_client_uploads_per_hour: u32,
    /// Uploads of evidence files started per second, all clients together.
    #[arg(long, default_value_t = LimitConfig::default().global_upload_per_second)]
    pub limit_global_uploads_per_second: u32,
    /// New tips are refused (503) when the data folder's disk has fewer free bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub min_free_bytes: u64,
    /// Sealed bytes of new tips and follow-ups taken per day (UTC), all clients together;
    /// beyond it they are refused (503) until the next day. Counted in memory.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub daily_quota_bytes: u64,
    /// Bytes of evidence files that may wait, all clients together, in uploads not yet part
    /// of a report (encrypted and padded); beyond it new uploads are refused (503) until
    /// some are sent or expire.
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    pub max_pending_upload_bytes: u64,
    /// Bytes of evidence files (encrypted and padded) taken per day (UTC), all clients
    /// together; beyond it new uploads are refused (503) until the next day. Counted in
    /// memory.
    #[arg(long, default_value_t = 2 * 1024 * 1024 * 1024)]
    pub daily_upload_quota_bytes: u64,
    /// Seconds a client has to send its request headers before it is cut off.
    #[arg(long, default_value_t = 10)]
    pub request_timeout_secs: u64,
    /// Seconds a request has, from the end of its headers, to send its whole body; past it
    /// the answer is 408, nothing of it is stored and the connection is closed.
    /// 30 s carries a 1 MiB tip (1.4 MB of JSON) at about 400 kbit/s; text tips are a few KB.
    #[arg(long, default_value_t = 30)]
    pub request_deadline_secs: u64,
    /// Seconds a public connection may stay open in all, whatever it does; each serves one
    /// request [default: the head's and the body's time, plus 30 s to write the answer].
    #[arg(long)]
    pub connection_lifetime_secs: Option<u64>,
    /// Open connections per public worker. A connection costs a few KiB, so the default
    /// (with the 65,536 files the systemd unit allows) makes a flood of slow requests open
    /// thousands of connections a second, through the proxy or Tor, to fill them before
    /// the deadline gives them back.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Open connections one client (address, or IPv6 /56) may hold at once; 0 for no cap.
    /// Not applied behind --proxied nor to loopback peers (see --client-limits-on-loopback).
    /// A browser opens up to 6, so 32 leaves room for a few residents behind one NAT.
    #[arg(long, default_value_t = 32)]
    pub max_connections_per_client: u32,
    /// The address residents type or scan (printed on the poster and the receipt card)
    /// [default: http://BIND/].
    #[arg(long)]
    pub public_url: Option<String>,
    /// Address of the clerk's listener (printing report forms, entering letters, calls and
    /// visits, status by phone): one address, on loopback or the office network, never
    /// 0.0.0.0. Without it there is no clerk's listener.
    #[arg(long)]
    pub clerk_bind: Option<String>,
    /// File whose first line is the clerk token, typed to sign in on the clerk's listener; it
    /// must differ from the admin and metrics tokens [default: KEYS/clerk-token.secret,
    /// created if missing].
    #[arg(long, requires = "clerk_bind")]
    pub clerk_token_file: Option<PathBuf>,
    /// The office's postal address for letters, printed on the poster and the report forms.
    #[arg(long)]
    pub office_postal_address: Option<String>,
    /// The office's phone number for reports and status by phone, printed on the poster,
    /// the report forms and their stubs.
    #[arg(long)]
    pub office_phone: Option<String>,
}

const PEPPER_FILE: &str = "receipt-pepper.secret";
const TOKEN_FILE: &str = "admin-token.secret";
const CLERK_TOKEN_FILE: &str = "clerk-token.secret";
const DEMO_DIR: &str = "demo-keys";
const DEMO_PASSPHRASE: &str = "demo passphrase - not secret";

/// Runs the service until it is stopped.
pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    crypto::init()?;
    create_private_dir(&args.data)?;
    let (keys, demo) = load_or_make_keys(args)?;
    if demo && args.store != "sled" {
        return Err(CliError::Usage(
            "demo mode keeps its throwaway key in this server's data folder, so it cannot \
             share a PostgreSQL store with other servers: put the inspectors' inspectors.pub \
             in the keys folder, or use --store sled"
                .into(),
        ));
    }
    let pepper = load_or_create_secret(
        &args
            .pepper_file
            .clone()
            .unwrap_or_else(|| args.keys.join(PEPPER_FILE)),
        "receipt pepper",
    )?;
    let decoded = Zeroizing::new(STANDARD.decode(pepper.trim_ascii()).unwrap_or_default());
    let pepper: Zeroizing<[u8; 32]> = <[u8; 32]>::try_from(&decoded[..])
        .ok()
        .map(Zeroizing::new)
        .ok_or_else(|| {
            CliError::Usage(
                "the receipt pepper file is damaged (expected 32 bytes in base64)".into(),
            )
        })?;
    let token_path = args
        .admin_token_file
        .clone()
        .unwrap_or_else(|| args.keys.join(TOKEN_FILE));
    let token = load_or_create_secret(&token_path, "admin token")?;
    let token = token.trim_ascii();
    if token.len() < 16 {
        return Err(CliError::Usage(format!(
            "{}: the admin token must be at least 16 characters",
            token_path.display()
        )));
    }
    let store = open_store(args)?;
    let summary = store.verify()?;
    tracing::info!(
        tips = summary.tips,
        receipts = summary.receipts,
        "store checked"
    );
    let hasher = ReceiptHasher::new(store.receipt_salt(), pepper, Argon2Params::RECEIPT);
    store.check_pepper(&hasher.pepper_check())?;
    let offices = Arc::new(load_directory(args, &keys, demo, &store)?);
    if store.shares_directory() {
        spawn_directory_refresh(offices.clone());
    }

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let argon_threads = args.argon2_threads.unwrap_or(cores).max(1);
    let public_url = Arc::new(std::sync::OnceLock::new());
    if let Some(url) = &args.public_url {
        let _ = public_url.set(with_slash(url));
    }
    let metrics = Arc::new(Metrics::default());
    let intake = Intake {
        store: store.clone(),
        hasher: Arc::new(hasher),
        keys: keys.clone(),
        offices: offices.clone(),
        argon_gate: Arc::new(Semaphore::new(argon_threads)),
        max_sealed_bytes: args.max_tip_bytes,
        data_dir: args.data.clone(),
        min_free_bytes: args.min_free_bytes,
        daily_quota: DailyQuota::new(args.daily_quota_bytes),
        metrics: metrics.clone(),
        tickets: Default::default(),
        legacy_receipts: store.legacy_receipts()?,
        uploads: UploadLimits::new(
            args.max_pending_upload_bytes,
            args.daily_upload_quota_bytes,
            args.forms_in_memory_mib,
        ),
        entered: Default::default(),
    };
    let contact = Arc::new(office_contact(args)?);
    let intake = Arc::new(intake);
    let counts_of = intake.clone();
    let clerk = match &args.clerk_bind {
        Some(bind) => Some((
            bind.clone(),
            ClerkState {
                intake: intake.clone(),
                token_hash: clerk_token_hash(args, token)?,
                sessions: Default::default(),
                demo,
                public_url: public_url.clone(),
                contact: contact.clone(),
            },
        )),
        None => None,
    };
    let state = AppState {
        intake,
        demo,
        public_url: public_url.clone(),
        numbers_cache: Default::default(),
        contact,
    };
    let limiter = limit_config(args).map(|c| Arc::new(Limiter::new(c)));
    let admin = AdminState {
        store,
        keys: keys.clone(),
        offices,
        max_sealed_bytes: args.max_tip_bytes,
        token_hash: crypto::blake2b(None, &[token]),
        metrics_token_hash: metrics_token_hash(args)?,
        metrics,
        limiter,
        metrics_snapshot: Default::default(),
        exports: web::ExportThread::start()
            .map_err(|e| CliError::Usage(format!("the export thread could not start: {e}")))?,
    };
    warn_if_admin_public(&args.admin_bind);
    let options = ServerOptions {
        bind: args.bind.clone(),
        admin_bind: args.admin_bind.clone(),
        workers: args.workers.unwrap_or(cores),
        max_connections: args.max_connections,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs.max(1)),
        request_deadline: std::time::Duration::from_secs(args.request_deadline_secs.max(1)),
        connection_lifetime: std::time::Duration::from_secs(
            args.connection_lifetime_secs
                .unwrap_or(args.request_timeout_secs + args.request_deadline_secs + 30)
                .max(1),
        ),
        max_connections_per_client: args.max_connections_per_client,
        proxied: args.proxied,
        limits_on_shared_peers: args.client_limits_on_loopback,
    };
    let system = actix_web::rt::System::new();
    let served = system.block_on(async move {
        let listeners = web::start(state, admin, &options)
            .map_err(|e| CliError::Usage(format!("cannot listen: {e}")))?;
        let clerk = match clerk {
            Some((bind, state)) => Some(
                web::clerk::start(state, &bind)
                    .map_err(|e| CliError::Usage(format!("cannot listen on --clerk-bind: {e}")))?,
            ),
            None => None,
        };
        // Before the listener lines, which tell whoever waits for them that it is up.
        println!("whistlebox: {}", limits_mode(args));
        if demo {
            eprintln!("{DEMO_BANNER}");
            println!("whistlebox: DEMO MODE: tips are sealed to a throwaway key; do not take real reports");
        }
        for addr in &listeners.public_addrs {
            println!("whistlebox: public listener on http://{addr}");
        }
        if let Some(addr) = listeners.public_addrs.first() {
            if public_url.set(format!("http://{addr}/")).is_ok() {
                tracing::warn!(
                    url = %format!("http://{addr}/"),
                    "no --public-url given: posters and receipt cards will show the listener's own address"
                );
            }
        }
        for addr in &listeners.admin_addrs {
            println!("whistlebox: admin listener on http://{addr}");
        }
        let clerk = clerk.map(|c| {
            for addr in &c.addrs {
                println!("whistlebox: clerk listener on http://{addr}");
            }
            c.server
        });
        tracing::info!(fingerprint = %keys.fingerprint(), demo, "whistlebox is serving");
        let clerk = async move {
            match clerk {
                Some(server) => server.await,
                None => Ok(()),
            }
        };
        let (a, b, c) = tokio::join!(listeners.public, listeners.admin, clerk);
        a.and(b)
            .and(c)
            .map_err(|e| CliError::Usage(format!("the server stopped: {e}")))
    });
    // Stopped: today's counts of entered tips go to the store now, or they would be lost.
    if let Err(e) = counts_of.write_entered_counts(true) {
        tracing::error!(
            error = %e,
            pending = counts_of.entered.pending(),
            "the counts of entered tips could not be written"
        );
    }
    served
}

/// The startup line that says how clients are told apart.
fn limits_mode(args: &ServeArgs) -> &'static str {
    match (
        args.rate_limits == "off",
        args.proxied,
        args.client_limits_on_loopback,
    ) {
        (true, _, _) => "rate limits OFF (--rate-limits off): for load tests only",
        (false, true, _) => {
            "per-client limits OFF because proxied (--proxied): every client comes through \
             the proxy or Tor, so only the global limits apply"
        }
        (false, false, true) => {
            "per-client limits ON for every client, loopback peers included \
             (--client-limits-on-loopback: for tests only)"
        }
        (false, false, false) => {
            "per-client limits ON for direct clients; loopback peers exempt (nginx or Tor on \
             this machine speaks for everyone: run behind them with --proxied)"
        }
    }
}

/// The office's address and phone, as given; blank ones are not shown.
fn office_contact(args: &ServeArgs) -> Result<OfficeContact, CliError> {
    let given = |v: &Option<String>, what: &str| -> Result<Option<String>, CliError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => Err(
                CliError::Usage(format!("--{what}: at most 200 characters on one line")),
            ),
            Some(v) => Ok(Some(v.to_owned())),
        }
    };
    Ok(OfficeContact {
        postal_address: given(&args.office_postal_address, "office-postal-address")?,
        phone: given(&args.office_phone, "office-phone")?,
    })
}

/// The clerk token's hash, from `--clerk-token-file` (created when missing). It opens the
/// clerk's pages only, so it must be neither the admin token (which exports every tip) nor
/// the metrics token. The clerk's listener must name one address: bound to every address,
/// its pages would face whatever network the server faces.
fn clerk_token_hash(args: &ServeArgs, admin_token: &[u8]) -> Result<[u8; 32], CliError> {
    if let Some(bind) = &args.clerk_bind {
        use std::net::ToSocketAddrs;
        let addrs: Vec<_> = bind
            .to_socket_addrs()
            .map_err(|e| CliError::Usage(format!("--clerk-bind {bind}: {e}")))?
            .collect();
        if addrs.iter().any(|a| a.ip().is_unspecified()) {
            return Err(CliError::Usage(format!(
                "--clerk-bind {bind}: name one address (127.0.0.1:PORT, or the office network \
                 interface's own address), not every address"
            )));
        }
        if !binds_loopback_only(bind) {
            tracing::warn!(
                clerk_bind = %bind,
                "the clerk's listener is not on loopback; make sure only the office network reaches it"
            );
        }
    }
    // Only the default file is made when missing: a file named on the command line that is
    // not there is a typo, and a fresh token in its place would lock the clerks out.
    let path = match &args.clerk_token_file {
        Some(path) if !path.exists() => {
            return Err(CliError::Usage(format!(
                "--clerk-token-file {}: no such file (leave the flag out to have a token made \
                 in the keys folder)",
                path.display()
            )))
        }
        Some(path) => path.clone(),
        None => args.keys.join(CLERK_TOKEN_FILE),
    };
    let token = load_or_create_secret(&path, "clerk token")?;
    let token = token.trim_ascii();
    if token.len() < 16 {
        return Err(CliError::Usage(format!(
            "{}: the clerk token must be at least 16 characters",
            path.display()
        )));
    }
    let hash = crypto::blake2b(None, &[token]);
    let metrics = metrics_token_hash(args)?;
    if crypto::ct_eq(token, admin_token) || metrics.is_some_and(|m| crypto::ct_eq(&m, &hash)) {
        return Err(CliError::Usage(format!(
            "{}: the clerk token must differ from the admin and metrics tokens (the admin \
             token exports every tip)",
            path.display()
        )));
    }
    Ok(hash)
}

/// The metrics token's hash, from `--metrics-token-file`; it must differ from the admin
/// token's purpose, so it is read as is and never created.
fn metrics_token_hash(args: &ServeArgs) -> Result<Option<[u8; 32]>, CliError> {
    let Some(path) = &args.metrics_token_file else {
        return Ok(None);
    };
    let raw = read_bounded(path, 4096)?;
    let line = raw
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    if line.len() < 16 {
        return Err(CliError::Usage(format!(
            "{}: the metrics token must be at least 16 characters",
            path.display()
        )));
    }
    Ok(Some(crypto::blake2b(None, &[line])))
}

fn limit_config(args: &ServeArgs) -> Option<LimitConfig> {
    if args.rate_limits == "off" {
        tracing::warn!("rate limits are OFF: use this only for load tests and benchmarks");
        return None;
    }
    Some(LimitConfig {
        client_submit_per_hour: args.limit_client_submit_per_hour,
        client_receipt_per_minute: args.limit_client_status_per_minute,
        client_page_per_minute: args.limit_client_pages_per_minute,
        global_submit_per_second: args.limit_global_submit_per_second,
        global_receipt_per_second: args.limit_global_status_per_second,
        global_lookup_per_second: args.limit_global_lookup_per_second,
        client_lookup_per_minute: args.limit_client_lookup_per_minute,
        client_upload_per_hour: args.limit_client_uploads_per_hour,
        global_upload_per_second: args.limit_global_uploads_per_second,
        per_client: !args.proxied,
        shared_peers_exempt: !args.client_limits_on_loopback,
    })
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

fn create_private_dir(path: &Path) -> Result<(), CliError> {
    fs::create_dir_all(path).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// The store `--store` names: sled in DATA/store, or a PostgreSQL database.
fn open_store(args: &ServeArgs) -> Result<Arc<dyn TipStore>, CliError> {
    if args.store == "sled" {
        if let Some(path) = &args.store_password_file {
            return Err(CliError::Usage(format!(
                "--store-password-file {}: only a PostgreSQL store takes a password (--store \
                 is sled)",
                path.display()
            )));
        }
        return Ok(Arc::new(SledStore::open(&args.data.join("store"))?));
    }
    let mut config: PgConfig = args.store.parse().map_err(|e| {
        CliError::Usage(format!(
            "--store: neither `sled` nor a PostgreSQL connection string ({e})"
        ))
    })?;
    if let Some(path) = &args.store_password_file {
        let raw = Zeroizing::new(read_bounded(path, 4096)?);
        let line = raw.split(|&b| b == b'\n').next().unwrap_or(&[]);
        config.password(line.strip_suffix(b"\r").unwrap_or(line));
    }
    let store = PgStore::open(
        config,
        PgOptions {
            pool_size: args.store_pool_size.max(1),
            reconnect_for: std::time::Duration::from_secs(args.store_reconnect_secs.max(1)),
        },
    )?;
    tracing::info!("PostgreSQL store opened");
    Ok(Arc::new(store))
}

/// Every 15 s, takes up a newer directory of offices that another server sharing the
/// store installed.
fn spawn_directory_refresh(offices: Arc<OfficeBook>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(15));
        match offices.refresh() {
            Ok(true) => tracing::info!(
                sequence = offices.directory().sequence,
                "a newer directory of offices, installed through another server, is in use"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the shared directory of offices could not be read")
            }
        }
    });
}

/// Reads and checks KEYS/offices.json, if there is one: its directory and bytes.
fn read_directory_file(
    path: &Path,
    root: &PublicKeys,
) -> Result<Option<(Directory, Vec<u8>)>, CliError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() || meta.len() > MAX_DIRECTORY_BYTES as u64 => {
            Err(CliError::Usage(format!(
                "{}: not a directory of offices (not a plain file, or over {MAX_DIRECTORY_BYTES} bytes)",
                path.display()
            )))
        }
        Ok(_) => {
            let bytes = read_bounded(path, MAX_DIRECTORY_BYTES as u64)?;
            let directory = Directory::verify(&bytes, root)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            Ok(Some((directory, bytes.to_vec())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// For a store that several servers share: the newest of KEYS/offices.json and the
/// directory recorded in the store (a newer file is recorded for all; an older one is
/// passed over, since another server installed a newer one). The store takes the place of
/// `offices.seen`: a file under the recorded number with other contents is refused.
fn load_shared_directory(
    args: &ServeArgs,
    root: &PublicKeys,
    store: &Arc<dyn TipStore>,
) -> Result<OfficeBook, CliError> {
    let path = args.keys.join(DIRECTORY_FILE);
    let file = read_directory_file(&path, root)?;
    let recorded = match store.shared_directory()? {
        Some(bytes) => Some(Directory::verify(&bytes, root).map_err(|e| {
            CliError::Usage(format!(
                "the directory of offices recorded in the database does not check against \
                 inspectors.pub: {e}"
            ))
        })?),
        None => None,
    };
    let file_is_newest = match (&file, &recorded) {
        (Some((file, _)), Some(recorded)) => file.sequence >= recorded.sequence,
        (file, None) => file.is_some(),
        (None, Some(_)) => false,
    };
    let directory = match (file, recorded) {
        (Some((file, bytes)), _) if file_is_newest => {
            store
                .record_directory(file.sequence, &bytes)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            file
        }
        (file, Some(recorded)) => {
            if let Some((file, _)) = file {
                tracing::warn!(
                    file = file.sequence,
                    recorded = recorded.sequence,
                    "keys/offices.json is older than the directory of offices another server \
                     installed; the newer one is used"
                );
            }
            recorded
        }
        (_, None) => Directory::root_only(root.clone()),
    };
    tracing::info!(
        towns = directory.towns.len(),
        sequence = directory.sequence,
        "directory of offices loaded"
    );
    Ok(OfficeBook::new(directory, Some(path), None).shared_through(store.clone()))
}

/// The signed directory of offices in KEYS/offices.json, checked against the county's key;
/// without that file, the county alone reads every report. A directory the county did not
/// sign stops the server: sealing reports to an office the county never named is exactly
/// what it is there to prevent.
fn load_directory(
    args: &ServeArgs,
    root: &PublicKeys,
    demo: bool,
    store: &Arc<dyn TipStore>,
) -> Result<OfficeBook, CliError> {
    if store.shares_directory() {
        return load_shared_directory(args, root, store);
    }
    // In demo mode, the demo directory made beside the demo key (one demo town office).
    let path = if demo {
        args.data.join(DEMO_DIR).join(DIRECTORY_FILE)
    } else {
        args.keys.join(DIRECTORY_FILE)
    };
    let seen_path = args.data.join(SEEN_FILE);
    let seen = Seen::read(&seen_path).map_err(CliError::Usage)?;
    let directory = match fs::symlink_metadata(&path) {
        Ok(meta) if !meta.is_file() || meta.len() > MAX_DIRECTORY_BYTES as u64 => {
            return Err(CliError::Usage(format!(
                "{}: not a directory of offices (not a plain file, or over {MAX_DIRECTORY_BYTES} bytes)",
                path.display()
            )))
        }
        Ok(_) => {
            let bytes = read_bounded(&path, MAX_DIRECTORY_BYTES as u64)?;
            let directory = Directory::verify(&bytes, root)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            let offered = Seen::of(directory.sequence, &bytes);
            if let Some(seen) = &seen {
                seen.check(&offered)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
            }
            offered.write(&seen_path).map_err(io_err(&seen_path))?;
            tracing::info!(
                towns = directory.towns.len(),
                sequence = directory.sequence,
                "directory of offices loaded"
            );
            directory
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Reports addressed to town offices would lose them (follow-ups sealed for the
            // county alone, acks never complete): a directory once used must stay.
            if let Some(seen) = seen.filter(|s| s.sequence > 0) {
                return Err(CliError::Usage(format!(
                    "{} is missing, but this server has used directory of offices number {}; \
                     put the newest directory the county signed back in the keys folder",
                    path.display(),
                    seen.sequence
                )));
            }
            Directory::root_only(root.clone())
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    Ok(OfficeBook::new(directory, Some(path), Some(seen_path)))
}

/// Real keys from KEYS/inspectors.pub, or a throwaway demo pair kept in the data folder.
fn load_or_make_keys(args: &ServeArgs) -> Result<(PublicKeys, bool), CliError> {
    let pub_path = args.keys.join(PUB_FILE);
    if pub_path.exists() {
        let keys = read_public_keys(&pub_path)?;
        tracing::info!(path = %pub_path.display(), "inspectors' public key loaded");
        return Ok((keys, false));
    }
    // Behind a proxy the listener is on loopback and yet faces the public: --proxied and
    // --public-url both say so, and then only an explicit --demo allows a demo key.
    let faces_public =
        !binds_loopback_only(&args.bind) || args.proxied || args.public_url.is_some();
    if !args.demo && faces_public {
        return Err(CliError::Usage(format!(
            "{} not found: a server that faces the public ({}{}) needs the inspectors' \
             public key (copy inspectors.pub from the offline machine into {}; see \
             deploy/README.md). To try whistlebox with a throwaway key instead, pass --demo.",
            pub_path.display(),
            args.bind,
            if args.proxied || args.public_url.is_some() {
                ", behind a proxy"
            } else {
                ""
            },
            args.keys.display()
        )));
    }
    let demo_dir = args.data.join(DEMO_DIR);
    let demo_pub = demo_dir.join(PUB_FILE);
    let keys = if demo_pub.exists() {
        read_public_keys(&demo_pub)?
    } else {
        create_private_dir(&demo_dir)?;
        let secret = SecretKeys::generate();
        let text = secret
            .to_file_text(DEMO_PASSPHRASE.as_bytes(), Argon2Params::KEY_FILE)
            .map_err(|source| CliError::KeyFile {
                path: demo_dir.join(KEY_FILE),
                source,
            })?;
        write_private(&demo_dir.join(KEY_FILE), text.as_bytes())?;
        write_private(
            &demo_dir.join("passphrase.txt"),
            format!("{DEMO_PASSPHRASE}\n").as_bytes(),
        )?;
        let public = secret.public_keys();
        fs::write(&demo_pub, public.to_file_text()).map_err(io_err(&demo_pub))?;
        make_demo_directory(&demo_dir, &secret)?;
        public
    };
    tracing::warn!(
        "DEMO MODE: no {} found, so tips are sealed to a throwaway demo key whose secret half lies in {} \
         (passphrase in passphrase.txt beside it). Tips are NOT protected. Do not take real reports.",
        pub_path.display(),
        demo_dir.display()
    );
    Ok((keys, true))
}

/// A demo town office beside the demo county key, and a directory naming both signed with
/// the demo county key, so that a demo shows the "who should read this" question.
fn make_demo_directory(demo_dir: &std::path::Path, county: &SecretKeys) -> Result<(), CliError> {
    let mut town = SecretKeys::generate();
    town.office = Some(
        crate::domain::keys::OfficeLabel::new("demo-town", "示范镇纪委（演示）")
            .expect("a valid label"),
    );
    let town_dir = demo_dir.join("town");
    create_private_dir(&town_dir)?;
    let text = town
        .to_file_text(DEMO_PASSPHRASE.as_bytes(), Argon2Params::KEY_FILE)
        .map_err(|source| CliError::KeyFile {
            path: town_dir.join(KEY_FILE),
            source,
        })?;
    write_private(&town_dir.join(KEY_FILE), text.as_bytes())?;
    let town_pub = town_dir.join(PUB_FILE);
    fs::write(
        &town_pub,
        town.public_keys().to_file_text_of(town.office.as_ref()),
    )
    .map_err(io_err(&town_pub))?;
    let office = |id: &str, name: &str, keys: PublicKeys| crate::domain::office::Office {
        id: id.parse().expect("a valid id"),
        name: name.into(),
        keys,
    };
    let directory = Directory {
        sequence: 1,
        root: office("county", "示范县纪委监委（演示）", county.public_keys()),
        towns: vec![office(
            "demo-town",
            "示范镇纪委（演示）",
            town.public_keys(),
        )],
    };
    let bytes = directory
        .sign(crate::domain::Day::today(), &county.sign_key)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let path = demo_dir.join(DIRECTORY_FILE);
    fs::write(&path, bytes).map_err(io_err(&path))
}

/// Printed to stderr at start in demo mode, so that no one mistakes it for the real thing.
const DEMO_BANNER: &str = "\
******************************************************************************
*  DEMO MODE: tips are sealed to a THROWAWAY key whose secret half lies in   *
*  the data folder. They are NOT protected. Do not take real reports.        *
*  For real use, put the inspectors' inspectors.pub in the keys folder.      *
******************************************************************************";

/// Whether every address `bind` names is loopback (so demo mode cannot face the public).
fn binds_loopback_only(bind: &str) -> bool {
    use std::net::ToSocketAddrs;
    match bind.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

fn read_public_keys(path: &Path) -> Result<PublicKeys, CliError> {
    let raw = read_bounded(path, 64 * 1024)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| CliError::Usage(format!("{}: not UTF-8 text", path.display())))?;
    PublicKeys::from_file_text(text).map_err(|source| CliError::KeyFile {
        path: path.to_owned(),
        source,
    })
}

/// Reads a one-line secret, or creates it (32 random bytes in base64) when missing.
fn load_or_create_secret(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        crypto::random_fill(&mut raw[..]);
        // The pepper is stored in standard base64, the token URL-safe so it pastes into a
        // header cleanly; both are 32 random bytes.
        let text = Zeroizing::new(
            if what.ends_with("token") {
                URL_SAFE_NO_PAD.encode(&raw[..])
            } else {
                STANDARD.encode(&raw[..])
            } + "\n",
        );
        write_private(path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "created a new {what}");
    }
    let raw = read_bounded(path, 4096)?;
    let end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    Ok(Zeroizing::new(raw[..end].to_vec()))
}

fn warn_if_admin_public(admin_bind: &str) {
    let loopback = admin_bind.starts_with("127.")
        || admin_bind.starts_with("[::1]")
        || admin_bind.starts_with("localhost");
    if !loopback {
        tracing::warn!(
            admin_bind,
            "the admin listener is not on loopback; make sure only the operator can reach it"
        );
    }
}
