//! Opaque global ids: `base64url("<Type>:<uuid>")`. Clients treat them as strings; the type inside
//! lets `node(id:)` find the record and lets a Customer id given where a User id belongs be refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The global id of the record `id` of GraphQL type `type_name`.
#[must_use]
pub fn encode(type_name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}"))
}

/// The type name and uuid inside a global id, if it is one.
#[must_use]
pub fn decode_any(global: &str) -> Option<(String, Uuid)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(global.trim()).ok()?).ok()?;
    let (ty, id) = raw.split_once(':')?;
    Some((ty.to_owned(), Uuid::parse_str(id).ok()?))
}

/// The uuid inside a global id of `type_name`.
///
/// # Errors
/// A refusal (code `INVALID_ID`) when it is not such an id.
pub fn decode(type_name: &str, global: &str) -> Result<Uuid, super::values::Refusal> {
    match decode_any(global) {
        Some((ty, id)) if ty == type_name => Ok(id),
        _ => Err(("INVALID_ID", format!("'{global}' is not the id of a {type_name}"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_round_trip_and_keep_their_type() {
        let id = uuid::Uuid::now_v7();
        let g = super::encode("Customer", id);
        assert_eq!(super::decode("Customer", &g), Ok(id));
        assert!(super::decode("User", &g).is_err());
        assert!(super::decode("Customer", "nope").is_err());
    }
}
