//! A county with two town offices, for the offices tests (tests/offices.rs) and their
//! browser tests: keys made by `whistlebox keygen --office`, a directory signed with
//! `whistlebox offices sign`, the server on loopback with both.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use whistlebox::crypto::BoxPublicKey;
use whistlebox::domain::tip::TipPlaintext;

use super::*;

/// One office's offline machine: its key folder and passphrase.
pub struct Office {
    pub dir: PathBuf,
    pub pass: PathBuf,
}

impl Office {
    pub fn make(root: &Path, id: &str, name: &str) -> Self {
        let dir = root.join(id);
        let pass = root.join(format!("{id}.pass"));
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(&pass, format!("{PASSPHRASE} {id}\n")).unwrap();
        let out = run(&[
            "keygen",
            "--out",
            dir.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--office",
            id,
            "--name",
            name,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, pass }
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("inspectors.key")
    }
    pub fn public(&self) -> PathBuf {
        self.dir.join("inspectors.pub")
    }
    /// Runs a signing command (`update`, `ack`, `move`) with this office's key.
    pub fn sign(&self, command: &str, out: &Path, args: &[&str]) -> std::process::Output {
        let key = self.key();
        let mut all = vec![
            command,
            "--key",
            key.to_str().unwrap(),
            "--passphrase-file",
            self.pass.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        run(&all)
    }
    /// Runs `decrypt`, with the county's directory and key beside this office's folder
    /// (where `County::new` puts them) to check moved cases.
    pub fn decrypt(&self, bundle: &[u8], out: &Path) -> std::process::Output {
        let path = out.with_extension("bundle.json");
        std::fs::write(&path, bundle).unwrap();
        let offline = self.dir.parent().unwrap();
        let directory = offline.join("offices.json");
        let root = offline.join("county").join("inspectors.pub");
        let mut args = vec![
            "decrypt".to_string(),
            "--key".into(),
            self.key().to_str().unwrap().into(),
            "--passphrase-file".into(),
            self.pass.to_str().unwrap().into(),
            "--bundle".into(),
            path.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        if directory.exists() && root.exists() {
            args.extend([
                "--directory".into(),
                directory.to_str().unwrap().into(),
                "--root".into(),
                root.to_str().unwrap().into(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    }
}

/// A county with two town offices and a server that has their signed directory.
pub struct County {
    pub site: Site,
    pub county: Office,
    pub dongshan: Office,
    pub xishan: Office,
    pub server: Server,
}

impl County {
    pub fn new() -> Self {
        let site = Site::new();
        let offline = site.root.path().join("offline");
        let county = Office::make(&offline, "county", "东山县纪委监委");
        let dongshan = Office::make(&offline, "dongshan", "东山镇纪委");
        let xishan = Office::make(&offline, "xishan", "西山镇纪委");
        let directory = offline.join("offices.json");
        let out = run(&[
            "offices",
            "sign",
            "--key",
            county.key().to_str().unwrap(),
            "--passphrase-file",
            county.pass.to_str().unwrap(),
            "--town",
            dongshan.public().to_str().unwrap(),
            "--town",
            xishan.public().to_str().unwrap(),
            "--out",
            directory.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(site.keys()).unwrap();
        std::fs::copy(county.public(), site.keys().join("inspectors.pub")).unwrap();
        std::fs::copy(&directory, site.keys().join("offices.json")).unwrap();
        let server = site.start(&[]);
        Self {
            site,
            county,
            dongshan,
            xishan,
            server,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.site.root.path().join(name)
    }

    /// The offices the server publishes: id -> box key.
    pub fn office_key(&self, id: &str) -> BoxPublicKey {
        let key = self.server.get("/api/v1/key").json();
        let office = key["offices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .unwrap_or_else(|| panic!("office {id} in {key}"))
            .clone();
        BoxPublicKey::from_bytes(
            &STANDARD
                .decode(office["box_public_key"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    }

    /// Files a tip as the report page's script does, sealed for the county and `towns`.
    /// Returns the receipt.
    pub fn submit(&self, body: &str, towns: &[&str]) -> String {
        self.submit_with_files(body, towns, Vec::new())
    }

    /// [`County::submit`] of a tip that names evidence files (their blobs are not uploaded:
    /// the server holds none of them).
    pub fn submit_with_files(
        &self,
        body: &str,
        towns: &[&str],
        files: Vec<whistlebox::domain::attachment::AttachmentRef>,
    ) -> String {
        let r = self
            .server
            .post_json("/api/v1/receipts", &serde_json::json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let reserved = r.json();
        let reply = STANDARD
            .decode(reserved["reply_key"].as_str().unwrap())
            .unwrap();
        let mut tip = TipPlaintext::new(body);
        tip.bind_reply_key(&BoxPublicKey::from_bytes(&reply).unwrap());
        tip.attachments = files;
        let mut keys = vec![self.office_key("county")];
        keys.extend(towns.iter().map(|t| self.office_key(t)));
        let sealed = tip.seal_to(&keys).unwrap();
        let r = self.server.post_json(
            "/api/v1/tips",
            &serde_json::json!({
                "sealed": sealed.to_base64(),
                "ticket": reserved["ticket"],
                "towns": towns,
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        reserved["receipt"].as_str().unwrap().to_owned()
    }

    pub fn export(&self, office: Option<&str>) -> Vec<u8> {
        let path = match office {
            Some(o) => format!("{}/admin/v1/export?office={o}", self.server.admin),
            None => format!("{}/admin/v1/export", self.server.admin),
        };
        let r = agent()
            .get(&path)
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        r.into_string().unwrap().into_bytes()
    }

    pub fn admin_post(&self, path: &str, body: &[u8]) -> Reply {
        let r = agent()
            .post(&format!("{}{path}", self.server.admin))
            .set("Authorization", &format!("Bearer {TOKEN}"))
            .send_bytes(body);
        match r {
            Ok(r) => Reply {
                status: r.status(),
                body: r.into_string().unwrap(),
                headers: vec![],
            },
            Err(ureq::Error::Status(code, r)) => Reply {
                status: code,
                body: r.into_string().unwrap(),
                headers: vec![],
            },
            Err(e) => panic!("{e}"),
        }
    }

    pub fn import(&self, bundle: &Path) -> Reply {
        self.admin_post("/admin/v1/import", &std::fs::read(bundle).unwrap())
    }
}

pub fn tip_count(bundle: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(bundle).unwrap();
    v["tips"].as_array().unwrap().len()
}

/// id -> words of every tip opened into `out`.
pub fn opened(out: &Path) -> std::collections::BTreeMap<String, String> {
    if !out.exists() {
        return Default::default();
    }
    read_decrypted(out)
}

pub fn id_of(out: &Path, words: &str) -> String {
    opened(out)
        .into_iter()
        .find(|(_, text)| text == words)
        .unwrap_or_else(|| panic!("no tip with {words:?} in {}", out.display()))
        .0
}

impl County {
    /// The county opens its export into `out` and proposes to move the tip with `words` to
    /// town `to`; the server then waits for the resident. Returns the tip id.
    pub fn county_proposes_move(&self, words: &str, to: &str, name: &str) -> String {
        let out = self.path(&format!("{name}-out"));
        let d = self.county.decrypt(&self.export(None), &out);
        assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stdout));
        let tip = id_of(&out, words);
        let r = self.propose(&out, &tip, to, name);
        assert_eq!(r.status, 200, "{}", r.body);
        tip
    }
}

impl County {
    /// The county signs the move of `tip` (opened into `out`) to `to` and imports it;
    /// returns the server's answer.
    pub fn propose(&self, out: &Path, tip: &str, to: &str, name: &str) -> Reply {
        let bundle = self.path(&format!("{name}.json"));
        let directory = self.site.keys().join("offices.json");
        let s = self.county.sign(
            "move",
            &bundle,
            &[
                "--tips",
                out.to_str().unwrap(),
                "--tip",
                tip,
                "--to",
                to,
                "--directory",
                directory.to_str().unwrap(),
            ],
        );
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        self.import(&bundle)
    }
}
