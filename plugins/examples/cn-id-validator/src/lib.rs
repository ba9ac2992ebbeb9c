//! Checks an 18-character resident identity number (居民身份证号码, GB 11643-1999): province
//! code, a real birth date, and the ISO 7064 MOD 11-2 check character.

use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation, violation};

/// The plugin.
pub struct CnIdValidator;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";
const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82,
];

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// The code and message of the first problem with `id`, if any.
fn problem(id: &str) -> Option<(&'static str, String)> {
    let id = id.trim().to_ascii_uppercase();
    let bytes = id.as_bytes();
    if bytes.len() != 18 {
        return Some(("INVALID_LENGTH", format!("an identity number has 18 characters, this one {}", bytes.len())));
    }
    if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
        return Some(("INVALID_CHARACTER", "17 digits and a digit or X are expected".into()));
    }
    let digit = |i: usize| u32::from(bytes[i] - b'0');
    if !PROVINCES.contains(&(digit(0) * 10 + digit(1))) {
        return Some(("INVALID_REGION", format!("{} is not a province code", &id[..2])));
    }
    let year = (6..10).fold(0, |n, i| n * 10 + digit(i));
    let (month, day) = (digit(10) * 10 + digit(11), digit(12) * 10 + digit(13));
    if !(1900..=2100).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return Some(("INVALID_BIRTH_DATE", format!("{} is not a date of birth", &id[6..14])));
    }
    let sum: u32 = (0..17).map(|i| digit(i) * WEIGHTS[i]).sum();
    let expected = CHECK[(sum % 11) as usize];
    if bytes[17] != expected {
        return Some(("INVALID_CHECK_CHARACTER", format!("the check character should be {}", expected as char)));
    }
    None
}

impl Validator for CnIdValidator {
    fn validate(request: ValidationRequest) -> Result<Vec<Violation>, String> {
        let value: serde_json::Value =
            serde_json::from_str(&request.value_json).map_err(|e| format!("the value is not JSON: {e}"))?;
        let found = match &value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => problem(s),
            _ => Some(("INVALID_TYPE", "an identity number is a string".into())),
        };
        Ok(found.map(|(code, message)| violation(&request.field, code, &message)).into_iter().collect())
    }
}

guanxi_plugin_sdk::export_validator!(CnIdValidator);
