//! The desk hands a case to a town office (移送): the county's desk queues the hand-over and
//! writes the signed move bundle, the resident agrees, and the town's desk opens the case,
//! checking who moved it against the directory.

mod common;

use common::desk::{start_desk, DeskProc};
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
    let desk = start_desk(
        &c.county.key(),
        &county_ws,
        Some(&c.county.pass),
        &[
            "--import",
            export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
        ],
    )
    .expect("the county's desk");
    assert!(
        desk.printed().contains("1 new case(s)"),
        "{}",
        desk.printed()
    );
    let county = desk.sign_in();
    let ids = case_ids(&desk, &county);
    assert_eq!(ids.len(), 1);
    let case = format!("/en/case/{}", ids[0]);

    // The case page offers the town offices (not the county itself).
    let page = desk.get(&case, &county).body;
    assert!(page.contains("value=\"dongshan\""), "{page}");
    assert!(!page.contains("value=\"county\""), "{page}");
    // An office not in the directory is refused plainly; nothing is queued.
    let r = desk.post_form(&format!("{case}/move"), &county, &[("to", "nanshan")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("choose an office from the list"),
        "{}",
        r.body
    );
    let r = desk.post_form(&format!("{case}/move"), &county, &[("to", "dongshan")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = desk.post_form(&format!("{case}/move"), &county, &[("to", "dongshan")]);
    assert_eq!(r.status, 400, "the same office twice: {}", r.body);
    let outbox = desk.page("/en/outbox", &county);
    assert!(outbox.contains("id=\"moving-count\">1<"), "{outbox}");

    // Written out: a move bundle and the ack, numbered in order; the server takes both.
    let r = desk.post_form("/en/outbox", &county, &[]);
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
    assert!(desk.get(&case, &county).body.contains("in bundle no."));

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
    let bare = start_desk(
        &c.dongshan.key(),
        &c.path("town-desk-bare"),
        Some(&c.dongshan.pass),
        &["--import", town_export.to_str().unwrap()],
    )
    .expect("the town's desk");
    assert!(
        bare.printed().contains("0 new case(s)"),
        "{}",
        bare.printed()
    );
    assert!(bare.printed().contains("--directory"), "{}", bare.printed());
    drop(bare);

    // With the directory and the county's public key, the town opens the case.
    let town = start_desk(
        &c.dongshan.key(),
        &c.path("town-desk"),
        Some(&c.dongshan.pass),
        &[
            "--import",
            town_export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
            "--root",
            c.county.public().to_str().unwrap(),
        ],
    )
    .expect("the town's desk");
    assert!(
        town.printed().contains("1 new case(s)"),
        "{}",
        town.printed()
    );
    assert!(town.printed().contains("0 refused"), "{}", town.printed());
    let cookie = town.sign_in();
    assert_eq!(case_ids(&town, &cookie), ids);
    let page = town.get(&case, &cookie).body;
    assert!(page.contains(WORDS), "the town reads the words");
}

/// A case handed over once the server no longer holds its files (here it never had them)
/// reaches the town without them: the town's desk lists each by kind and size, and the
/// county's desk said before the hand-over that the files would not go with it.
#[test]
fn a_case_handed_over_without_its_files_says_which_did_not_come() {
    use common::evidence::{png, seal_files, Evidence};
    let c = County::new();
    let (refs, _blobs) = seal_files(&[Evidence::photo(png(40, 30)), Evidence::voice(2.0)]);
    let (photo_bytes, voice_bytes) = (refs[0].bytes, refs[1].bytes);
    let receipt = c.submit_with_files(WORDS, &[], refs);
    let export = c.path("county-export.json");
    std::fs::write(&export, c.export(None)).unwrap();
    let directory = c.site.keys().join("offices.json");
    let county_ws = c.path("county-desk");
    let desk = start_desk(
        &c.county.key(),
        &county_ws,
        Some(&c.county.pass),
        &[
            "--import",
            export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
        ],
    )
    .expect("the county's desk");
    assert!(
        desk.printed()
            .contains("0 evidence file(s) kept, 2 not kept"),
        "{}",
        desk.printed()
    );
    let county = desk.sign_in();
    let ids = case_ids(&desk, &county);
    let case = format!("/en/case/{}", ids[0]);
    let page = desk.page(&case, &county);
    assert!(page.contains("id=\"files-missing\""), "{page}");
    // The county goes on without them (they will not come), and hands the case over.
    desk.submit(&format!("{case}/files/waive"), &county, &[]);
    desk.submit(&format!("{case}/move"), &county, &[("to", "dongshan")]);
    let r = desk.post_form("/en/outbox", &county, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut files: Vec<String> = std::fs::read_dir(county_ws.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort_by_key(|f| f.split(['-', '.']).nth(1).unwrap().parse::<u64>().unwrap());
    for f in &files {
        let r = c.import(&county_ws.join("outbox").join(f));
        assert_eq!(r.status, 200, "{f}: {}", r.body);
    }
    let page = desk.page(&case, &county);
    assert!(page.contains("id=\"move-files\""), "{page}");
    assert!(page.contains("do not go with the hand-over"), "{page}");
    drop(desk);
    let r = c.server.post_json(
        "/api/v1/consent",
        &serde_json::json!({"receipt": receipt, "to": "dongshan", "agree": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let town_export = c.path("town-export.json");
    std::fs::write(&town_export, c.export(Some("dongshan"))).unwrap();
    let town = start_desk(
        &c.dongshan.key(),
        &c.path("town-desk"),
        Some(&c.dongshan.pass),
        &[
            "--import",
            town_export.to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
            "--root",
            c.county.public().to_str().unwrap(),
        ],
    )
    .expect("the town's desk");
    let printed = town.printed();
    assert!(printed.contains("1 new case(s)"), "{printed}");
    assert!(
        printed.contains("0 evidence file(s) kept, 2 not kept"),
        "{printed}"
    );
    assert!(printed.contains("file 1 (photo, "), "{printed}");
    assert!(printed.contains("file 2 (voice note, "), "{printed}");
    let cookie = town.sign_in();
    let page = town.page(&format!("/zh/case/{}", ids[0]), &cookie);
    let missing = page.split("id=\"files-missing\"").nth(1).expect(&page);
    let missing = &missing[..missing.find("</section>").unwrap()];
    let size = |b: u64| {
        if b < 1000 {
            format!("{b} 字节")
        } else if b < 1_000_000 {
            format!("{} KB", b.div_ceil(1000))
        } else {
            format!("{:.1} MB", b as f64 / 1e6)
        }
    };
    assert!(
        missing.contains(&format!("照片 1 · {}", size(photo_bytes))),
        "{missing}"
    );
    assert!(
        missing.contains(&format!("语音 2 · {}", size(voice_bytes))),
        "{missing}"
    );
    assert!(page.contains("没有随导出包送到"), "{page}");
}

/// The ids of the cases the inbox lists (every state), in its order.
fn case_ids(desk: &DeskProc, cookie: &str) -> Vec<String> {
    desk.page("/en/?state=all", cookie)
        .split("data-case=\"")
        .skip(1)
        .map(|rest| rest[..16].to_string())
        .collect()
}
