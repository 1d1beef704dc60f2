//! The desk hands a case to a town office (移送): the county's desk queues the hand-over and
//! writes the signed move bundle, the resident agrees, and the town's desk opens the case,
//! checking who moved it against the directory.

mod common;

use common::desk::{DeskClient, DeskProcess};
use common::offices::{tip_count, County};

const WORDS: &str = "县里的干部和镇长是亲戚，低保名单请东山镇重新核查";

#[test]
fn a_case_handed_to_a_town_from_the_desk_opens_there_only_after_the_resident_agrees() {
    let c = County::new();
    // Addressed to the county alone: the town knows nothing of it yet.
    let receipt = c.submit(WORDS, &[]);
    let export = c.path("county-export.json");
    std::fs::write(&export, c.export(None)).unwrap();
    let directory = c.site.keys().join("offices.json");
    let county_ws = c.path("county-desk");
    let pass = c.county.pass.to_str().unwrap().to_string();
    let desk = DeskProcess::start(
        &c.county.key(),
        &county_ws,
        &[
            "--passphrase-file",
            &pass,
            "--import",
            export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
        ],
    )
    .expect("the county's desk");
    assert!(desk.printed.contains("1 new case(s)"), "{}", desk.printed);
    let county = DeskClient::sign_in(&desk);
    let ids = county.case_ids();
    assert_eq!(ids.len(), 1);
    let case = format!("/en/case/{}", ids[0]);

    // The case page offers the town offices (not the county itself).
    let page = county.get(&case).body;
    assert!(page.contains("value=\"dongshan\""), "{page}");
    assert!(!page.contains("value=\"county\""), "{page}");
    // An office not in the directory is refused plainly; nothing is queued.
    let r = county.post_form(&format!("{case}/move"), &[("to", "nanshan")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("choose an office from the list"),
        "{}",
        r.body
    );
    let r = county.post_form(&format!("{case}/move"), &[("to", "dongshan")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = county.post_form(&format!("{case}/move"), &[("to", "dongshan")]);
    assert_eq!(r.status, 400, "the same office twice: {}", r.body);
    assert!(county
        .get("/en/outbox")
        .body
        .contains("id=\"moving-count\">1<"));

    // Written out: a move bundle and the ack, numbered in order; the server takes both.
    let r = county.post_form("/en/outbox", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let outbox = county_ws.join("outbox");
    let mut files: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort_by_key(|f| f.split(['-', '.']).nth(1).unwrap().parse::<u64>().unwrap());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("move-"), "{files:?}");
    assert!(files[1].starts_with("ack-"), "{files:?}");
    for f in &files {
        let r = c.import(&outbox.join(f));
        assert_eq!(r.status, 200, "{f}: {}", r.body);
    }
    assert!(county.get(&case).body.contains("in bundle no."));

    // Before the resident agrees, the town's export holds nothing.
    assert_eq!(tip_count(&c.export(Some("dongshan"))), 0);
    let r = c.server.post_json(
        "/api/v1/consent",
        &serde_json::json!({"receipt": receipt, "to": "dongshan", "agree": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let town_export = c.path("town-export.json");
    std::fs::write(&town_export, c.export(Some("dongshan"))).unwrap();

    // The town's desk without the directory cannot check who moved it: nothing is taken.
    let town_pass = c.dongshan.pass.to_str().unwrap().to_string();
    let bare = DeskProcess::start(
        &c.dongshan.key(),
        &c.path("town-desk-bare"),
        &[
            "--passphrase-file",
            &town_pass,
            "--import",
            town_export.to_str().unwrap(),
        ],
    )
    .expect("the town's desk");
    assert!(bare.printed.contains("0 new case(s)"), "{}", bare.printed);
    assert!(bare.printed.contains("--directory"), "{}", bare.printed);
    drop(bare);

    // With the directory and the county's public key, the town opens the case.
    let town = DeskProcess::start(
        &c.dongshan.key(),
        &c.path("town-desk"),
        &[
            "--passphrase-file",
            &town_pass,
            "--import",
            town_export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
            "--root",
            c.county.public().to_str().unwrap(),
        ],
    )
    .expect("the town's desk");
    assert!(town.printed.contains("1 new case(s)"), "{}", town.printed);
    assert!(town.printed.contains("0 refused"), "{}", town.printed);
    let client = DeskClient::sign_in(&town);
    assert_eq!(client.case_ids(), ids);
    let page = client.get(&case).body;
    assert!(page.contains(WORDS), "the town reads the words");
}
