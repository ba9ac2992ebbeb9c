//! Filter and order inputs, generated from an entity's [`FieldSpec`]s, and their parsing into the
//! domain's [`Filter`] and [`OrderKey`]s. One shape everywhere (docs/api.md, "Lists"):
//! `{ and: [F!], or: [F!], not: F, <field>: <Type>Filter }`.

use async_graphql::dynamic::{Enum, InputObject, InputValue, ObjectAccessor, TypeRef, ValueAccessor};

use crate::domain::custom_fields::{Definition, EntityKind, FieldType, TenantFields};
use crate::domain::{custom_values, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{CustomKey, FieldKind, FieldSpec, Filter, Op, OrderKey, Scalar, SortField};

/// The custom fields a list may filter and sort by: the live definitions of one entity.
#[derive(Clone, Copy)]
pub struct CustomScope<'a> {
    pub fields: &'a TenantFields,
    pub entity: EntityKind,
}

/// The shared operator inputs and `OrderDirection`; registered once per schema.
#[must_use]
pub fn shared_inputs() -> (Vec<InputObject>, Enum) {
    let list = |t: &str| TypeRef::named_nn_list(t.to_owned());
    let string = InputObject::new("StringFilter")
        .description("Comparisons never match null; use isNull. contains/startsWith ignore ASCII case.")
        .field(InputValue::new("eq", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("ne", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("in", list(TypeRef::STRING)))
        .field(InputValue::new("notIn", list(TypeRef::STRING)))
        .field(InputValue::new("contains", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("startsWith", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
    let ordered = |name: &str, ty: &str| {
        InputObject::new(name)
            .description("Comparisons never match null; use isNull.")
            .field(InputValue::new("eq", TypeRef::named(ty)))
            .field(InputValue::new("ne", TypeRef::named(ty)))
            .field(InputValue::new("in", list(ty)))
            .field(InputValue::new("notIn", list(ty)))
            .field(InputValue::new("gt", TypeRef::named(ty)))
            .field(InputValue::new("gte", TypeRef::named(ty)))
            .field(InputValue::new("lt", TypeRef::named(ty)))
            .field(InputValue::new("lte", TypeRef::named(ty)))
            .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)))
    };
    let id = InputObject::new("IDFilter")
        .field(InputValue::new("eq", TypeRef::named(TypeRef::ID)))
        .field(InputValue::new("in", list(TypeRef::ID)))
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
    let string_list = InputObject::new("StringListFilter")
        .description("Membership in a list of strings, e.g. tags; values compare exactly.")
        .field(InputValue::new("has", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("hasAny", list(TypeRef::STRING)))
        .field(InputValue::new("hasAll", list(TypeRef::STRING)))
        .field(InputValue::new("isEmpty", TypeRef::named(TypeRef::BOOLEAN)));
    let direction = Enum::new("OrderDirection").item("ASC").item("DESC");
    let boolean = InputObject::new("BooleanFilter")
        .field(InputValue::new("eq", TypeRef::named(TypeRef::BOOLEAN)))
        .field(InputValue::new("ne", TypeRef::named(TypeRef::BOOLEAN)))
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
    let json = InputObject::new("JSONFilter")
        .description("JSON values are only tested for presence.")
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)));
    (
        vec![
            string,
            ordered("IntFilter", TypeRef::INT),
            ordered("DateTimeFilter", "DateTime"),
            ordered("BigIntFilter", "BigInt"),
            ordered("DecimalFilter", "Decimal"),
            ordered("DateFilter", "Date"),
            boolean,
            json,
            id,
            string_list,
        ],
        direction,
    )
}

/// `<Enum>Filter` for an enum type.
#[must_use]
pub fn enum_filter(enum_name: &str) -> InputObject {
    let list = TypeRef::named_nn_list(enum_name.to_owned());
    InputObject::new(format!("{enum_name}Filter"))
        .field(InputValue::new("eq", TypeRef::named(enum_name)))
        .field(InputValue::new("ne", TypeRef::named(enum_name)))
        .field(InputValue::new("in", list.clone()))
        .field(InputValue::new("notIn", list))
        .field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)))
}

fn filter_type(kind: FieldKind) -> String {
    match kind {
        FieldKind::String => "StringFilter".into(),
        FieldKind::Int => "IntFilter".into(),
        FieldKind::DateTime => "DateTimeFilter".into(),
        FieldKind::Id { .. } => "IDFilter".into(),
        FieldKind::Enum { type_name, .. } => format!("{type_name}Filter"),
        FieldKind::StringList => "StringListFilter".into(),
        FieldKind::Boolean => "BooleanFilter".into(),
        // Never offered as filters (`FieldSpec::unfiltered`): stored as text, or as JSON.
        FieldKind::Date => "DateFilter".into(),
        FieldKind::Decimal => "DecimalFilter".into(),
        FieldKind::IdList { .. } => "IDListFilter".into(),
    }
}

/// `<Entity>Filter` over `fields`.
#[must_use]
pub fn entity_filter(entity: &str, fields: &[FieldSpec]) -> InputObject {
    let name = format!("{entity}Filter");
    let mut input = InputObject::new(&name)
        .description(format!("Conditions on {entity}; all given conditions must hold."))
        .field(InputValue::new("and", TypeRef::named_nn_list(name.clone())))
        .field(InputValue::new("or", TypeRef::named_nn_list(name.clone())))
        .field(InputValue::new("not", TypeRef::named(name)));
    for f in fields.iter().filter(|f| f.filter) {
        input = input.field(InputValue::new(f.name, TypeRef::named(filter_type(f.kind))));
    }
    input
}

/// `<Entity>OrderField` and `<Entity>Order` for the sortable `fields`.
#[must_use]
pub fn entity_order(entity: &str, fields: &[FieldSpec]) -> (Enum, InputObject) {
    let field_enum = fields.iter().filter_map(|f| f.order).fold(Enum::new(format!("{entity}OrderField")), Enum::item);
    let input = InputObject::new(format!("{entity}Order"))
        .description("Sort by a built-in `field` or by a `customField` (its key or GraphQL name), not both.")
        .field(InputValue::new("field", TypeRef::named(format!("{entity}OrderField"))))
        .field(InputValue::new("customField", TypeRef::named(TypeRef::STRING)))
        .field(
            InputValue::new("direction", TypeRef::named_nn("OrderDirection"))
                .default_value(async_graphql::Value::Enum(async_graphql::Name::new("ASC"))),
        );
    (field_enum, input)
}

fn scalar(kind: FieldKind, v: &ValueAccessor<'_>, path: &str, violations: &mut Vec<Violation>) -> Option<Scalar> {
    let bad = |violations: &mut Vec<Violation>, code: &str, msg: String| {
        violations.push(Violation::new(path, code, msg));
        None
    };
    match kind {
        FieldKind::String | FieldKind::StringList => v.string().ok().map(|s| Scalar::Str(s.to_owned())),
        FieldKind::Enum { .. } => v.enum_name().ok().map(|s| Scalar::Str(s.to_owned())),
        FieldKind::Int => v.i64().ok().map(Scalar::Int),
        FieldKind::DateTime => match v.string().ok().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(t)) => Some(Scalar::Time(t.with_timezone(&chrono::Utc))),
            _ => bad(violations, "INVALID_DATETIME", "not an RFC 3339 timestamp".into()),
        },
        FieldKind::Id { type_name } => match ids::decode(type_name, v.string().unwrap_or_default()) {
            Ok(id) => Some(Scalar::Uuid(id)),
            Err((code, msg)) => bad(violations, code, msg),
        },
        FieldKind::Boolean => v.boolean().ok().map(Scalar::Bool),
        // Not offered as filters: never read.
        FieldKind::Date | FieldKind::Decimal | FieldKind::IdList { .. } => None,
    }
}

/// Reads one comparison value, reporting a violation at the given path when it is unusable.
type ReadScalar<'f> = &'f dyn Fn(&ValueAccessor<'_>, &str, &mut Vec<Violation>) -> Option<Scalar>;

fn list(read: ReadScalar<'_>, v: &ValueAccessor<'_>, path: &str, violations: &mut Vec<Violation>) -> Vec<Scalar> {
    v.list()
        .map(|l| l.iter().enumerate().filter_map(|(i, x)| read(&x, &format!("{path}.{i}"), violations)).collect())
        .unwrap_or_default()
}

fn strings(v: &ValueAccessor<'_>) -> Vec<String> {
    v.list().map(|l| l.iter().filter_map(|x| x.string().ok().map(str::to_owned)).collect()).unwrap_or_default()
}

fn has_nul(v: &async_graphql::Value) -> bool {
    match v {
        async_graphql::Value::String(s) => s.contains('\0'),
        async_graphql::Value::List(items) => items.iter().any(has_nul),
        _ => false,
    }
}

/// Most values one list operator (`in`, `notIn`, `hasAny`, `hasAll`) may give. Each value is a
/// bind parameter: SQLite allows 32,766 per statement and PostgreSQL 65,535, shared by the whole
/// query, so a long list failed inside the database. A thousand is more than a person picks
/// from a list; a program holding more ids should page through them instead.
pub const MAX_LIST_VALUES: usize = 1_000;

/// Most comparison values a whole filter may hold (many short lists under `or` add up): well
/// below SQLite's 32,766 bind parameters, leaving room for the rest of the query.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// Most characters a `contains` or `startsWith` searches for: more than anyone types, and well
/// below the 50,000 bytes of a LIKE pattern SQLite accepts (it refused longer ones inside the
/// database).
pub const MAX_SEARCH_CHARS: usize = 1_000;

/// The operators of one field's filter object, each made into a filter by `make`.
fn ops(
    obj: &ObjectAccessor<'_>,
    path: &str,
    violations: &mut Vec<Violation>,
    read: ReadScalar<'_>,
    make: &dyn Fn(Op) -> Filter,
) -> Vec<Filter> {
    let mut out = Vec::new();
    for (name, v) in obj.iter() {
        if v.is_null() {
            continue;
        }
        let p = format!("{path}.{name}");
        if let async_graphql::Value::List(items) = v.as_value()
            && items.len() > MAX_LIST_VALUES
        {
            violations.push(Violation::new(
                p,
                "TOO_MANY",
                format!("at most {MAX_LIST_VALUES} values, got {}", items.len()),
            ));
            continue;
        }
        if has_nul(v.as_value()) {
            // PostgreSQL cannot compare text holding U+0000; no stored value holds one.
            violations.push(Violation::new(p, "INVALID_CHARACTER", "must not contain the NUL character (U+0000)"));
            continue;
        }
        if let ("contains" | "startsWith", Ok(s)) = (name.as_str(), v.string())
            && s.chars().count() > MAX_SEARCH_CHARS
        {
            let n = s.chars().count();
            violations.push(Violation::new(p, "TOO_LONG", format!("at most {MAX_SEARCH_CHARS} characters, got {n}")));
            continue;
        }
        let op = match name.as_str() {
            "eq" => read(&v, &p, violations).map(Op::Eq),
            "ne" => read(&v, &p, violations).map(Op::Ne),
            "gt" => read(&v, &p, violations).map(Op::Gt),
            "gte" => read(&v, &p, violations).map(Op::Gte),
            "lt" => read(&v, &p, violations).map(Op::Lt),
            "lte" => read(&v, &p, violations).map(Op::Lte),
            "in" => Some(Op::In(list(read, &v, &p, violations))),
            "notIn" => Some(Op::NotIn(list(read, &v, &p, violations))),
            "contains" => v.string().ok().map(|s| Op::Contains(s.to_owned())),
            "startsWith" => v.string().ok().map(|s| Op::StartsWith(s.to_owned())),
            "isNull" => v.boolean().ok().map(Op::IsNull),
            "has" => v.string().ok().map(|s| Op::HasAll(vec![s.to_owned()])),
            "hasAny" => Some(Op::HasAny(strings(&v))),
            "hasAll" => Some(Op::HasAll(strings(&v))),
            "isEmpty" => v.boolean().ok().map(Op::IsEmpty),
            _ => None,
        };
        if let Some(op) = op {
            out.push(make(op));
        }
    }
    out
}

/// A comparison value for a custom field of type `ty`, in the form its values are stored.
fn custom_scalar(ty: FieldType, v: &ValueAccessor<'_>, path: &str, violations: &mut Vec<Violation>) -> Option<Scalar> {
    let json = v.as_value().clone().into_json().unwrap_or_default();
    let read = match ty {
        FieldType::Int => custom_values::integer(&json).map(Scalar::Int),
        FieldType::Decimal => custom_values::decimal(&json).map(Scalar::Dec),
        FieldType::Boolean => json.as_bool().map(Scalar::Bool).ok_or(("INVALID_TYPE", "expected true or false".into())),
        FieldType::DateTime => json
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Scalar::Str(custom_values::canonical_time(&t.with_timezone(&chrono::Utc))))
            .ok_or(("INVALID_DATETIME", "not an RFC 3339 timestamp".into())),
        _ => json.as_str().map(|s| Scalar::Str(s.to_owned())).ok_or(("INVALID_TYPE", "expected a string".into())),
    };
    read.map_err(|(code, msg)| violations.push(Violation::new(path, code, msg))).ok()
}

/// The filter input type of a custom field.
#[must_use]
pub fn custom_filter_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int => "BigIntFilter",
        FieldType::Decimal => "DecimalFilter",
        FieldType::Boolean => "BooleanFilter",
        FieldType::Date => "DateFilter",
        FieldType::DateTime => "DateTimeFilter",
        FieldType::MultiEnum => "StringListFilter",
        FieldType::Json => "JSONFilter",
        _ => "StringFilter",
    }
}

fn custom_filters(
    def: &Definition,
    obj: &ObjectAccessor<'_>,
    path: &str,
    violations: &mut Vec<Violation>,
) -> Vec<Filter> {
    let key = CustomKey::of(def);
    let ty = def.ty;
    ops(obj, path, violations, &|v, p, vs| custom_scalar(ty, v, p, vs), &|op| Filter::Custom(key.clone(), op))
}

/// Filter keys an entity adds beyond its fields (e.g. `slaBreached`), turned into filters.
pub type ExtraKeys = fn(&str, &ValueAccessor<'_>) -> Option<Filter>;

/// No extra filter keys.
pub fn no_extra(_: &str, _: &ValueAccessor<'_>) -> Option<Filter> {
    None
}

fn parse_into(
    obj: &ObjectAccessor<'_>,
    fields: &'static [FieldSpec],
    extra: ExtraKeys,
    custom: Option<CustomScope<'_>>,
    path: &str,
    violations: &mut Vec<Violation>,
) -> Filter {
    let mut all = Vec::new();
    for (name, v) in obj.iter() {
        if v.is_null() {
            continue;
        }
        let p = format!("{path}.{name}");
        match name.as_str() {
            "and" | "or" => {
                let parts: Vec<Filter> = v
                    .list()
                    .map(|l| {
                        l.iter()
                            .enumerate()
                            .filter_map(|(i, x)| {
                                x.object()
                                    .ok()
                                    .map(|o| parse_into(&o, fields, extra, custom, &format!("{p}.{i}"), violations))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                all.push(if name.as_str() == "and" { Filter::All(parts) } else { Filter::Any(parts) });
            }
            "not" => {
                if let Ok(o) = v.object() {
                    all.push(Filter::Not(Box::new(parse_into(&o, fields, extra, custom, &p, violations))));
                }
            }
            "custom" => {
                if let (Some(scope), Ok(o)) = (custom, v.object()) {
                    for (name, value) in o.iter() {
                        let (Some(def), Ok(inner)) =
                            (scope.fields.find_live(scope.entity, name.as_str()), value.object())
                        else {
                            continue;
                        };
                        all.extend(custom_filters(def, &inner, &format!("{p}.{name}"), violations));
                    }
                }
            }
            field => {
                if let (Some(spec), Ok(o)) = (fields.iter().find(|f| f.filter && f.name == field), v.object()) {
                    let kind = spec.kind;
                    let read = |v: &ValueAccessor<'_>, p: &str, vs: &mut Vec<Violation>| scalar(kind, v, p, vs);
                    all.extend(ops(&o, &p, violations, &read, &|op| Filter::Field(spec, op)));
                } else if let Some(f) = extra(field, &v) {
                    all.push(f);
                }
            }
        }
    }
    Filter::All(all)
}

/// The domain filter for a `filter` argument (absent: everything), with the entity's extra keys
/// and, for entities with custom fields, the tenant's definitions.
///
/// # Errors
/// `BAD_USER_INPUT` for ids of the wrong type, unparsable timestamps, lists longer than
/// [`MAX_LIST_VALUES`] or more than [`MAX_FILTER_VALUES`] values in all, each listed.
pub fn parse_filter_with(
    arg: Option<ValueAccessor<'_>>,
    fields: &'static [FieldSpec],
    extra: ExtraKeys,
    custom: Option<CustomScope<'_>>,
) -> Result<Filter> {
    let Some(obj) = arg.filter(|v| !v.is_null()).and_then(|v| v.object().ok()) else {
        return Ok(Filter::everything());
    };
    let mut violations = Vec::new();
    let filter = parse_into(&obj, fields, extra, custom, "filter", &mut violations);
    let values = filter.value_count();
    if values > MAX_FILTER_VALUES {
        violations.push(Violation::new(
            "filter",
            "TOO_MANY",
            format!("a filter compares with at most {MAX_FILTER_VALUES} values in all, this one with {values}"),
        ));
    }
    if violations.is_empty() { Ok(filter) } else { Err(Error::Invalid(violations)) }
}

/// Most sort keys an `orderBy` may give; more only slows the query without changing much.
pub const MAX_ORDER_KEYS: usize = 5;

/// The order keys of an `orderBy` argument (absent or empty: `default`). Each item names a
/// built-in `field` or a `customField` (key or GraphQL name), not both.
///
/// # Errors
/// `BAD_USER_INPUT` for a missing, doubled, repeated, unknown or unsortable field, or too many keys.
pub fn parse_order(
    arg: Option<ValueAccessor<'_>>,
    fields: &'static [FieldSpec],
    custom: Option<CustomScope<'_>>,
    default: Vec<OrderKey>,
) -> Result<Vec<OrderKey>> {
    let Some(arg) = arg.filter(|v| !v.is_null()) else {
        return Ok(default);
    };
    // A single object is a list of one (GraphQL's input coercion): it was once silently ignored.
    let as_list = arg.list().ok();
    let list: Vec<ValueAccessor<'_>> = match &as_list {
        Some(list) => list.iter().collect(),
        None => vec![arg],
    };
    let mut keys: Vec<OrderKey> = Vec::new();
    let mut violations = Vec::new();
    if list.len() > MAX_ORDER_KEYS {
        violations.push(Violation::new("orderBy", "TOO_MANY", format!("at most {MAX_ORDER_KEYS} sort keys")));
    }
    for (i, item) in list.iter().enumerate() {
        let Ok(obj) = item.object() else { continue };
        let descending = obj.get("direction").and_then(|d| d.enum_name().ok().map(|d| d == "DESC")).unwrap_or(false);
        let field = obj.get("field").filter(|f| !f.is_null()).and_then(|f| f.enum_name().ok().map(str::to_owned));
        let custom_name =
            obj.get("customField").filter(|f| !f.is_null()).and_then(|f| f.string().ok().map(str::to_owned));
        let sort = match (field, custom_name) {
            (Some(_), Some(_)) => {
                violations.push(Violation::new(
                    format!("orderBy.{i}"),
                    "FIELD_AND_CUSTOM_FIELD",
                    "give field or customField, not both",
                ));
                continue;
            }
            (Some(f), None) if f == super::plugins::LIFECYCLE_ORDER => {
                // A computed field with a place in the API's order enum.
                let key = super::plugins::LIFECYCLE_KEY;
                match custom.and_then(|c| c.fields.find_live(c.entity, key)) {
                    Some(d) => Some(SortField::Custom(CustomKey::of(d))),
                    None => {
                        violations.push(Violation::new(
                            format!("orderBy.{i}.field"),
                            "NOT_COMPUTED",
                            format!("no scorer of this tenant computes '{key}' (install the lifecycle scorer)"),
                        ));
                        continue;
                    }
                }
            }
            (Some(f), None) => fields.iter().find(|s| s.order == Some(f.as_str())).map(SortField::Field),
            (None, Some(name)) => {
                let def = custom.and_then(|c| c.fields.find_live(c.entity, &name));
                match def {
                    Some(d) if d.ty.sortable() => Some(SortField::Custom(CustomKey::of(d))),
                    Some(d) => {
                        violations.push(Violation::new(
                            format!("orderBy.{i}.customField"),
                            "NOT_SORTABLE",
                            format!("{} fields cannot be sorted by", d.ty.as_str()),
                        ));
                        continue;
                    }
                    None => {
                        violations.push(Violation::new(
                            format!("orderBy.{i}.customField"),
                            "UNKNOWN_FIELD",
                            format!("'{name}' is not a custom field here"),
                        ));
                        continue;
                    }
                }
            }
            (None, None) => None,
        };
        match sort {
            Some(sort) if keys.iter().any(|k| k.field.name() == sort.name()) => {
                violations.push(Violation::new(
                    format!("orderBy.{i}"),
                    "DUPLICATE",
                    "this field is already a sort key",
                ));
            }
            Some(field) => keys.push(OrderKey { field, descending }),
            None => {
                violations.push(Violation::new(format!("orderBy.{i}.field"), "REQUIRED", "give the field to sort by"));
            }
        }
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    Ok(if keys.is_empty() { default } else { keys })
}
