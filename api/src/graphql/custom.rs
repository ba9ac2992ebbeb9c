//! Custom fields in the schema: the definitions' own type, queries and mutations, and — per
//! tenant — `custom: <Entity>Custom!` with one typed field per live definition, `customFields:
//! JSON!`, the typed `custom` filter and the `customField` order key on every entity.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ObjectAccessor, ResolverContext, TypeRef,
};
use guanxi_entity::{complaint, customer, interaction, key_account_plan};

use super::context::{id_arg, request, resolve};
use super::filters::custom_filter_type;
use super::scalars::{opt_str, time_value};
use super::{Types, enum_value, inputs, simple};
use crate::domain::custom_fields::{
    self as service, DefineInput, Definition, EntityKind, FieldType, TYPE_NAME, TenantFields, UpdateInput,
};
use crate::domain::input::Patch;
use crate::domain::{custom_values, ids};
use crate::error::Error;

/// The create and update inputs of each entity, which all take `customFields: JSON`.
const WRITE_INPUTS: [&str; 8] = [
    "CreateCustomerInput",
    "UpdateCustomerInput",
    "RecordInteractionInput",
    "UpdateInteractionInput",
    "FileComplaintInput",
    "UpdateComplaintInput",
    "CreateKeyAccountPlanInput",
    "UpdateKeyAccountPlanInput",
];

/// Registers the definition types and, for `fields`, the tenant's typed custom fields.
/// Runs after the entities have registered theirs, since it extends them.
pub fn register(types: &mut Types, fields: &Arc<TenantFields>) {
    types.enums.push(EntityKind::ALL.iter().fold(Enum::new("EntityKind"), |e, k| e.item(k.as_str())));
    types.enums.push(FieldType::ALL.iter().fold(Enum::new("CustomFieldType"), |e, t| e.item(t.as_str())));
    types.enums.push(
        Enum::new("FieldSource")
            .description(
                "USER: defined by an ADMIN. PLUGIN: a scorer's score key, read-only. BUILT_IN: an entity's own \
                 field, shown as a definition where validators attach to it.",
            )
            .item("USER")
            .item("PLUGIN")
            .item("BUILT_IN"),
    );
    types.enums.push(
        Enum::new("IndexState")
            .description(
                "Where a field's index stands. NONE: not indexed. BUILDING: the definition is stored and the index \
                 is being built in the background; filters work meanwhile, without it. READY: built. FAILED: not \
                 built, `indexError` says why; turning `indexed` off and on again retries.",
            )
            .item("NONE")
            .item("BUILDING")
            .item("READY")
            .item("FAILED"),
    );
    types.objects.push(definition_type());
    types.inputs.extend(definition_inputs());
    types.query.push(definitions_query());
    types.mutation.extend(mutations());
    for name in WRITE_INPUTS {
        types.extend_input(name, |i| {
            i.field(
                InputValue::new("customFields", TypeRef::named("JSON"))
                    .description("Custom values by key; absent keys stay as they are, null clears one."),
            )
        });
    }
    for entity in EntityKind::ALL {
        let live = distinct_names(fields.live(entity));
        let type_name = entity.type_name();
        let shared = fields.clone();
        types.extend_object(type_name, |o| {
            o.field(
                Field::new("customFields", TypeRef::named_nn("JSON"), move |ctx| {
                    let fields = shared.clone();
                    resolve(async move {
                        let stored = stored_values(&ctx)?;
                        let visible = custom_values::visible(fields.live(entity), stored);
                        Ok(Some(FieldValue::value(Value::from_json(visible).unwrap_or(Value::Null))))
                    })
                })
                .description("Every custom value, by key (required fields show their default when unset)."),
            )
        });
        if live.is_empty() {
            // GraphQL has no empty object types: `custom` appears with the first definition.
            continue;
        }
        let custom_type = format!("{type_name}Custom");
        let filter_type = format!("{type_name}CustomFilter");
        types.objects.push(live.iter().fold(
            Object::new(&custom_type).description(format!("The tenant's custom fields of {type_name}.")),
            |o, d| o.field(value_field(d)),
        ));
        types.inputs.push(live.iter().fold(
            InputObject::new(&filter_type).description(format!("Conditions on {type_name}'s custom fields.")),
            |i, d| i.field(InputValue::new(&d.name, TypeRef::named(custom_filter_type(d.ty)))),
        ));
        types.extend_object(type_name, |o| {
            o.field(Field::new("custom", TypeRef::named_nn(&custom_type), |ctx| {
                resolve(async move { Ok(Some(FieldValue::borrowed_any(stored_values(&ctx)?))) })
            }))
        });
        types.extend_input(&format!("{type_name}Filter"), |i| {
            i.field(InputValue::new("custom", TypeRef::named(&filter_type)))
        });
    }
}

/// The definitions whose GraphQL name no earlier one has, in definition order. The domain
/// refuses a key whose name is taken (`vip_1` after `vip1`), but the schema builder panics on a
/// name given twice, and it runs for every request of the tenant: a pair stored before that rule
/// (or around it) must cost one field, not the tenant's whole API, uninstalling included.
fn distinct_names<'a>(defs: impl Iterator<Item = &'a Definition>) -> Vec<&'a Definition> {
    let mut seen = HashSet::new();
    defs.filter(|d| {
        let first = seen.insert(d.name.as_str());
        if !first {
            tracing::error!(entity = d.entity.as_str(), key = %d.key, name = %d.name, "custom field name taken twice; left out of the schema");
        }
        first
    })
    .collect()
}

/// The stored `custom_fields` object of whichever entity is the parent.
fn stored_values<'a>(ctx: &ResolverContext<'a>) -> crate::Result<&'a serde_json::Value> {
    let p = ctx.parent_value;
    if let Ok(m) = p.try_downcast_ref::<customer::Model>() {
        return Ok(&m.custom_fields);
    }
    if let Ok(m) = p.try_downcast_ref::<interaction::Model>() {
        return Ok(&m.custom_fields);
    }
    if let Ok(m) = p.try_downcast_ref::<complaint::Model>() {
        return Ok(&m.custom_fields);
    }
    if let Ok(m) = p.try_downcast_ref::<key_account_plan::Model>() {
        return Ok(&m.custom_fields);
    }
    Err(Error::Internal(anyhow::anyhow!("custom fields asked of an entity without them")))
}

/// The GraphQL type of a custom field's values.
fn value_type(ty: FieldType) -> TypeRef {
    match ty {
        FieldType::Int => TypeRef::named("BigInt"),
        FieldType::Decimal => TypeRef::named("Decimal"),
        FieldType::Boolean => TypeRef::named(TypeRef::BOOLEAN),
        FieldType::Date => TypeRef::named("Date"),
        FieldType::DateTime => TypeRef::named("DateTime"),
        FieldType::MultiEnum => TypeRef::named_nn_list(TypeRef::STRING),
        FieldType::Json => TypeRef::named("JSON"),
        _ => TypeRef::named(TypeRef::STRING),
    }
}

/// One typed field of `<Entity>Custom`; its parent is the stored `custom_fields` object.
fn value_field(def: &Definition) -> Field {
    let shared = Arc::new(def.clone());
    let mut description = def.description.clone().map_or_else(|| def.label.clone(), |d| format!("{}: {d}", def.label));
    if !def.options.is_empty() {
        description.push_str(&format!(" (one of: {})", def.options.join(", ")));
    }
    Field::new(&def.name, value_type(def.ty), move |ctx| {
        let def = shared.clone();
        FieldFuture::new(async move {
            let stored = ctx.parent_value.try_downcast_ref::<serde_json::Value>()?;
            Ok(custom_values::read(&def, stored).and_then(|v| Value::from_json(v.clone()).ok()).map(FieldValue::value))
        })
    })
    .description(description)
}

fn definition_type() -> Object {
    Object::new(TYPE_NAME)
        .description("A custom field of one entity, defined by an ADMIN (or a scorer plugin).")
        .field(simple::<Definition>("id", TypeRef::named_nn(TypeRef::ID), |d| {
            Value::String(ids::encode(TYPE_NAME, d.id))
        }))
        .field(simple::<Definition>("entity", TypeRef::named_nn("EntityKind"), |d| enum_value(d.entity.as_str())))
        .field(simple::<Definition>("key", TypeRef::named_nn(TypeRef::STRING), |d| Value::String(d.key.clone())))
        .field(
            simple::<Definition>("name", TypeRef::named_nn(TypeRef::STRING), |d| Value::String(d.name.clone()))
                .description("The field's name under `custom`: the key in camelCase."),
        )
        .field(simple::<Definition>("label", TypeRef::named_nn(TypeRef::STRING), |d| Value::String(d.label.clone())))
        .field(simple::<Definition>("description", TypeRef::named(TypeRef::STRING), |d| {
            opt_str(d.description.as_deref())
        }))
        .field(simple::<Definition>("type", TypeRef::named_nn("CustomFieldType"), |d| enum_value(d.ty.as_str())))
        .field(simple::<Definition>("required", TypeRef::named_nn(TypeRef::BOOLEAN), |d| Value::Boolean(d.required)))
        .field(
            simple::<Definition>("options", TypeRef::named_nn_list(TypeRef::STRING), |d| match d.ty {
                FieldType::Enum | FieldType::MultiEnum => {
                    Value::List(d.options.iter().cloned().map(Value::String).collect())
                }
                _ => Value::Null,
            })
            .description("The choices of an ENUM or MULTI_ENUM field; null for every other type."),
        )
        .field(simple::<Definition>("defaultValue", TypeRef::named("JSON"), |d| {
            d.default_value.clone().and_then(|v| Value::from_json(v).ok()).unwrap_or(Value::Null)
        }))
        .field(simple::<Definition>("indexed", TypeRef::named_nn(TypeRef::BOOLEAN), |d| Value::Boolean(d.indexed)))
        .field(simple::<Definition>("indexState", TypeRef::named_nn("IndexState"), |d| {
            enum_value(d.index_state.as_str())
        }))
        .field(
            simple::<Definition>("indexError", TypeRef::named(TypeRef::STRING), |d| opt_str(d.index_error.as_deref()))
                .description("Why the index could not be built (FAILED only)."),
        )
        .field(simple::<Definition>("archived", TypeRef::named_nn(TypeRef::BOOLEAN), |d| Value::Boolean(d.archived)))
        .field(simple::<Definition>("source", TypeRef::named_nn("FieldSource"), |d| enum_value(d.source.as_str())))
        .field(simple::<Definition>("version", TypeRef::named_nn(TypeRef::INT), |d| Value::from(d.version)))
        .field(
            Field::new("validators", TypeRef::named_nn_list_nn(super::plugins::TYPE_NAME), |ctx| {
                resolve(async move {
                    let d = super::parent::<Definition>(&ctx)?;
                    let rc = request(&ctx)?;
                    let field = if d.source == service::Source::BuiltIn { &d.name } else { &d.key };
                    let attached = rc.attachments().await?;
                    Ok(Some(FieldValue::list(
                        attached
                            .iter()
                            .filter(|(a, _)| a.entity == d.entity.as_str() && &a.field == field)
                            .map(|(_, p)| FieldValue::owned_any(p.clone())),
                    )))
                })
            })
            .description("Validator plugins that check this field's values in every write."),
        )
        .field(simple::<Definition>("createdAt", TypeRef::named_nn("DateTime"), |d| time_value(&d.created_at)))
        .field(simple::<Definition>("updatedAt", TypeRef::named_nn("DateTime"), |d| time_value(&d.updated_at)))
}

fn definition_inputs() -> [InputObject; 2] {
    let define = InputObject::new("DefineCustomFieldInput")
        .field(InputValue::new("entity", TypeRef::named_nn("EntityKind")))
        .field(
            InputValue::new("key", TypeRef::named_nn(TypeRef::STRING))
                .description("[a-z][a-z0-9_]{0,62}; unique per entity; its camelCase is the GraphQL field name"),
        )
        .field(InputValue::new("label", TypeRef::named_nn(TypeRef::STRING)))
        .field(InputValue::new("description", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("type", TypeRef::named_nn("CustomFieldType")))
        .field(InputValue::new("required", TypeRef::named(TypeRef::BOOLEAN)).default_value(Value::Boolean(false)))
        .field(
            InputValue::new("options", TypeRef::named_nn_list(TypeRef::STRING)).description("ENUM and MULTI_ENUM only"),
        )
        .field(
            InputValue::new("defaultValue", TypeRef::named("JSON"))
                .description("Taken by new rows, and by existing rows when a required field is added"),
        )
        .field(
            InputValue::new("indexed", TypeRef::named(TypeRef::BOOLEAN))
                .default_value(Value::Boolean(false))
                .description("PostgreSQL: an expression index serving filters and orders on this field"),
        );
    let update = InputObject::new("UpdateCustomFieldInput")
        .description("Absent fields stay as they are. A new type or options must fit every stored value.")
        .field(InputValue::new("label", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("description", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("type", TypeRef::named("CustomFieldType")))
        .field(InputValue::new("required", TypeRef::named(TypeRef::BOOLEAN)))
        .field(InputValue::new("options", TypeRef::named_nn_list(TypeRef::STRING)))
        .field(InputValue::new("defaultValue", TypeRef::named("JSON")))
        .field(InputValue::new("indexed", TypeRef::named(TypeRef::BOOLEAN)));
    [define, update]
}

fn definitions_query() -> Field {
    Field::new("customFieldDefinitions", TypeRef::named_nn_list_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let entity = ctx
                .args
                .get("entity")
                .filter(|v| !v.is_null())
                .and_then(|v| v.enum_name().ok().and_then(EntityKind::parse));
            let defs = service::list(&rc.db, &rc.caller, entity).await?;
            Ok(Some(FieldValue::list(defs.into_iter().map(FieldValue::owned_any))))
        })
    })
    .argument(InputValue::new("entity", TypeRef::named("EntityKind")))
    .description("The live custom field definitions, in definition order; every role may read them.")
}

fn define_input(obj: &ObjectAccessor<'_>) -> DefineInput {
    DefineInput {
        entity: inputs::string(obj, "entity").into_value().unwrap_or_default(),
        key: inputs::string(obj, "key").into_value().unwrap_or_default(),
        label: inputs::string(obj, "label").into_value().unwrap_or_default(),
        description: inputs::string(obj, "description").into_value(),
        ty: inputs::string(obj, "type").into_value().unwrap_or_default(),
        required: inputs::boolean(obj, "required").into_value().unwrap_or(false),
        options: inputs::strings(obj, "options").into_value(),
        default_value: inputs::json(obj, "defaultValue").into_value(),
        indexed: inputs::boolean(obj, "indexed").into_value().unwrap_or(false),
    }
}

fn update_input(obj: &ObjectAccessor<'_>) -> UpdateInput {
    // `required` and `indexed` are flags: null means "leave as is", like absent.
    let flag = |name| match inputs::boolean(obj, name) {
        Patch::Null => Patch::Absent,
        p => p,
    };
    UpdateInput {
        label: inputs::string(obj, "label"),
        description: inputs::string(obj, "description"),
        ty: inputs::string(obj, "type"),
        required: flag("required"),
        options: inputs::strings(obj, "options"),
        default_value: inputs::json(obj, "defaultValue"),
        indexed: flag("indexed"),
    }
}

/// Marks the request as having changed the tenant's schema.
fn changed(ctx: &ResolverContext<'_>) -> crate::Result<()> {
    request(ctx)?.schema_changed.store(true, Ordering::Relaxed);
    Ok(())
}

fn mutations() -> [Field; 4] {
    let define = Field::new("defineCustomField", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let def = service::define(&rc.db, &rc.caller, inputs::input(&ctx, define_input)?).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(def)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("DefineCustomFieldInput")))
    .description("ADMIN: adds a typed field to an entity; it is in the schema from the next request on.");
    let update = Field::new("updateCustomField", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let expected = inputs::expected_version(&ctx)?;
            let def = service::update(&rc.db, &rc.caller, id, inputs::input(&ctx, update_input)?, expected).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(def)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("UpdateCustomFieldInput")))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)))
    .description("ADMIN: changes a definition; a new type or options must fit every stored value.");
    let archive = archive_field(
        "archiveCustomField",
        true,
        "ADMIN: hides the field from the schema and from writes; its values are kept.",
    );
    let restore =
        archive_field("restoreCustomField", false, "ADMIN: brings an archived field back, with the values it had.");
    [define, update, archive, restore]
}

fn archive_field(name: &str, archived: bool, description: &str) -> Field {
    Field::new(name, TypeRef::named_nn(TYPE_NAME), move |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let def = if archived {
                service::archive(&rc.db, &rc.caller, id).await?
            } else {
                service::restore(&rc.db, &rc.caller, id).await?
            };
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(def)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description(description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::custom_fields::Source;

    /// Two stored fields with one GraphQL name (`risk` computed by a plugin, `risk_` an ADMIN's)
    /// leave the second out instead of making the builder panic.
    #[test]
    fn a_name_given_twice_is_left_out_not_a_panic() {
        let mut computed = Definition::for_test(EntityKind::Customer, "risk", FieldType::Decimal);
        computed.source = Source::Plugin;
        let twin = Definition::for_test(EntityKind::Customer, "risk_", FieldType::String);
        let other = Definition::for_test(EntityKind::Customer, "vip", FieldType::Boolean);
        let fields = Arc::new(TenantFields { definitions: vec![computed, twin, other] });
        let sdl = super::super::build(&fields).expect("schema").sdl();
        let custom = sdl.split("type CustomerCustom {").nth(1).and_then(|rest| rest.split('}').next()).expect("type");
        // Field lines are `name: Type`; descriptions sit between triple quotes around them.
        let names: Vec<&str> = custom
            .lines()
            .filter_map(|l| l.trim().split_once(": ").map(|(name, _)| name))
            .filter(|name| name.chars().all(char::is_alphanumeric))
            .collect();
        assert_eq!(names, ["risk", "vip"], "{custom}");
    }
}
