//! Checks a loyalty card number: 12 to 19 digits (spaces and dashes allowed) whose last digit is
//! the Luhn check digit. Config `{"prefix": "6222"}` also requires the programme's prefix.

use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation, violation};

/// The plugin: `Validator` is its contract, `export_validator!` makes it the component's export.
pub struct CardValidator;

/// Does the Luhn sum of `digits` (the check digit last) end in 0?
fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d })
        .sum();
    sum % 10 == 0
}

fn problem(raw: &str, prefix: Option<&str>) -> Option<(&'static str, String)> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if !compact.chars().all(|c| c.is_ascii_digit()) {
        return Some(("INVALID_CHARACTER", "a card number has only digits (spaces and dashes are ignored)".into()));
    }
    if !(12..=19).contains(&compact.len()) {
        return Some(("INVALID_LENGTH", format!("a card number has 12 to 19 digits, this one {}", compact.len())));
    }
    if let Some(p) = prefix
        && !compact.starts_with(p)
    {
        return Some(("WRONG_PROGRAMME", format!("cards of this programme start with {p}")));
    }
    let digits: Vec<u32> = compact.chars().filter_map(|c| c.to_digit(10)).collect();
    if !luhn(&digits) {
        return Some(("INVALID_CHECK_DIGIT", "the last digit is not the card's check digit (Luhn)".into()));
    }
    None
}

impl Validator for CardValidator {
    fn validate(request: ValidationRequest) -> Result<Vec<Violation>, String> {
        let value: serde_json::Value =
            serde_json::from_str(&request.value_json).map_err(|e| format!("the value is not JSON: {e}"))?;
        let config: serde_json::Value = serde_json::from_str(&request.config_json).unwrap_or_default();
        let prefix = config.get("prefix").and_then(serde_json::Value::as_str);
        let found = match &value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => problem(s, prefix),
            _ => Some(("INVALID_TYPE", "a card number is a string".into())),
        };
        Ok(found.map(|(code, message)| violation(&request.field, code, &message)).into_iter().collect())
    }
}

guanxi_plugin_sdk::export_validator!(CardValidator);

#[cfg(test)]
mod tests {
    use guanxi_plugin_sdk::testing::{codes, request};

    use super::CardValidator;

    #[test]
    fn luhn_and_the_programme_prefix() {
        assert!(codes::<CardValidator>(request("CUSTOMER", "card", "\"4111 1111 1111 1111\"")).unwrap().is_empty());
        assert_eq!(
            codes::<CardValidator>(request("CUSTOMER", "card", "\"4111 1111 1111 1112\"")).unwrap(),
            ["INVALID_CHECK_DIGIT"]
        );
        let mut with_prefix = request("CUSTOMER", "card", "\"4111 1111 1111 1111\"");
        with_prefix.config_json = r#"{"prefix": "6222"}"#.into();
        assert_eq!(codes::<CardValidator>(with_prefix).unwrap(), ["WRONG_PROGRAMME"]);
    }
}
