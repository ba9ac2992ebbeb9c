//! Money: exact decimals with an ISO 4217 currency. Never floating point.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::values::Refusal;

/// Active ISO 4217 codes of currencies (funds, precious metals and test codes left out).
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN \
BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ \
GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD \
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR \
RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS \
UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";

/// Decimal places an amount may have: every ISO 4217 currency's minor unit fits.
pub const MAX_SCALE: u32 = 4;
/// Largest amount of one purchase: far above any real order, far below overflow of sums.
const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An ISO 4217 currency code, uppercased.
///
/// # Errors
/// `INVALID_CURRENCY`.
pub fn currency(raw: &str) -> Result<String, Refusal> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && ISO_4217.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err(("INVALID_CURRENCY", format!("'{}' is not an ISO 4217 currency code such as CNY or USD", raw.trim())))
    }
}

/// [`amount`] as the canonical text it is stored as.
///
/// # Errors
/// As [`amount`].
pub fn amount_text(raw: &str) -> Result<String, Refusal> {
    amount(raw).map(|a| a.to_string())
}

/// A positive amount with at most four decimal places.
///
/// # Errors
/// `INVALID_AMOUNT` or `NOT_POSITIVE`.
pub fn amount(raw: &str) -> Result<Decimal, Refusal> {
    let value = Decimal::from_str(raw.trim())
        .map_err(|_| ("INVALID_AMOUNT", format!("'{}' is not a decimal number like 1234.50", raw.trim())))?;
    if value <= Decimal::ZERO {
        return Err(("NOT_POSITIVE", "must be greater than zero".into()));
    }
    if value.scale() > MAX_SCALE {
        return Err(("INVALID_AMOUNT", format!("at most {MAX_SCALE} decimal places")));
    }
    if value >= Decimal::from(MAX_AMOUNT) {
        return Err(("INVALID_AMOUNT", format!("must be below {MAX_AMOUNT}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_and_amounts() {
        assert_eq!(currency(" cny "), Ok("CNY".into()));
        assert!(currency("RMB").is_err());
        assert!(currency("XXX").is_err());
        assert_eq!(amount("1234.50").map(|d| d.to_string()), Ok("1234.50".into()));
        assert_eq!(amount("0").unwrap_err().0, "NOT_POSITIVE");
        assert_eq!(amount("-3").unwrap_err().0, "NOT_POSITIVE");
        assert_eq!(amount("1.23456").unwrap_err().0, "INVALID_AMOUNT");
        assert_eq!(amount("abc").unwrap_err().0, "INVALID_AMOUNT");
    }
}
