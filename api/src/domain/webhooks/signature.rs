//! Signing deliveries, as Stripe signs its webhooks: `Guanxi-Signature: t=<unix seconds>,v1=<hex>`
//! where the hex is HMAC-SHA256 of `<t>.<body>` keyed with the webhook's secret. While a rotated
//! secret is still honoured, a second `v1=` is signed with it: a receiver accepts the delivery
//! when any `v1` matches a secret it knows, and rejects a `t` too far from its own clock
//! (replays).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

/// The header a delivery of `body` at `t` carries, signed with each of `secrets`.
#[must_use]
pub fn header(t: i64, body: &[u8], secrets: &[&str]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(t, body, secret));
    }
    header
}

/// The hex HMAC-SHA256 of `<t>.<body>` keyed with `secret`'s bytes.
#[must_use]
pub fn sign(t: i64, body: &[u8], secret: &str) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A new secret: `whsec_` and 32 random bytes, base64url.
#[must_use]
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_time_dot_body() {
        // Python: hmac.new(b"whsec_test", b'1700000000.{"id":"1"}', hashlib.sha256).hexdigest()
        let (t, body) = (1_700_000_000, br#"{"id":"1"}"#);
        let expected = "11bf4466ea17c3df3fd743af0b435368e16b7a05eb8eced85e8c4670767bdec5";
        assert_eq!(sign(t, body, "whsec_test"), expected);
        assert_eq!(header(t, body, &["whsec_test"]), format!("t={t},v1={expected}"));
        assert_eq!(
            header(t, body, &["whsec_test", "whsec_old"]),
            format!("t={t},v1={expected},v1={}", sign(t, body, "whsec_old"))
        );
        assert_ne!(sign(t + 1, body, "whsec_test"), expected, "the time is signed");
    }

    #[test]
    fn secrets_are_new_each_time() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 43, "{a}");
        assert_ne!(a, b);
    }
}
