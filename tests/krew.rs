//! `scripts/krew-manifest`: the krew manifest of the kubectl plugin, from release archives.

use std::path::Path;
use std::process::Command;

use sha2::Digest as _;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/krew-manifest")
}

/// A release archive holding `snowflake-token-operator` at its top.
fn archive(dir: &Path, name: &str) -> std::path::PathBuf {
    let binary = dir.join("snowflake-token-operator");
    std::fs::write(&binary, b"#!/bin/sh\n").expect("binary");
    let path = dir.join(name);
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&path)
        .arg("-C")
        .arg(dir)
        .arg("snowflake-token-operator")
        .status()
        .expect("tar");
    assert!(status.success());
    path
}

#[test]
fn the_manifest_names_each_platform_with_its_checksum_and_the_plugin_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let linux = archive(
        dir.path(),
        "snowflake-token-operator-0.1.0-linux-amd64.tar.gz",
    );
    let mac = archive(
        dir.path(),
        "snowflake-token-operator-0.1.0-darwin-arm64.tar.gz",
    );
    let output = Command::new("bash")
        .arg(script())
        .args(["0.1.0", "https://example.com/releases/v0.1.0/"])
        .arg(&linux)
        .arg(&mac)
        .output()
        .expect("the script runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "snowflake");
    assert_eq!(manifest["spec"]["version"], "v0.1.0");
    let platforms = manifest["spec"]["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 2);
    for (platform, path, os, arch) in [
        (&platforms[0], &linux, "linux", "amd64"),
        (&platforms[1], &mac, "darwin", "arm64"),
    ] {
        let bytes = std::fs::read(path).expect("archive");
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        assert_eq!(platform["sha256"], sha.as_str());
        assert_eq!(platform["selector"]["matchLabels"]["os"], os);
        assert_eq!(platform["selector"]["matchLabels"]["arch"], arch);
        assert_eq!(platform["bin"], "kubectl-snowflake");
        assert_eq!(platform["files"][0]["to"], "kubectl-snowflake");
        let file = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(
            platform["uri"],
            format!("https://example.com/releases/v0.1.0/{file}").as_str()
        );
    }
}

#[test]
fn an_archive_it_cannot_place_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let odd = archive(
        dir.path(),
        "snowflake-token-operator-0.1.0-windows-x86.tar.gz",
    );
    let output = Command::new("bash")
        .arg(script())
        .args(["0.1.0", "https://example.com/"])
        .arg(&odd)
        .output()
        .expect("the script runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("must end in"));
}
