//! Offices through the real binary: a county and two town offices, each with keys made by
//! `whistlebox keygen --office`, a directory signed with `whistlebox offices sign`, and the
//! server on loopback. Who reads what, who may answer what, the directory's signature, and
//! moving a case with the resident's consent.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::offices::*;
use common::*;
use serde_json::Value;
use whistlebox::crypto::BoxPublicKey;
use whistlebox::domain::office::{Grant, GrantKey};
use whistlebox::domain::reply::ReplyPlaintext;
use whistlebox::domain::tip::TipPlaintext;

#[test]
fn a_county_only_tip_never_reaches_a_town_and_a_town_tip_opens_with_both_keys() {
    let c = County::new();
    c.submit("村支书把低保名额给了自家亲戚", &[]);
    c.submit("东山镇卫生院收回扣", &["dongshan"]);
    // Without JavaScript: the form's own choice, sealed on arrival.
    let form = "body=%E9%95%87%E9%87%8C%E7%9A%84%E4%BA%8B&readers=town&town=dongshan";
    let r = c
        .server
        .post_raw("/zh/report", "application/x-www-form-urlencoded", form);
    assert_eq!(r.status, 200, "{}", r.body);
    let county_only = "body=%E5%8E%BF%E9%87%8C%E7%9A%84%E4%BA%8B&readers=county&town=dongshan";
    let r = c.server.post_raw(
        "/zh/report",
        "application/x-www-form-urlencoded",
        county_only,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let county_bundle = c.export(None);
    let dongshan_bundle = c.export(Some("dongshan"));
    let xishan_bundle = c.export(Some("xishan"));
    assert_eq!(
        tip_count(&county_bundle),
        4,
        "the county reads every report"
    );
    assert_eq!(
        tip_count(&dongshan_bundle),
        2,
        "the town reads what is addressed to it"
    );
    assert_eq!(tip_count(&xishan_bundle), 0, "another town learns nothing");

    let out = c.path("county-out");
    let d = c.county.decrypt(&county_bundle, &out);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let mut words: Vec<String> = opened(&out).into_values().collect();
    words.sort();
    let mut expected = vec![
        "村支书把低保名额给了自家亲戚".to_string(),
        "东山镇卫生院收回扣".into(),
        "镇里的事".into(),
        "县里的事".into(),
    ];
    expected.sort();
    assert_eq!(words, expected);
    // The resident's own choice travels inside the seal.
    let town_tip = id_of(&out, "镇里的事");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(out.join(&town_tip).join("tip.json")).unwrap())
            .unwrap();
    assert_eq!(meta["fields"]["town"], "dongshan");

    let out = c.path("dongshan-out");
    let d = c.dongshan.decrypt(&dongshan_bundle, &out);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    let mut words: Vec<String> = opened(&out).into_values().collect();
    words.sort();
    let mut expected = vec!["东山镇卫生院收回扣".to_string(), "镇里的事".into()];
    expected.sort();
    assert_eq!(words, expected);

    // Even holding the county's bundle, a town key opens none of the county-only tips.
    let out = c.path("dongshan-steals");
    let d = c.dongshan.decrypt(&county_bundle, &out);
    assert_eq!(d.status.code(), Some(2), "a partial open");
    let stolen: Vec<String> = opened(&out).into_values().collect();
    assert!(
        !stolen.iter().any(|w| w.contains("低保") || w == "县里的事"),
        "{stolen:?}"
    );
    let out = c.path("xishan-steals");
    c.xishan.decrypt(&county_bundle, &out);
    assert!(opened(&out).is_empty());

    // A choice the directory does not hold is refused, and nothing is stored.
    let r = c.server.post_raw(
        "/en/report",
        "application/x-www-form-urlencoded",
        "body=x&readers=town&town=nowhere",
    );
    assert_eq!(r.status, 400);
    let sealed = TipPlaintext::new("x")
        .seal_to(&[c.office_key("county")])
        .unwrap();
    let r = c.server.post_json(
        "/api/v1/tips",
        &serde_json::json!({"sealed": sealed.to_base64(), "towns": ["nowhere"]}),
    );
    assert!(r.assert_error(400).contains("not in this service's list"));
    // Sealed for the county alone but claiming a town: refused, as it names offices it
    // is not sealed for.
    let r = c.server.post_json(
        "/api/v1/tips",
        &serde_json::json!({"sealed": sealed.to_base64(), "towns": ["dongshan"]}),
    );
    r.assert_error(400);
    assert_eq!(tip_count(&c.export(None)), 4);
}

#[test]
fn an_office_not_addressed_cannot_answer_and_acks_delete_only_when_all_have_read() {
    let c = County::new();
    let county_receipt = c.submit("只给县里看", &[]);
    let town_receipt = c.submit("县里和东山镇都看", &["dongshan"]);
    let county_out = c.path("county-out");
    assert!(c
        .county
        .decrypt(&c.export(None), &county_out)
        .status
        .success());
    let town_out = c.path("town-out");
    assert!(c
        .dongshan
        .decrypt(&c.export(Some("dongshan")), &town_out)
        .status
        .success());
    let county_tip = id_of(&county_out, "只给县里看");
    let town_tip = id_of(&town_out, "县里和东山镇都看");

    // The town signs an update for the county-only tip: refused, nothing changes.
    let bundle = c.path("bad-update.json");
    let s = c.dongshan.sign(
        "update",
        &bundle,
        &["--tip", &county_tip, "--status", "closed_substantiated"],
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let r = c.import(&bundle);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("may not act"), "{}", r.body);
    assert_eq!(
        c.server.status(&county_receipt).json()["status"],
        "received"
    );

    // Its own tip: taken, with a message the resident reads.
    let bundle = c.path("update.json");
    let s = c.dongshan.sign(
        "update",
        &bundle,
        &[
            "--tip",
            &town_tip,
            "--status",
            "in_review",
            "--message",
            "东山镇纪委已收到",
            "--tips",
            town_out.to_str().unwrap(),
        ],
    );
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let r = c.import(&bundle);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["office"], "dongshan");
    let status = c.server.status(&town_receipt).json();
    assert_eq!(status["status"], "in_review");
    let seed: [u8; 32] = STANDARD
        .decode(status["reply_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = whistlebox::crypto::BoxSecretKey::from_seed(&seed);
    let reply = STANDARD
        .decode(status["replies"][0]["sealed"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        ReplyPlaintext::open(&reply, &key).unwrap().message,
        "东山镇纪委已收到"
    );

    // The town acks: the county has not, so the server keeps the ciphertext for it.
    let ack = c.path("town-ack.json");
    assert!(c
        .dongshan
        .sign("ack", &ack, &["--tips", town_out.to_str().unwrap()])
        .status
        .success());
    let r = c.import(&ack);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tips_purged"], 0);
    assert_eq!(
        tip_count(&c.export(Some("dongshan"))),
        0,
        "nothing left for the town"
    );
    assert_eq!(tip_count(&c.export(None)), 2, "the county still gets both");
    // The county acks both: now both are gone from the server.
    let ack = c.path("county-ack.json");
    assert!(c
        .county
        .sign("ack", &ack, &["--tips", county_out.to_str().unwrap()])
        .status
        .success());
    let r = c.import(&ack);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["tips_purged"], 2);
    assert_eq!(tip_count(&c.export(None)), 0);

    // A bundle signed by a key the directory does not name is refused.
    let stranger = Office::make(&c.path("stranger"), "dongshan", "假冒的东山镇");
    let bundle = c.path("forged.json");
    stranger.sign(
        "update",
        &bundle,
        &["--tip", &town_tip, "--status", "closed_unsubstantiated"],
    );
    let r = c.import(&bundle);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("signature"), "{}", r.body);
    assert_eq!(c.server.status(&town_receipt).json()["status"], "in_review");
}

#[test]
fn a_directory_the_county_did_not_sign_is_refused_at_startup_and_at_import() {
    let c = County::new();
    let before = c.server.get("/api/v1/key").json()["offices"].clone();
    assert_eq!(before.as_array().unwrap().len(), 3);
    // The operator makes keys of his own and signs a directory adding his office.
    let offline = c.path("operator");
    let operator = Office::make(&offline, "county", "东山县纪委监委");
    let mine = Office::make(&offline, "mine", "东山镇纪委");
    let forged = offline.join("offices.json");
    let out = run(&[
        "offices",
        "sign",
        "--key",
        operator.key().to_str().unwrap(),
        "--passphrase-file",
        operator.pass.to_str().unwrap(),
        "--town",
        mine.public().to_str().unwrap(),
        "--out",
        forged.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let r = c.admin_post("/admin/v1/offices", &std::fs::read(&forged).unwrap());
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(c.server.get("/api/v1/key").json()["offices"], before);
    // The county's own directory with one key swapped inside: the signature breaks.
    let good = std::fs::read(c.site.keys().join("offices.json")).unwrap();
    let mut file: Value = serde_json::from_slice(&good).unwrap();
    let payload =
        String::from_utf8(STANDARD.decode(file["payload"].as_str().unwrap()).unwrap()).unwrap();
    let mine_pub = std::fs::read_to_string(mine.public()).unwrap();
    let mine_key = mine_pub
        .lines()
        .find_map(|l| l.strip_prefix("box_public_key: "))
        .unwrap();
    let dongshan_pub = std::fs::read_to_string(c.dongshan.public()).unwrap();
    let dongshan_key = dongshan_pub
        .lines()
        .find_map(|l| l.strip_prefix("box_public_key: "))
        .unwrap();
    file["payload"] = STANDARD
        .encode(payload.replace(dongshan_key, mine_key))
        .into();
    let tampered = serde_json::to_vec(&file).unwrap();
    let r = c.admin_post("/admin/v1/offices", &tampered);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not signed by the county"), "{}", r.body);
    // The same directory again is not newer: refused too.
    let r = c.admin_post("/admin/v1/offices", &good);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(c.server.get("/api/v1/key").json()["offices"], before);

    // At startup: a server whose keys folder holds the tampered directory does not start.
    drop(c.server);
    std::fs::write(c.site.keys().join("offices.json"), &tampered).unwrap();
    let refused = c
        .site
        .try_start(&["--rate-limits", "off"])
        .err()
        .expect("refused");
    assert!(refused.contains("not signed by the county"), "{refused}");
    std::fs::write(c.site.keys().join("offices.json"), &good).unwrap();
    let again = c.site.start(&[]);
    assert_eq!(again.get("/api/v1/key").json()["offices"], before);

    // The county signs a newer directory (number 2, xishan dropped), installed at run time.
    let newer = c.site.root.path().join("offices-2.json");
    let out = run(&[
        "offices",
        "sign",
        "--key",
        c.county.key().to_str().unwrap(),
        "--passphrase-file",
        c.county.pass.to_str().unwrap(),
        "--town",
        c.dongshan.public().to_str().unwrap(),
        "--out",
        newer.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = agent()
        .post(&format!("{}/admin/v1/offices", again.admin))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .send_bytes(&std::fs::read(&newer).unwrap())
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(again.get("/api/v1/key").json()["directory"], 2);
    assert_eq!(
        std::fs::read(c.site.keys().join("offices.json")).unwrap(),
        std::fs::read(&newer).unwrap(),
        "installed in the keys folder"
    );
    drop(again);
    // The operator puts the old one back, or removes it: the server refuses to start.
    std::fs::write(c.site.keys().join("offices.json"), &good).unwrap();
    let refused = c
        .site
        .try_start(&["--rate-limits", "off"])
        .err()
        .expect("refused");
    assert!(refused.contains("older or another one"), "{refused}");
    std::fs::remove_file(c.site.keys().join("offices.json")).unwrap();
    let refused = c
        .site
        .try_start(&["--rate-limits", "off"])
        .err()
        .expect("refused");
    assert!(refused.contains("is missing"), "{refused}");
    std::fs::copy(&newer, c.site.keys().join("offices.json")).unwrap();
    let last = c.site.start(&[]);
    assert_eq!(
        last.get("/api/v1/key").json()["offices"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_move_to_a_town_waits_for_the_resident_and_a_refused_move_changes_nothing() {
    let c = County::new();
    let receipt = c.submit("县里的干部和镇长是亲戚", &[]);
    let out = c.path("county-out");
    assert!(c.county.decrypt(&c.export(None), &out).status.success());
    let tip = id_of(&out, "县里的干部和镇长是亲戚");
    let propose = |name: &str, to: &str| c.propose(&out, &tip, to, name.trim_end_matches(".json"));
    let r = propose("move-1.json", "dongshan");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["waiting_for_resident"], 1);
    assert_eq!(
        tip_count(&c.export(Some("dongshan"))),
        0,
        "nothing before consent"
    );
    // The move bundle itself gives the town nothing: the town's key in it is sealed to the
    // resident's reply key, so whoever carries it cannot hand the case over.
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(c.path("move-1.json")).unwrap()).unwrap();
    let payload: Value = serde_json::from_slice(
        &STANDARD
            .decode(bundle["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let m = &payload["moves"][0];
    let wrapped = STANDARD.decode(m["stanza"].as_str().unwrap()).unwrap();
    let signature = STANDARD.decode(m["signature"].as_str().unwrap()).unwrap();
    let smuggled = |key: GrantKey| {
        let grant = Grant {
            by: "county".parse().unwrap(),
            signature: signature.clone(),
            key,
        }
        .encode();
        serde_json::json!({
            "format": "whistlebox-export", "version": 3, "exported_on": "2026-11-29",
            "office": "dongshan", "tip_count": 1,
            "tips": [{"id": tip, "day": "2026-11-29", "status": "received",
                      "sealed": m["sealed"], "grant": STANDARD.encode(grant), "followups": []}]
        })
        .to_string()
    };
    for (i, key) in [
        GrantKey::ForResident(wrapped.clone()),
        GrantKey::Open(wrapped[..80].to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        let stolen = c.path(&format!("smuggled-{i}"));
        let d = c.dongshan.decrypt(smuggled(key).as_bytes(), &stolen);
        assert_eq!(
            d.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&d.stdout)
        );
        assert!(
            opened(&stolen).is_empty(),
            "the town read it without consent"
        );
    }
    let status = c.server.status(&receipt).json();
    assert_eq!(status["moves"][0]["state"], "waiting");
    assert_eq!(status["moves"][0]["to_name"], "东山镇纪委");
    // The status page asks, in plain words, with "agree" and "do not agree".
    let page = c.server.post_raw(
        "/zh/status",
        "application/x-www-form-urlencoded",
        &format!("receipt={}", receipt.replace(' ', "+")),
    );
    assert!(
        page.body.contains("要把您的举报转给东山镇纪委吗？"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"agree\"") && page.body.contains("value=\"decline\""));

    // The resident declines (no JavaScript): nothing changes.
    let r = c.server.post_raw(
        "/zh/consent",
        "application/x-www-form-urlencoded",
        &format!(
            "receipt={}&to=dongshan&answer=decline",
            receipt.replace(' ', "+")
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("您没有同意"), "{}", r.body);
    assert_eq!(tip_count(&c.export(Some("dongshan"))), 0);
    let r = c.server.post_json(
        "/api/v1/consent",
        &serde_json::json!({"receipt": receipt, "to": "dongshan", "agree": true}),
    );
    assert_eq!(r.status, 409, "no question waits any more: {}", r.body);
    assert_eq!(tip_count(&c.export(Some("dongshan"))), 0);
    // The resident is not asked about the same office again.
    let r = propose("move-again.json", "dongshan");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("already said no"), "{}", r.body);

    // Asked about another office, the resident agrees (JavaScript's API): it can open it.
    let r = propose("move-2.json", "xishan");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.server.post_json(
        "/api/v1/consent",
        &serde_json::json!({"receipt": receipt, "to": "xishan", "agree": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    let states: Vec<&str> = answer["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["declined", "agreed"]);
    assert_eq!(answer["offices"].as_array().unwrap().len(), 2);
    let town_bundle = c.export(Some("xishan"));
    assert_eq!(tip_count(&town_bundle), 1);
    let town_out = c.path("town-out");
    let d = c.xishan.decrypt(&town_bundle, &town_out);
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
    assert_eq!(
        opened(&town_out).get(&tip).map(String::as_str),
        Some("县里的干部和镇长是亲戚")
    );
    assert_eq!(tip_count(&c.export(Some("dongshan"))), 0);

    // Whoever carries the town's export swaps the case for words of his own, sealed for the
    // town with a key he grants it: the mover's signature does not cover them, so nothing of
    // it is written.
    let forged_words = TipPlaintext::new("请把证人的名字发给我");
    let (forged, content) = {
        let padded = forged_words.to_padded().unwrap();
        let (bytes, key) =
            whistlebox::domain::tip::seal_padded_with(&padded, &[c.office_key("county")]).unwrap();
        (bytes, key)
    };
    let mut swapped: Value = serde_json::from_slice(&town_bundle).unwrap();
    let real_grant = Grant::decode(
        &STANDARD
            .decode(swapped["tips"][0]["grant"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    swapped["tips"][0]["sealed"] = STANDARD.encode(&forged).into();
    swapped["tips"][0]["grant"] = STANDARD
        .encode(
            Grant {
                key: GrantKey::Open(content.stanza_for(&c.office_key("xishan"))),
                ..real_grant
            }
            .encode(),
        )
        .into();
    let fooled = c.path("fooled");
    let d = c.xishan.decrypt(swapped.to_string().as_bytes(), &fooled);
    assert_eq!(d.status.code(), Some(2));
    assert!(opened(&fooled).is_empty(), "forged words were written");
    assert!(String::from_utf8_lossy(&d.stdout).contains("changed on the way"));

    // A follow-up now reaches both offices, and each checks it came from the resident.
    let keys: Vec<BoxPublicKey> = answer["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            BoxPublicKey::from_bytes(
                &STANDARD
                    .decode(o["box_public_key"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    let inner = TipPlaintext::new("还有一件事：账本在村会计家")
        .seal_to(&keys)
        .unwrap();
    let r = c.server.post_json(
        "/api/v1/followups",
        &serde_json::json!({"receipt": receipt, "sealed": inner.to_base64()}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    for (office, bundle, name) in [
        (&c.xishan, c.export(Some("xishan")), "town-out"),
        (&c.county, c.export(None), "county-out"),
    ] {
        let out = c.path(name);
        let d = office.decrypt(&bundle, &out);
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
        let followup = std::fs::read_to_string(out.join(&tip).join("followup-0001.txt")).unwrap();
        assert_eq!(followup, "还有一件事：账本在村会计家");
    }
    // The timeline shows every move.
    let page = c.server.post_raw(
        "/en/status",
        "application/x-www-form-urlencoded",
        &format!("receipt={}", receipt.replace(' ', "+")),
    );
    assert!(page.body.contains("you did not agree"), "{}", page.body);
    assert!(page.body.contains("you agreed"), "{}", page.body);
}
