//! Frontends on one PostgreSQL database: what a frontend refuses at startup (a pepper that
//! is not the database's, a schema newer than the binary, a database it cannot reach, TLS
//! it cannot speak), and the directory of offices they share (one installed through one
//! frontend reaches the other; an older file in a frontend's keys folder is passed over).

mod common;

use std::time::{Duration, Instant};

use common::offices::Office;
use common::pg::{free_port, Database};
use common::*;

fn pepper_file(site: &Site, name: &str) -> String {
    let path = site.root.path().join(name);
    let mut secret = [0u8; 32];
    whistlebox::crypto::init().unwrap();
    whistlebox::crypto::random_fill(&mut secret);
    std::fs::write(
        &path,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret) + "\n",
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn a_frontend_refuses_what_does_not_belong_to_the_database() {
    let Some(db) = Database::new("a_frontend_refuses_what_does_not_belong_to_the_database") else {
        return;
    };
    let inspectors = Inspectors::new();
    let (a, b) = (Site::new(), Site::new());
    inspectors.server_keys(&a.keys());
    inspectors.server_keys(&b.keys());
    let (pa, pb) = (pepper_file(&a, "pepper"), pepper_file(&b, "pepper"));
    let first = a.start(&["--store", &db.url, "--pepper-file", &pa]);
    let receipt = first
        .submit(&seal_tip(&first.box_key(), "村里的账目不公开。", &[]))
        .json()["receipt"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another pepper: every receipt would be unknown, so the frontend stops.
    let err = b
        .try_start(&["--store", &db.url, "--pepper-file", &pb])
        .err()
        .expect("another pepper is refused");
    assert!(err.contains("pepper file does not belong"), "{err}");
    // The same pepper: the second frontend answers the first one's receipt.
    let second = b.start(&["--store", &db.url, "--pepper-file", &pa]);
    assert_eq!(second.status(&receipt).status, 200);
    assert_eq!(
        second.get("/api/v1/key").json()["receipt_kdf"],
        first.get("/api/v1/key").json()["receipt_kdf"],
        "one installation salt"
    );
    drop((first, second));

    // A schema newer than this build.
    db.client()
        .batch_execute("INSERT INTO whistlebox_schema (version) VALUES (99)")
        .unwrap();
    let err = a
        .try_start(&["--store", &db.url, "--pepper-file", &pa])
        .err()
        .expect("a newer schema is refused");
    assert!(
        err.contains("schema version 99, newer than this build"),
        "{err}"
    );

    // Nothing listening, and a TLS requirement the client cannot meet: plain errors.
    let nowhere = format!("host=127.0.0.1 port={} user=postgres dbname=x", free_port());
    let err = a
        .try_start(&["--store", &nowhere, "--pepper-file", &pa])
        .err()
        .expect("an unreachable database is refused");
    assert!(
        err.contains("cannot reach the PostgreSQL database"),
        "{err}"
    );
    let tls = format!("{} sslmode=require", db.url);
    let err = a
        .try_start(&["--store", &tls, "--pepper-file", &pa])
        .err()
        .expect("sslmode=require is refused, not ignored");
    assert!(
        err.contains("cannot reach the PostgreSQL database"),
        "{err}"
    );
    // Demo mode keeps its key in one frontend's data folder: refused with a shared store.
    let demo = Site::new();
    let err = demo
        .try_start(&["--store", &db.url, "--demo"])
        .err()
        .expect("demo mode is refused");
    assert!(err.contains("demo mode"), "{err}");
}

fn sign_directory(county: &Office, towns: &[&Office], out: &std::path::Path) {
    let mut args = vec![
        "offices".to_owned(),
        "sign".into(),
        "--key".into(),
        county.key().display().to_string(),
        "--passphrase-file".into(),
        county.pass.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for t in towns {
        args.push("--town".into());
        args.push(t.public().display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn office_ids(server: &Server) -> Vec<String> {
    server.get("/api/v1/key").json()["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_directory_of_offices_is_shared_through_the_database() {
    let Some(db) = Database::new("the_directory_of_offices_is_shared_through_the_database") else {
        return;
    };
    let (a, b) = (Site::new(), Site::new());
    let offline = a.root.path().join("offline");
    let county = Office::make(&offline, "county", "东山县纪委监委");
    let dongshan = Office::make(&offline, "dongshan", "东山镇纪委");
    let xishan = Office::make(&offline, "xishan", "西山镇纪委");
    let first = offline.join("offices-1.json");
    sign_directory(&county, &[&dongshan], &first);
    for site in [&a, &b] {
        std::fs::create_dir_all(site.keys()).unwrap();
        std::fs::copy(county.public(), site.keys().join("inspectors.pub")).unwrap();
    }
    // Only frontend A has the file; B takes the directory from the database.
    std::fs::copy(&first, a.keys().join("offices.json")).unwrap();
    let pepper = pepper_file(&a, "pepper");
    let flags = ["--store", &db.url, "--pepper-file", &pepper];
    let sa = a.start(&flags);
    let sb = b.start(&flags);
    assert_eq!(office_ids(&sb), ["county", "dongshan"]);

    // A newer one installed through A reaches B without a restart.
    let second = offline.join("offices-2.json");
    sign_directory(&county, &[&dongshan, &xishan], &second);
    let r = reply(
        agent()
            .post(&format!("{}/admin/v1/offices", sa.admin))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_bytes(&std::fs::read(&second).unwrap()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(40);
    while office_ids(&sb) != ["county", "dongshan", "xishan"] {
        assert!(
            Instant::now() < deadline,
            "B never took up the new directory"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The older one installed through B is refused: the database has seen number 2.
    let r = reply(
        agent()
            .post(&format!("{}/admin/v1/offices", sb.admin))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_bytes(&std::fs::read(&first).unwrap()),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    drop((sa, sb));
    // A frontend restarted with the older file in its keys folder uses the newer one.
    std::fs::copy(&first, b.keys().join("offices.json")).unwrap();
    let sb = b.start(&flags);
    assert_eq!(office_ids(&sb), ["county", "dongshan", "xishan"]);
}
