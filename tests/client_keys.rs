//! Key loading in every PEM form `openssl` produces, the fingerprint against `openssl`'s,
//! and the key-pair JWT's claims and renewal.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use snowflake_token_operator::snowflake::jwt::Claims;
use snowflake_token_operator::snowflake::{
    Account, Authenticator, Clock, JwtSigner, ManualClock, PrivateKey,
};

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Generates a 2048-bit key and writes it as plain PKCS#8, encrypted PKCS#8 and PKCS#1.
fn fixtures(dir: &Path) -> (String, String, String) {
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "p8.pem",
        ],
        dir,
    );
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "p8.pem",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:correct horse",
            "-out",
            "enc.pem",
        ],
        dir,
    );
    openssl(
        &["rsa", "-in", "p8.pem", "-traditional", "-out", "p1.pem"],
        dir,
    );
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    (read("p8.pem"), read("enc.pem"), read("p1.pem"))
}

fn openssl_fingerprint(dir: &Path) -> String {
    let der = openssl(&["rsa", "-in", "p8.pem", "-pubout", "-outform", "DER"], dir);
    std::fs::write(dir.join("pub.der"), der).unwrap();
    let digest = openssl(&["dgst", "-sha256", "-binary", "pub.der"], dir);
    std::fs::write(dir.join("digest.bin"), digest).unwrap();
    let b64 = openssl(&["base64", "-A", "-in", "digest.bin"], dir);
    format!("SHA256:{}", String::from_utf8(b64).unwrap().trim())
}

#[test]
fn all_pem_forms_load_to_the_same_key_with_openssls_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (p8, enc, p1) = fixtures(dir.path());
    let expected = openssl_fingerprint(dir.path());
    let pass = SecretString::from("correct horse".to_owned());

    let plain = PrivateKey::from_pem(&p8, None).unwrap();
    let encrypted = PrivateKey::from_pem(&enc, Some(&pass)).unwrap();
    let pkcs1 = PrivateKey::from_pem(&p1, None).unwrap();
    for key in [&plain, &encrypted, &pkcs1] {
        assert_eq!(key.fingerprint(), expected);
        assert_eq!(key.bits(), 2048);
    }
    // What ALTER USER SET RSA_PUBLIC_KEY takes: the DER, base64, no armour.
    let pub_pem =
        String::from_utf8(openssl(&["rsa", "-in", "p8.pem", "-pubout"], dir.path())).unwrap();
    let body: String = pub_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(plain.public_key_base64(), body);

    // Debug shows the fingerprint, never key material.
    let debug = format!("{plain:?}");
    assert!(debug.contains(&expected));
    let key_body: String = p8.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!debug.contains(&key_body[..40]));
}

#[test]
fn bad_keys_are_refused_with_reasons_that_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, enc, _) = fixtures(dir.path());
    let wrong = SecretString::from("hunter2-nope".to_owned());
    let err = PrivateKey::from_pem(&enc, Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(err.contains("passphrase"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = PrivateKey::from_pem(&enc, None).unwrap_err().to_string();
    assert!(err.contains("no passphrase"), "{err}");

    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "small.pem",
        ],
        dir.path(),
    );
    let small = std::fs::read_to_string(dir.path().join("small.pem")).unwrap();
    let err = PrivateKey::from_pem(&small, None).unwrap_err().to_string();
    assert!(err.contains("1024") && err.contains("2048"), "{err}");

    let err = PrivateKey::from_pem("not a key", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("BEGIN PRIVATE KEY"), "{err}");
}

#[test]
fn jwt_claims_follow_the_key_pair_rule_and_renew_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (p8, _, _) = fixtures(dir.path());
    let pub_pem = openssl(&["rsa", "-in", "p8.pem", "-pubout"], dir.path());
    let key = PrivateKey::from_pem(&p8, None).unwrap();
    let account = Account::new("xy12345.us-east-2.aws", None).unwrap();
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let signer = JwtSigner::new(&account, "bi_svc", &key, clock.clone() as Arc<dyn Clock>).unwrap();

    let decode = |token: &SecretString| -> Claims {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let decoding = DecodingKey::from_rsa_pem(&pub_pem).unwrap();
        jsonwebtoken::decode::<Claims>(token.expose_secret(), &decoding, &validation)
            .expect("signature verifies with the public key")
            .claims
    };

    let first = signer.bearer().unwrap();
    let claims = decode(&first);
    assert_eq!(claims.sub, "XY12345.BI_SVC");
    assert_eq!(claims.iss, format!("XY12345.BI_SVC.{}", key.fingerprint()));
    assert_eq!(claims.iat, start.as_second());
    assert_eq!(claims.exp - claims.iat, 59 * 60);
    assert_eq!(signer.token_type(), "KEYPAIR_JWT");

    // Cached while more than five minutes are left.
    clock.advance(SignedDuration::from_mins(53));
    assert_eq!(
        signer.bearer().unwrap().expose_secret(),
        first.expose_secret()
    );

    // Renewed once less than five minutes are left, before Snowflake would refuse it.
    clock.advance(SignedDuration::from_mins(2));
    let renewed = signer.bearer().unwrap();
    assert_ne!(renewed.expose_secret(), first.expose_secret());
    let renewed_claims = decode(&renewed);
    assert_eq!(renewed_claims.iat, start.as_second() + 55 * 60);

    // A refused token is replaced on the next request, within the same second too: by a
    // different token (re-signing the same claims would send the same bytes), dated a
    // minute earlier to absorb a Snowflake clock that is behind ours.
    let refused_at = start.as_second() + 55 * 60;
    signer.invalidate();
    let after_refusal = signer.bearer().unwrap();
    assert_ne!(after_refusal.expose_secret(), renewed.expose_secret());
    let after_refusal_claims = decode(&after_refusal);
    assert_eq!(after_refusal_claims.iat, refused_at - 60);
    assert_eq!(after_refusal_claims.exp - after_refusal_claims.iat, 59 * 60);
    // A second refusal in the same second moves it earlier again, never to the same bytes.
    signer.invalidate();
    let again = signer.bearer().unwrap();
    assert_ne!(again.expose_secret(), after_refusal.expose_secret());
    assert_eq!(decode(&again).iat, refused_at - 61);
    // Later renewals are dated now again.
    clock.advance(SignedDuration::from_mins(55));
    assert_eq!(
        decode(&signer.bearer().unwrap()).iat,
        clock.now().as_second()
    );

    // Neither the signer's Debug nor the token's shows the JWT.
    let debug = format!("{signer:?} {renewed:?}");
    assert!(!debug.contains(renewed.expose_secret()), "{debug}");
}
