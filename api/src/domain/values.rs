//! Validated values. Each `parse` returns the normalised value or a violation code and message;
//! callers attach the field name, so one input can report every problem at once.

/// Why a value was refused: a stable code and a sentence.
pub use crate::query::Refusal;

/// An e-mail address: `local@domain` with a dotted domain, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims, lowercases the domain and checks the syntax.
    ///
    /// # Errors
    /// `INVALID_EMAIL` with a reason.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let s = raw.trim();
        let bad = |why: &str| ("INVALID_EMAIL", format!("'{s}' is not an e-mail address: {why}"));
        if s.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad("no '@'"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before '@' must have 1 to 64 characters"));
        }
        let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(bad("the part before '@' has characters e-mail does not allow"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(bad("the domain must be like example.com"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number: E.164 (`+` and 8 to 15 digits) or a mainland China mobile number (11 digits
/// starting 13–19). Spaces, dashes and parentheses are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// # Errors
    /// `INVALID_PHONE` with a reason.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+');
        let ok = match digits {
            Some(d) => (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'),
            None => {
                compact.len() == 11
                    && compact.bytes().all(|b| b.is_ascii_digit())
                    && compact.starts_with('1')
                    && (b'3'..=b'9').contains(&compact.as_bytes()[1])
            }
        };
        if ok {
            Ok(Self(compact))
        } else {
            Err((
                "INVALID_PHONE",
                format!(
                    "'{}' is neither an E.164 number (+8613812345678) nor a mainland mobile number (13812345678)",
                    raw.trim()
                ),
            ))
        }
    }

    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The 31 characters of GB 32100-2015 (no I, O, S, V, Z), in value order.
const CREDIT_CODE_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17: 3^(i-1) mod 31.
const CREDIT_CODE_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A unified social credit code (统一社会信用代码): 18 characters whose last is a check character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    /// Uppercases and checks length, alphabet and the GB 32100-2015 check character.
    ///
    /// # Errors
    /// `INVALID_CREDIT_CODE` with a reason.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        let s = raw.trim().to_ascii_uppercase();
        let bad = |why: String| {
            ("INVALID_CREDIT_CODE", format!("'{}' is not a unified social credit code: {why}", raw.trim()))
        };
        if s.chars().count() != 18 {
            return Err(bad("it must have 18 characters".into()));
        }
        let mut values = Vec::with_capacity(18);
        for c in s.bytes() {
            match CREDIT_CODE_CHARSET.iter().position(|&x| x == c) {
                Some(v) => values.push(u32::try_from(v).unwrap_or(u32::MAX)),
                None => return Err(bad(format!("'{}' is not one of 0-9 A-H J-N P-R T U W-Y", c as char))),
            }
        }
        if !s.as_bytes()[2..8].iter().all(u8::is_ascii_digit) {
            return Err(bad("characters 3 to 8 must be the region's digits".into()));
        }
        let expected = Self::check_char(&s[..17]).unwrap_or('?');
        if s.as_bytes()[17] as char != expected {
            return Err(bad(format!("the check character should be '{expected}'")));
        }
        Ok(Self(s))
    }

    /// The check character for the first 17 characters, or `None` if one is outside the alphabet.
    #[must_use]
    pub fn check_char(first17: &str) -> Option<char> {
        let mut sum = 0u32;
        for (i, c) in first17.bytes().take(17).enumerate() {
            let v = u32::try_from(CREDIT_CODE_CHARSET.iter().position(|&x| x == c)?).ok()?;
            sum += v * CREDIT_CODE_WEIGHTS[i];
        }
        let check = (31 - sum % 31) % 31;
        Some(CREDIT_CODE_CHARSET[check as usize] as char)
    }

    #[must_use]
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Characters of a web address.
pub const MAX_URL_CHARS: usize = 2_000;

/// [`Email::parse`], as the text stored.
///
/// # Errors
/// As [`Email::parse`].
pub fn email(raw: &str) -> Result<String, Refusal> {
    Email::parse(raw).map(Email::into_inner)
}

/// [`Phone::parse`], as the text stored.
///
/// # Errors
/// As [`Phone::parse`].
pub fn phone(raw: &str) -> Result<String, Refusal> {
    Phone::parse(raw).map(Phone::into_inner)
}

/// [`CreditCode::parse`], as the text stored.
///
/// # Errors
/// As [`CreditCode::parse`].
pub fn credit_code(raw: &str) -> Result<String, Refusal> {
    CreditCode::parse(raw).map(CreditCode::into_inner)
}

/// An http or https address with a host, normalised (`https://Example.com` reads back as
/// `https://example.com/`).
///
/// # Errors
/// `TOO_LONG`, or `INVALID_URL` with the reason.
pub fn web_address(raw: &str) -> Result<String, Refusal> {
    let s = text(raw, 1, MAX_URL_CHARS)
        .map_err(|(code, msg)| (if code == "TOO_SHORT" { "INVALID_URL" } else { code }, msg))?;
    let u = match url::Url::parse(&s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        Ok(_) => return Err(("INVALID_URL", format!("'{s}' is not an http or https address"))),
        Err(e) => return Err(("INVALID_URL", format!("'{s}' is not a URL: {e}"))),
    };
    // Whoever reads the record, and its audit trail, would read the password too.
    if !u.username().is_empty() || u.password().is_some() {
        return Err(("INVALID_URL", "an address must not carry a user name or password".into()));
    }
    // Normalising escapes what it must (a Chinese path grows ninefold): the bound is on what is kept.
    let n = u.as_str().chars().count();
    if n > MAX_URL_CHARS {
        return Err(("TOO_LONG", format!("must have at most {MAX_URL_CHARS} characters once escaped, has {n}")));
    }
    Ok(u.into())
}

/// Checks a free-text value's length in characters (not bytes, so Chinese counts fairly).
///
/// # Errors
/// `TOO_SHORT`, `TOO_LONG` or `INVALID_CHARACTER` (U+0000).
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, Refusal> {
    if raw.contains('\0') {
        // PostgreSQL text cannot hold it; refuse on both databases alike.
        return Err(("INVALID_CHARACTER", "must not contain the NUL character (U+0000)".into()));
    }
    let s = raw.trim();
    let n = s.chars().count();
    if n < min {
        return Err((
            "TOO_SHORT",
            if min == 1 { "must not be empty".into() } else { format!("must have at least {min} characters") },
        ));
    }
    if n > max {
        return Err(("TOO_LONG", format!("must have at most {max} characters, has {n}")));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_codes_are_checked() {
        // Real published codes.
        for ok in ["91350100M000100Y43", "91110000600037341L", "91440300708461136T"] {
            assert!(CreditCode::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            CreditCode::parse("91350100m000100y43").map(CreditCode::into_inner),
            Ok("91350100M000100Y43".into())
        );
        assert_eq!(CreditCode::parse("91350100M000100Y44").unwrap_err().0, "INVALID_CREDIT_CODE");
        assert!(CreditCode::parse("91350100M000100Y4").is_err());
        assert!(CreditCode::parse("91350100M0001O0Y43").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Li.Lei@Example.COM ").map(Email::into_inner), Ok("Li.Lei@example.com".into()));
        for bad in ["", "a", "a@b", "@b.cn", "a@@b.cn", "a b@c.cn", "a@-b.cn", "a..b@c.cn"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(Phone::parse("138 1234 5678").map(Phone::into_inner), Ok("13812345678".into()));
        assert!(Phone::parse("+86 138-1234-5678").is_ok());
        assert!(Phone::parse("+14155550123").is_ok());
        for bad in ["12812345678", "1381234567", "+0123456789", "+12", "phone", "+1234567890123456"] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_counts_characters() {
        assert!(text("张三", 1, 2).is_ok());
        assert_eq!(text("  ", 1, 2).unwrap_err().0, "TOO_SHORT");
        assert_eq!(text("张三丰", 1, 2).unwrap_err().0, "TOO_LONG");
        assert_eq!(text("a\0b", 1, 5).unwrap_err().0, "INVALID_CHARACTER");
    }
}
