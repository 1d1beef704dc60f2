//! Failover test: a PostgreSQL primary with a synchronous standby (streaming replication,
//! both on loopback), two `whistlebox serve` on a multi-host connection string
//! (`target_session_attrs=read-write`), residents posting to both; the primary is killed
//! with SIGKILL mid-stream and the standby promoted. Every receipt that was answered must
//! be on the new primary, and its tip must decrypt.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::load::{post_tips_until, random_ms, Cuts};
use common::pg::{bin_dir, free_port, skip, Cluster};
use common::*;

const CLIENTS: usize = 4;

#[test]
fn answered_receipts_survive_a_primary_failover() {
    let test = "answered_receipts_survive_a_primary_failover";
    let Some(bin) = bin_dir() else {
        skip(
            test,
            "no PostgreSQL binaries (apt-get install postgresql, or set WHISTLEBOX_PG_BIN)",
        );
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(), free_port());
    let primary_dir = Cluster::folder(root.path(), "primary");
    let standby_dir = Cluster::folder(root.path(), "standby");
    let primary = Cluster::init(
        &bin,
        primary_dir,
        p1,
        "synchronous_commit = on\nwal_level = replica\nmax_wal_senders = 4\n\
         log_statement = none\nlog_connections = off\n",
    );
    primary.start();
    primary
        .client("postgres")
        .batch_execute("CREATE DATABASE whistlebox")
        .unwrap();
    // Promoted, it takes writes alone (deploy/postgresql/standby.conf says why).
    let standby = Cluster::standby_of(
        &primary,
        standby_dir,
        p2,
        "synchronous_standby_names = ''\nhot_standby = on\n",
    );
    standby.start();
    // From now on every commit waits until the standby has it on disk.
    let mut c = primary.client("postgres");
    c.batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = primary
            .client("postgres")
            .query(
                "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'",
                &[],
            )
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let store = format!(
        "host=127.0.0.1,127.0.0.1 port={p1},{p2} user=postgres dbname=whistlebox \
         target_session_attrs=read-write connect_timeout=2"
    );
    let inspectors = Inspectors::new();
    let (a, b) = (Site::new(), Site::new());
    inspectors.server_keys(&a.keys());
    inspectors.server_keys(&b.keys());
    let pepper = a.root.path().join("pepper.secret");
    let mut secret = [0u8; 32];
    whistlebox::crypto::init().unwrap();
    whistlebox::crypto::random_fill(&mut secret);
    std::fs::write(
        &pepper,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret) + "\n",
    )
    .unwrap();
    let pepper = pepper.display().to_string();
    let flags = [
        "--store",
        &store,
        "--pepper-file",
        &pepper,
        "--store-reconnect-secs",
        "30",
    ];
    let sa = a.start(&flags);
    let sb = b.start(&flags);
    let key = sa.box_key();
    let urls = [sa.public.clone(), sb.public.clone()];

    let answered: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers = post_tips_until(
        &urls,
        CLIENTS,
        key,
        "低保名单里有村干部的亲戚。",
        Cuts::ServerErrorsOnly,
        &stop,
        &answered,
    );

    std::thread::sleep(Duration::from_millis(1500 + random_ms(1500)));
    let before_kill = answered.lock().unwrap().len();
    primary.kill9();
    // The time an operator or a failover manager takes to notice.
    std::thread::sleep(Duration::from_millis(500));
    standby.promote();
    std::thread::sleep(Duration::from_millis(3000));
    stop.store(true, Ordering::SeqCst);
    let cut: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let answered = answered.lock().unwrap().clone();
    let after_promotion = answered.len() - before_kill;

    // What the new primary holds, looked up through both frontends and read directly.
    let mut found = 0usize;
    for (i, (receipt, _)) in answered.iter().enumerate() {
        let st = if i % 2 == 0 {
            sa.status(receipt)
        } else {
            sb.status(receipt)
        };
        assert_eq!(
            st.status, 200,
            "an answered receipt was lost in the failover: {}",
            st.body
        );
        found += 1;
    }
    let on_new_primary: i64 = standby
        .client("whistlebox")
        .query_one("SELECT count(*) FROM receipts", &[])
        .unwrap()
        .get(0);
    let bundle = sa.export();
    let out = tempfile::tempdir().unwrap();
    let d = inspectors.decrypt(&bundle, out.path());
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let opened: std::collections::HashSet<String> =
        read_decrypted(out.path()).into_values().collect();
    let decrypted = answered.iter().filter(|(_, b)| opened.contains(b)).count();
    assert_eq!(
        decrypted,
        answered.len(),
        "an answered tip does not decrypt"
    );
    assert!(
        before_kill > 0,
        "no tip was answered before the primary died"
    );
    assert!(
        after_promotion > 0,
        "no tip was answered after the standby took over"
    );
    println!(
        "failover test: {} receipts answered ({before_kill} before the primary was killed, \
         {after_promotion} after), {cut} requests cut (500 while the database failed over), \
         {found} of {} found through the frontends on the new primary and decrypted; {} tips \
         stored on the new primary",
        answered.len(),
        answered.len(),
        on_new_primary
    );
    drop((sa, sb));
    standby.stop();
}
