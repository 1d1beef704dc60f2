//! Build script: bundles the report page's sealing script with esbuild when the npm packages
//! are installed (`npm ci` in src/web/assets), and embeds whatever bundle exists. Without one
//! the server still works: the report form posts to the server, which seals on arrival.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let assets = Path::new("src/web/assets");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("report.js");
    let worker_out = out_dir.join("receipt-worker.js");
    let clerk_out = out_dir.join("clerk.js");
    let attach_out = out_dir.join("attach.js");
    for watched in [
        "js",
        "build.mjs",
        "package-lock.json",
        "node_modules/.package-lock.json",
        "dist/report.js",
        "dist/receipt-worker.js",
        "dist/clerk.js",
        "dist/attach.js",
    ] {
        println!("cargo:rerun-if-changed={}", assets.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=WHISTLEBOX_NO_JS");
    if env::var_os("WHISTLEBOX_NO_JS").is_some() {
        for path in [&out, &worker_out, &attach_out, &clerk_out] {
            fs::write(path, b"").expect("write empty bundle");
        }
        return;
    }
    if assets.join("node_modules/esbuild").exists() {
        let status = Command::new("node")
            .arg("build.mjs")
            .current_dir(assets)
            .env("WHISTLEBOX_BUNDLE_OUT", &out)
            .env("WHISTLEBOX_WORKER_OUT", &worker_out)
            .env("WHISTLEBOX_CLERK_OUT", &clerk_out)
            .env("WHISTLEBOX_ATTACH_OUT", &attach_out)
            .status();
        match status {
            Ok(s) if s.success() => return,
            other => println!("cargo:warning=esbuild failed ({other:?}); trying a prebuilt bundle"),
        }
    }
    let prebuilt = assets.join("dist/report.js");
    let prebuilt_worker = assets.join("dist/receipt-worker.js");
    let prebuilt_attach = assets.join("dist/attach.js");
    let prebuilt_clerk = assets.join("dist/clerk.js");
    if prebuilt.exists() && prebuilt_worker.exists() {
        fs::copy(&prebuilt, &out).expect("copy prebuilt bundle");
        fs::copy(&prebuilt_worker, &worker_out).expect("copy prebuilt bundle");
        // An older prebuilt set may lack the evidence bundle or the clerk's: the pages then
        // post files to the server, which cleans and seals them, and the clerk's pages say
        // they need their script.
        for (prebuilt, out) in [
            (&prebuilt_attach, &attach_out),
            (&prebuilt_clerk, &clerk_out),
        ] {
            if prebuilt.exists() {
                fs::copy(prebuilt, out).expect("copy prebuilt bundle");
            } else {
                fs::write(out, b"").expect("write empty bundle");
            }
        }
    } else {
        println!(
            "cargo:warning=no JavaScript bundle (run `npm ci` in src/web/assets): pages will work without in-browser sealing"
        );
        for path in [&out, &worker_out, &attach_out, &clerk_out] {
            fs::write(path, b"").expect("write empty bundle");
        }
    }
}
