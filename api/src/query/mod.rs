//! How a list is asked for, independent of GraphQL and SQL: a filter tree over named fields, a
//! sort on several keys (always ending on `id` so that every order is total), and a keyset page.
//!
//! Each entity describes its fields once ([`FieldSpec`]); the GraphQL builder derives filter
//! inputs and order enums from that description and the store maps the same names to columns, so
//! a field added to an entity's description is filterable and sortable everywhere at once.
//!
//! A leaf: `domain`, `store` and `graphql` all speak it, and it imports none of them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};

mod field;

pub use field::{Check, FieldKind, FieldSpec, Refusal, field_named};

/// The name every entity's `column_of` gives its `custom_fields` column.
pub const CUSTOM_COLUMN: &str = "customFields";

/// The name under which `column_of` gives the object of values plugins compute (Customer
/// only: `customer_scores.computed`). Filters and orders on a computed field read it.
pub const COMPUTED_COLUMN: &str = "$computed";

/// The types a custom field may have (`CustomFieldType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    Text,
    Int,
    Decimal,
    Boolean,
    Date,
    DateTime,
    Enum,
    MultiEnum,
    Email,
    Phone,
    Url,
    Json,
}

impl FieldType {
    pub const ALL: [FieldType; 13] = [
        FieldType::String,
        FieldType::Text,
        FieldType::Int,
        FieldType::Decimal,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Enum,
        FieldType::MultiEnum,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Url,
        FieldType::Json,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "STRING",
            FieldType::Text => "TEXT",
            FieldType::Int => "INT",
            FieldType::Decimal => "DECIMAL",
            FieldType::Boolean => "BOOLEAN",
            FieldType::Date => "DATE",
            FieldType::DateTime => "DATETIME",
            FieldType::Enum => "ENUM",
            FieldType::MultiEnum => "MULTI_ENUM",
            FieldType::Email => "EMAIL",
            FieldType::Phone => "PHONE",
            FieldType::Url => "URL",
            FieldType::Json => "JSON",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Stored as a JSON string and compared as text.
    #[must_use]
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Text
                | FieldType::Date
                | FieldType::DateTime
                | FieldType::Enum
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
        )
    }

    /// Can rows be ordered by it (lists and JSON cannot; long text can, but is refused as
    /// pointless and unindexable)?
    #[must_use]
    pub fn sortable(self) -> bool {
        !matches!(self, FieldType::MultiEnum | FieldType::Json | FieldType::Text)
    }

    /// Can `indexed: true` give it an expression index?
    #[must_use]
    pub fn indexable(self) -> bool {
        self.sortable()
    }
}

/// The entities that carry custom fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Customer,
    Interaction,
    Complaint,
    KeyAccountPlan,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] =
        [EntityKind::Customer, EntityKind::Interaction, EntityKind::Complaint, EntityKind::KeyAccountPlan];

    /// The `EntityKind` enum value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Customer => "CUSTOMER",
            EntityKind::Interaction => "INTERACTION",
            EntityKind::Complaint => "COMPLAINT",
            EntityKind::KeyAccountPlan => "KEY_ACCOUNT_PLAN",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The entity's GraphQL object type.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            EntityKind::Customer => "Customer",
            EntityKind::Interaction => "Interaction",
            EntityKind::Complaint => "Complaint",
            EntityKind::KeyAccountPlan => "KeyAccountPlan",
        }
    }

    /// The table holding the entity's rows (and their `custom_fields` column).
    #[must_use]
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Customer => "customers",
            EntityKind::Interaction => "interactions",
            EntityKind::Complaint => "complaints",
            EntityKind::KeyAccountPlan => "key_account_plans",
        }
    }
}

/// Default and largest page sizes (docs/api.md, "Lists").
pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// A typed value a filter compares with or a cursor carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Time(DateTime<Utc>),
    Uuid(Uuid),
    Dec(Decimal),
    Bool(bool),
    /// Only in cursors: custom fields may be empty, and sort after every value.
    Null,
}

/// A tenant-defined field, filtered and sorted through the entity's `custom_fields` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomKey {
    pub key: String,
    pub ty: FieldType,
    /// A plugin computes it: stored apart from the values an ADMIN's fields hold.
    pub computed: bool,
    /// Its definition asks for an index: filters and orders read the index's expression.
    pub indexed: bool,
}

impl CustomKey {
    /// The name the store's `column_of` gives the JSON object holding this field.
    #[must_use]
    pub fn column(&self) -> &'static str {
        if self.computed { COMPUTED_COLUMN } else { CUSTOM_COLUMN }
    }

    /// The value of this field in a stored `custom_fields` object, as a cursor carries it.
    #[must_use]
    pub fn scalar_in(&self, stored: &serde_json::Value) -> Scalar {
        let v = stored.get(&self.key);
        scalar_of_custom(self.ty, v.unwrap_or(&serde_json::Value::Null)).unwrap_or(Scalar::Null)
    }
}

fn scalar_of_custom(ty: FieldType, v: &serde_json::Value) -> Option<Scalar> {
    Some(match ty {
        _ if v.is_null() => Scalar::Null,
        FieldType::Int => Scalar::Int(v.as_i64()?),
        FieldType::Decimal => Scalar::Dec(v.as_str()?.parse().ok()?),
        FieldType::Boolean => Scalar::Bool(v.as_bool()?),
        t if t.is_text() => Scalar::Str(v.as_str()?.to_owned()),
        _ => return None,
    })
}

/// What a list is sorted by: a built-in field or a custom one.
#[derive(Debug, Clone, PartialEq)]
pub enum SortField {
    Field(&'static FieldSpec),
    Custom(CustomKey),
}

impl SortField {
    /// A name unique among the entity's sort fields (custom ones are prefixed).
    #[must_use]
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            SortField::Field(f) => f.name.into(),
            SortField::Custom(c) => format!("custom.{}", c.key).into(),
        }
    }
}

/// A comparison on one field. Comparisons never match a NULL value; use `IsNull`.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Scalar),
    Ne(Scalar),
    In(Vec<Scalar>),
    NotIn(Vec<Scalar>),
    Gt(Scalar),
    Gte(Scalar),
    Lt(Scalar),
    Lte(Scalar),
    /// Case-insensitive for ASCII letters.
    Contains(String),
    /// Case-insensitive for ASCII letters.
    StartsWith(String),
    IsNull(bool),
    /// The list holds at least one of these (none given: matches nothing).
    HasAny(Vec<String>),
    /// The list holds every one of these (none given: matches everything).
    HasAll(Vec<String>),
    IsEmpty(bool),
    /// The field is greater than another field of the same row (e.g. responded after due).
    GtField(&'static str),
}

/// A filter tree. An empty `All` matches everything.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Field(&'static FieldSpec, Op),
    /// A condition on a custom field.
    Custom(CustomKey, Op),
}

impl Filter {
    #[must_use]
    pub fn everything() -> Self {
        Filter::All(Vec::new())
    }

    /// Whether the tree matches no row whatever the rows hold: an empty `or` or an `in` of
    /// nothing where an `and` needs it. The store answers such a read without asking the
    /// database: a page of 199 empty `or`s took SQLite 17 s to plan and run under 90 customers.
    #[must_use]
    pub fn matches_nothing(&self) -> bool {
        match self {
            Filter::All(parts) => parts.iter().any(Filter::matches_nothing),
            Filter::Any(parts) => parts.iter().all(Filter::matches_nothing),
            Filter::Field(_, Op::In(values)) | Filter::Custom(_, Op::In(values)) => values.is_empty(),
            Filter::Not(_) | Filter::Field(..) | Filter::Custom(..) => false,
        }
    }

    /// Whether any condition of the tree reads the column the store's `column_of` names `column`.
    #[must_use]
    pub fn reads(&self, column: &str) -> bool {
        match self {
            Filter::All(parts) | Filter::Any(parts) => parts.iter().any(|p| p.reads(column)),
            Filter::Not(inner) => inner.reads(column),
            Filter::Field(spec, _) => spec.name == column,
            Filter::Custom(key, _) => key.column() == column,
        }
    }

    /// How many comparison values the tree holds: each becomes a bind parameter of the query.
    #[must_use]
    pub fn value_count(&self) -> usize {
        let of_op = |op: &Op| match op {
            Op::In(vs) | Op::NotIn(vs) => vs.len(),
            Op::HasAny(vs) | Op::HasAll(vs) => vs.len(),
            _ => 1,
        };
        match self {
            Filter::All(parts) | Filter::Any(parts) => parts.iter().map(Filter::value_count).sum(),
            Filter::Not(inner) => inner.value_count(),
            Filter::Field(_, op) | Filter::Custom(_, op) => of_op(op),
        }
    }

    /// `self AND other`.
    #[must_use]
    pub fn and(self, other: Filter) -> Self {
        match self {
            Filter::All(mut v) => {
                v.push(other);
                Filter::All(v)
            }
            f => Filter::All(vec![f, other]),
        }
    }
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: SortField,
    pub descending: bool,
}

impl OrderKey {
    /// A key on a built-in field.
    #[must_use]
    pub fn by(field: &'static FieldSpec, descending: bool) -> Self {
        Self { field: SortField::Field(field), descending }
    }
}

/// The field every order ends on, so rows with equal keys still have one order.
pub const ID_FIELD_NAME: &str = "id";

/// A validated page request: exactly one direction, size within bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub size: u64,
    /// `true` for `last`/`before`: read backwards, then reverse.
    pub backward: bool,
    /// The keys of the row to continue after (forward) or before (backward).
    pub cursor: Option<Vec<Scalar>>,
}

/// A page of rows with what Relay's `PageInfo` needs.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// Turns `first/after/last/before` into a [`PageRequest`] for `order` (its last key is `id`).
///
/// # Errors
/// `BAD_USER_INPUT` for both `first` and `last`, negative or too large sizes, and cursors that
/// are malformed or were made for another order.
pub fn page_request(
    first: Option<i64>,
    after: Option<&str>,
    last: Option<i64>,
    before: Option<&str>,
    order: &[OrderKey],
) -> Result<PageRequest> {
    let mut violations = Vec::new();
    if first.is_some() && last.is_some() {
        violations.push(crate::error::Violation::new("last", "FIRST_AND_LAST", "give `first` or `last`, not both"));
    }
    if after.is_some() && before.is_some() {
        violations.push(crate::error::Violation::new(
            "before",
            "AFTER_AND_BEFORE",
            "give `after` or `before`, not both",
        ));
    }
    for (name, n) in [("first", first), ("last", last)] {
        if let Some(n) = n
            && (n < 0 || n.unsigned_abs() > MAX_PAGE_SIZE)
        {
            violations.push(crate::error::Violation::new(
                name,
                "PAGE_SIZE",
                format!("must be between 0 and {MAX_PAGE_SIZE}, got {n}"),
            ));
        }
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    let backward = last.is_some() || (first.is_none() && before.is_some());
    let size = first.or(last).map_or(DEFAULT_PAGE_SIZE, i64::unsigned_abs);
    let (cursor_field, raw) = if backward { ("before", before) } else { ("after", after) };
    let cursor = raw.map(|c| {
        decode_cursor(c, order).ok_or_else(|| {
            Error::invalid(
                cursor_field,
                "INVALID_CURSOR",
                "this cursor is malformed or belongs to another orderBy or filter; start again without it",
            )
        })
    });
    Ok(PageRequest { size, backward, cursor: cursor.transpose()? })
}

fn order_fingerprint(order: &[OrderKey]) -> String {
    order
        .iter()
        .map(|k| format!("{}{}", if k.descending { "-" } else { "+" }, k.field.name()))
        .collect::<Vec<_>>()
        .join(",")
}

/// An opaque cursor for a row whose order keys have `values` (in `order`'s order).
#[must_use]
pub fn encode_cursor(order: &[OrderKey], values: &[Scalar]) -> String {
    let keys: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Scalar::Str(s) => json!(s),
            Scalar::Int(i) => json!(i),
            Scalar::Time(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Scalar::Uuid(u) => json!(u.to_string()),
            Scalar::Dec(d) => json!(d.to_string()),
            Scalar::Bool(b) => json!(b),
            Scalar::Null => serde_json::Value::Null,
        })
        .collect();
    let body = json!({ "o": order_fingerprint(order), "k": keys });
    URL_SAFE_NO_PAD.encode(body.to_string())
}

fn decode_cursor(cursor: &str, order: &[OrderKey]) -> Option<Vec<Scalar>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let body: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if body.get("o")?.as_str()? != order_fingerprint(order) {
        return None;
    }
    let keys = body.get("k")?.as_array()?;
    // No stored text holds U+0000 (and PostgreSQL cannot compare text that does): such a cursor
    // was not made here.
    if keys.len() != order.len() || keys.iter().any(|k| k.as_str().is_some_and(|s| s.contains('\0'))) {
        return None;
    }
    order
        .iter()
        .zip(keys)
        .map(|(k, v)| match &k.field {
            SortField::Field(f) => scalar_from_json(f.kind, v),
            SortField::Custom(c) => scalar_of_custom(c.ty, v),
        })
        .collect()
}

fn scalar_from_json(kind: FieldKind, v: &serde_json::Value) -> Option<Scalar> {
    Some(match kind {
        FieldKind::String | FieldKind::Enum { .. } => Scalar::Str(v.as_str()?.to_owned()),
        FieldKind::Int => Scalar::Int(v.as_i64()?),
        FieldKind::DateTime => Scalar::Time(DateTime::parse_from_rfc3339(v.as_str()?).ok()?.with_timezone(&Utc)),
        FieldKind::Id { .. } => Scalar::Uuid(Uuid::parse_str(v.as_str()?).ok()?),
        FieldKind::Boolean => Scalar::Bool(v.as_bool()?),
        FieldKind::Date | FieldKind::Decimal => Scalar::Str(v.as_str()?.to_owned()),
        FieldKind::StringList | FieldKind::IdList { .. } => return None,
    })
}

/// Appends the `id` tiebreak to a requested order (unless it already ends on id).
#[must_use]
pub fn total_order(mut keys: Vec<OrderKey>, id_field: &'static FieldSpec) -> Vec<OrderKey> {
    let is_id = |k: &OrderKey| matches!(k.field, SortField::Field(f) if f.name == ID_FIELD_NAME);
    if !keys.last().is_some_and(is_id) {
        let descending = keys.first().is_some_and(|k| k.descending);
        keys.retain(|k| !is_id(k));
        keys.push(OrderKey::by(id_field, descending));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ors_and_ins_match_nothing_where_an_and_needs_them() {
        static NAME: FieldSpec = FieldSpec::new("name", FieldKind::String);
        let name_in = |v: Vec<Scalar>| Filter::Field(&NAME, Op::In(v));
        let some = || name_in(vec![Scalar::Str("x".into())]);
        assert!(Filter::Any(vec![]).matches_nothing());
        assert!(Filter::All(vec![some(), Filter::Any(vec![])]).matches_nothing());
        assert!(name_in(vec![]).matches_nothing());
        assert!(Filter::Any(vec![name_in(vec![]), Filter::Any(vec![])]).matches_nothing());
        assert!(!Filter::everything().matches_nothing());
        assert!(!Filter::Any(vec![name_in(vec![]), some()]).matches_nothing());
        assert!(!Filter::Not(Box::new(Filter::Any(vec![]))).matches_nothing());
    }

    static NAME: FieldSpec = FieldSpec::new("name", FieldKind::String).order("NAME");
    static ID: FieldSpec = FieldSpec::id("Customer");

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_order() {
        let order = total_order(vec![OrderKey::by(&NAME, false)], &ID);
        let id = Uuid::now_v7();
        let c = encode_cursor(&order, &[Scalar::Str("张三".into()), Scalar::Uuid(id)]);
        let p = page_request(Some(5), Some(&c), None, None, &order).unwrap();
        assert_eq!(p.cursor, Some(vec![Scalar::Str("张三".into()), Scalar::Uuid(id)]));
        let other = total_order(vec![OrderKey::by(&NAME, true)], &ID);
        assert!(page_request(Some(5), Some(&c), None, None, &other).is_err());
        assert!(page_request(Some(5), Some("garbage"), None, None, &order).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        let order = total_order(vec![], &ID);
        assert_eq!(page_request(None, None, None, None, &order).unwrap().size, DEFAULT_PAGE_SIZE);
        assert!(page_request(Some(101), None, None, None, &order).is_err());
        assert!(page_request(Some(-1), None, None, None, &order).is_err());
        assert!(page_request(Some(1), None, Some(1), None, &order).is_err());
        assert!(page_request(None, None, Some(3), None, &order).unwrap().backward);
    }
}
