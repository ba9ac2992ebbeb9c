//! `auditLog` and the `AuditEntry` type.

use async_graphql::Value;
use async_graphql::dynamic::{Enum, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use guanxi_entity::audit_entry;

use super::connection::{self, Connection};
use super::context::{request, resolve, str_arg};
use super::scalars::time_value;
use super::{Types, parent};
use crate::domain::{audit, ids};
use crate::error::Error;
use crate::query::{Scalar, encode_cursor};

pub fn register(types: &mut Types) {
    types.enums.push(Enum::new("AuditAction").item("CREATE").item("UPDATE").item("DELETE"));
    types.objects.push(
        Object::new("AuditEntry")
            .description("One change: who, when, what, with each changed field's before and after.")
            .field(Field::new("id", TypeRef::named_nn(TypeRef::ID), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(ids::encode(
                        "AuditEntry",
                        ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?.id,
                    ))))
                })
            }))
            .field(Field::new("actor", TypeRef::named("User"), |ctx| {
                resolve(async move {
                    let e = parent::<audit_entry::Model>(&ctx)?;
                    let Some(actor) = e.actor_id else { return Ok(None) };
                    let user = request(&ctx)?.users.load_one(actor).await?;
                    Ok(user.map(FieldValue::owned_any))
                })
            }))
            .field(Field::new("entityKind", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(
                        ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?.entity_kind.clone(),
                    )))
                })
            }))
            .field(Field::new("entityId", TypeRef::named_nn(TypeRef::ID), |ctx| {
                FieldFuture::new(async move {
                    let e = ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?;
                    Ok(Some(Value::String(ids::encode(&e.entity_kind, e.entity_id))))
                })
            }))
            .field(Field::new("action", TypeRef::named_nn("AuditAction"), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::Enum(async_graphql::Name::new(
                        &ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?.action,
                    ))))
                })
            }))
            .field(
                Field::new("changes", TypeRef::named_nn("JSON"), |ctx| {
                    FieldFuture::new(async move {
                        let e = ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?;
                        Ok(Some(Value::from_json(e.changes.clone())?))
                    })
                })
                .description("{ field: { before, after } } for every field the change touched."),
            )
            .field(Field::new("at", TypeRef::named_nn("DateTime"), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(time_value(&ctx.parent_value.try_downcast_ref::<audit_entry::Model>()?.at)))
                })
            })),
    );
    types.objects.extend(connection::types::<audit_entry::Model>("AuditEntry"));
    let field = Field::new("auditLog", TypeRef::named_nn("AuditEntryConnection"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let entity_id = match str_arg(&ctx, "entityId") {
                Some(raw) => Some(
                    ids::decode_any(&raw)
                        .map(|(_, id)| id)
                        .ok_or_else(|| Error::invalid("entityId", "INVALID_ID", format!("'{raw}' is not an id")))?,
                ),
                None => None,
            };
            let order = audit::order();
            let page = connection::paging(&ctx, &order)?;
            let rows = audit::list(&rc.db, &rc.caller, entity_id, &page).await?;
            let count: connection::Counter = {
                let (db, caller) = (rc.db.clone(), rc.caller.clone());
                std::sync::Arc::new(move || {
                    let (db, caller) = (db.clone(), caller.clone());
                    Box::pin(async move { audit::count(&db, &caller, entity_id).await })
                })
            };
            let conn = Connection::new(rows, move |e| encode_cursor(&order, &[Scalar::Uuid(e.id)]), count);
            Ok(Some(FieldValue::owned_any(conn)))
        })
    })
    .argument(InputValue::new("entityId", TypeRef::named(TypeRef::ID)))
    .description("Every change in the tenant, newest first; ADMIN and MANAGER only.");
    types.query.push(connection::with_paging(field));
}
