//! Token verification (HS256 secret, RS256/ES256 PEM public key, or a JWKS file) and minting of
//! development tokens. Every failure is the same `UNAUTHENTICATED` error to the caller; the
//! reason is in the message, never the key material.

use std::path::Path;

use anyhow::{Context as _, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::Role;
use crate::domain::identity::TokenIdentity;
use crate::error::Error;

/// The claims Guanxi reads (docs/api.md, "Authentication").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tid: String,
    pub role: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's language (`zh-CN`, `en`): messages follow it rather than `Accept-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

enum Keys {
    Secret(DecodingKey),
    Public { key: DecodingKey, algorithm: Algorithm },
    Jwks(JwkSet),
}

/// Verifies bearer tokens with the configured key.
pub struct Authenticator {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
}

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// Shortest HS256 secret accepted: 256 bits, the size of HS256's own output. Anyone who guesses
/// the secret mints tokens for any tenant and role, and a short one can be found offline from a
/// single token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Secrets copied from examples and templates, long enough to pass the length check but known to
/// everyone. Compared without case and surrounding spaces.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "change-me-to-a-long-random-secret",
    "change-me",
    "changeme",
    "secret",
    "your-secret",
    "your-256-bit-secret",
    "replace-me",
    "guanxi",
];

/// Refuses an HS256 secret that is short, a known placeholder, or one character repeated.
///
/// # Errors
/// A message naming `GUANXI_JWT_SECRET` and how to make a good one.
pub fn check_secret(secret: &str) -> anyhow::Result<()> {
    const HOW: &str = "set GUANXI_JWT_SECRET to a random value, e.g. `openssl rand -hex 32`";
    let normalized = secret.trim().to_ascii_lowercase();
    if PLACEHOLDER_SECRETS.contains(&normalized.as_str()) {
        bail!("GUANXI_JWT_SECRET is a placeholder from an example, known to everyone: {HOW}");
    }
    if secret.len() < MIN_SECRET_BYTES {
        bail!("GUANXI_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long, is {}: {HOW}", secret.len());
    }
    if secret.bytes().all(|b| b == secret.as_bytes()[0]) {
        bail!("GUANXI_JWT_SECRET is one character repeated: {HOW}");
    }
    Ok(())
}

fn read(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{setting}: cannot read {}", path.display()))
}

impl Authenticator {
    /// Builds the verifier from whichever key is configured (exactly one must be).
    ///
    /// # Errors
    /// No key, several keys, or a key file that cannot be read or parsed.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let configured = [config.jwt_secret.is_some(), config.jwt_public_key.is_some(), config.jwks_file.is_some()];
        let keys = match configured {
            [false, false, false] => bail!(
                "no JWT key configured: set GUANXI_JWT_SECRET, GUANXI_JWT_PUBLIC_KEY or GUANXI_JWKS_FILE \
                 (or run `guanxi serve --demo` for a development secret)"
            ),
            [true, false, false] => {
                let secret = config.jwt_secret.as_deref().unwrap_or_default();
                check_secret(secret)?;
                Keys::Secret(DecodingKey::from_secret(secret.as_bytes()))
            }
            [false, true, false] => {
                let path = config.jwt_public_key.as_deref().unwrap_or(Path::new(""));
                let pem = read(path, "GUANXI_JWT_PUBLIC_KEY")?;
                if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    Keys::Public { key, algorithm: Algorithm::RS256 }
                } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                    Keys::Public { key, algorithm: Algorithm::ES256 }
                } else {
                    bail!(
                        "GUANXI_JWT_PUBLIC_KEY: {} is neither an RSA nor an EC (P-256) public key in PEM",
                        path.display()
                    );
                }
            }
            [false, false, true] => {
                let path = config.jwks_file.as_deref().unwrap_or(Path::new(""));
                let set: JwkSet = serde_json::from_slice(&read(path, "GUANXI_JWKS_FILE")?)
                    .with_context(|| format!("GUANXI_JWKS_FILE: {} is not a JWKS document", path.display()))?;
                if set.keys.is_empty() {
                    bail!("GUANXI_JWKS_FILE: {} has no keys", path.display());
                }
                Keys::Jwks(set)
            }
            _ => bail!("configure one JWT key only: GUANXI_JWT_SECRET, GUANXI_JWT_PUBLIC_KEY or GUANXI_JWKS_FILE"),
        };
        Ok(Self { keys, issuer: config.jwt_issuer.clone(), audience: config.jwt_audience.clone() })
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.leeway = LEEWAY_SECS;
        // A token not valid yet (`nbf` ahead of our clock) is refused like an expired one; `nbf`
        // stays optional.
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }

    /// Verifies a token and returns who it names.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for every way a token can be wrong.
    pub fn verify(&self, token: &str) -> Result<TokenIdentity, Error> {
        let unauthenticated = |why: &str| Error::Unauthenticated(format!("invalid token: {why}"));
        let header = decode_header(token).map_err(|e| unauthenticated(&e.to_string()))?;
        let data = match &self.keys {
            Keys::Secret(key) => decode::<Claims>(token, key, &self.validation(Algorithm::HS256)),
            Keys::Public { key, algorithm } => decode::<Claims>(token, key, &self.validation(*algorithm)),
            Keys::Jwks(set) => {
                let kid = header.kid.as_deref().ok_or_else(|| unauthenticated("no `kid` in the header"))?;
                let jwk = set.find(kid).ok_or_else(|| unauthenticated("unknown `kid`"))?;
                let algorithm = match &jwk.algorithm {
                    AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => return Err(unauthenticated("unsupported key type")),
                };
                let key = DecodingKey::from_jwk(jwk).map_err(|e| unauthenticated(&e.to_string()))?;
                decode::<Claims>(token, &key, &self.validation(algorithm))
            }
        }
        .map_err(|e| unauthenticated(&e.to_string()))?;
        identity(data.claims).map_err(|why| unauthenticated(&why))
    }
}

/// Is `s` a valid tenant slug (`[a-z0-9-]{1,63}`)?
#[must_use]
pub fn is_tenant_slug(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn identity(claims: Claims) -> Result<TokenIdentity, String> {
    if !is_tenant_slug(&claims.tid) {
        return Err("`tid` must match [a-z0-9-]{1,63}".into());
    }
    let role = Role::parse(&claims.role).ok_or("`role` must be ADMIN, MANAGER, AGENT or VIEWER")?;
    if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
        return Err("`sub` must have 1 to 255 characters".into());
    }
    // They are stored with the user, and PostgreSQL text cannot hold U+0000.
    let stored = [Some(&claims.sub), claims.name.as_ref(), claims.email.as_ref()];
    if stored.into_iter().flatten().any(|s| s.contains('\0')) {
        return Err("`sub`, `name` and `email` must not contain U+0000".into());
    }
    // The user's columns hold this many characters.
    let longer = |claim: &Option<String>, max: usize| claim.as_ref().is_some_and(|c| c.chars().count() > max);
    if longer(&claims.name, 200) || longer(&claims.email, 320) {
        return Err("`name` must have at most 200 characters and `email` at most 320".into());
    }
    Ok(TokenIdentity {
        tenant_slug: claims.tid,
        subject: claims.sub,
        role,
        name: claims.name.filter(|n| !n.trim().is_empty()),
        email: claims.email.filter(|e| !e.trim().is_empty()),
        // A language the server does not speak is no preference.
        locale: claims.locale.as_deref().and_then(crate::locale::Locale::parse),
        expires: claims.exp,
    })
}

/// Mints an HS256 token, for development and bootstrap (`guanxi token`, `serve --demo`).
///
/// # Errors
/// A malformed tenant slug or role, or an encoding failure.
pub fn mint(
    secret: &str,
    tenant: &str,
    role: &str,
    user: &str,
    ttl_secs: u64,
    name: Option<&str>,
) -> anyhow::Result<String> {
    mint_with_locale(secret, tenant, role, user, ttl_secs, name, None)
}

/// [`mint`], with a `locale` claim: the language of the messages the token's bearer gets.
///
/// # Errors
/// A malformed tenant slug, role or locale, or an encoding failure.
pub fn mint_with_locale(
    secret: &str,
    tenant: &str,
    role: &str,
    user: &str,
    ttl_secs: u64,
    name: Option<&str>,
    locale: Option<&str>,
) -> anyhow::Result<String> {
    if locale.is_some_and(|l| crate::locale::Locale::parse(l).is_none()) {
        bail!("--locale must be zh-CN or en, got '{}'", locale.unwrap_or_default());
    }
    if !is_tenant_slug(tenant) {
        bail!("--tenant must match [a-z0-9-]{{1,63}}, got '{tenant}'");
    }
    if Role::parse(role).is_none() {
        bail!("--role must be ADMIN, MANAGER, AGENT or VIEWER, got '{role}'");
    }
    let claims = Claims {
        sub: user.to_owned(),
        tid: tenant.to_owned(),
        role: role.to_owned(),
        exp: jsonwebtoken::get_current_timestamp() + ttl_secs,
        name: name.map(str::to_owned),
        email: None,
        locale: locale.map(str::to_owned),
    };
    Ok(encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_refused_naming_the_setting() {
        for weak in
            ["secret", "changeme", "short-but-random-9f3a", "change-me-to-a-long-random-secret", &"a".repeat(40)]
        {
            let err = check_secret(weak).expect_err(weak).to_string();
            assert!(err.contains("GUANXI_JWT_SECRET"), "{weak}: {err}");
        }
        check_secret("test-secret-of-at-least-16-bytes").expect("32 bytes");
        check_secret(&"9f".repeat(32)).expect("openssl rand -hex 32");
    }
}
