//! `viewer`, `node`, and the `User` and `Tenant` types.

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Interface, InterfaceField, Object, TypeRef,
};
use guanxi_entity::{complaint, customer, interaction, key_account_plan, user};

use super::context::{RequestContext, request, resolve};
use super::scalars::opt_str;
use super::{Types, parent};
use crate::domain::records;
use crate::domain::write::Lifecycle;
use crate::domain::{Caller, Role, complaints, customers, ids, interactions, plans};

struct Viewer(Caller);

pub fn register(types: &mut Types) {
    types.interfaces.push(Interface::new("Node").field(InterfaceField::new("id", TypeRef::named_nn(TypeRef::ID))));
    types.enums.push(Role::ALL.iter().fold(Enum::new("Role"), |e, r| e.item(r.as_str())));
    types.objects.push(
        Object::new("User")
            .implement("Node")
            .field(Field::new("id", TypeRef::named_nn(TypeRef::ID), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(ids::encode("User", ctx.parent_value.try_downcast_ref::<user::Model>()?.id))))
                })
            }))
            .field(Field::new("name", TypeRef::named(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let u = ctx.parent_value.try_downcast_ref::<user::Model>()?;
                    // A user known only by subject is shown by it, so lists never show blanks.
                    Ok(Some(Value::String(u.name.clone().unwrap_or_else(|| u.subject.clone()))))
                })
            }))
            .field(Field::new("email", TypeRef::named(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(opt_str(ctx.parent_value.try_downcast_ref::<user::Model>()?.email.as_deref())))
                })
            })),
    );
    types.objects.push(
        Object::new("Tenant")
            .field(Field::new("id", TypeRef::named_nn(TypeRef::ID), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(ids::encode(
                        "Tenant",
                        ctx.parent_value.try_downcast_ref::<Viewer>()?.0.tenant_id,
                    ))))
                })
            }))
            .field(Field::new("slug", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(ctx.parent_value.try_downcast_ref::<Viewer>()?.0.tenant_slug.clone())))
                })
            }))
            .field(Field::new("name", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(ctx.parent_value.try_downcast_ref::<Viewer>()?.0.tenant_name.clone())))
                })
            })),
    );
    types.objects.push(
        Object::new("Viewer")
            .description("Who is calling: user, role and tenant.")
            .field(Field::new("user", TypeRef::named_nn("User"), |ctx| {
                resolve(async move {
                    let v = parent::<Viewer>(&ctx)?;
                    let rc = request(&ctx)?;
                    let user = crate::domain::related::user(&rc.db, v.0.tenant_id, v.0.user_id)
                        .await?
                        .ok_or_else(|| crate::Error::Internal(anyhow::anyhow!("caller's user row missing")))?;
                    Ok(Some(FieldValue::owned_any(user)))
                })
            }))
            .field(Field::new("role", TypeRef::named_nn("Role"), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::Enum(async_graphql::Name::new(
                        ctx.parent_value.try_downcast_ref::<Viewer>()?.0.role.as_str(),
                    ))))
                })
            }))
            .field(Field::new("tenant", TypeRef::named_nn("Tenant"), |ctx| {
                FieldFuture::new(async move {
                    let v = ctx.parent_value.try_downcast_ref::<Viewer>()?;
                    Ok(Some(FieldValue::owned_any(Viewer(v.0.clone()))))
                })
            })),
    );
    types.query.push(Field::new("viewer", TypeRef::named_nn("Viewer"), |ctx| {
        resolve(async move { Ok(Some(FieldValue::owned_any(Viewer(request(&ctx)?.caller.clone())))) })
    }));
    types.query.push(
        Field::new("node", TypeRef::named("Node"), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let raw = ctx.args.get("id").and_then(|v| v.string().ok()).unwrap_or_default();
                let Some((ty, id)) = ids::decode_any(raw) else {
                    return Err(crate::Error::invalid("id", "INVALID_ID", format!("'{raw}' is not an id")));
                };
                async fn node<R: Lifecycle>(
                    rc: &RequestContext,
                    id: uuid::Uuid,
                ) -> crate::Result<Option<FieldValue<'static>>> {
                    Ok(records::get::<R>(&rc.db, &rc.caller, id)
                        .await?
                        .map(|r| FieldValue::owned_any(r).with_type(R::TYPE_NAME)))
                }
                Ok(match ty.as_str() {
                    customers::TYPE_NAME => node::<customer::Model>(rc, id).await?,
                    interactions::TYPE_NAME => node::<interaction::Model>(rc, id).await?,
                    complaints::TYPE_NAME => node::<complaint::Model>(rc, id).await?,
                    plans::TYPE_NAME => node::<key_account_plan::Model>(rc, id).await?,
                    "User" => crate::domain::related::user(&rc.db, rc.caller.tenant_id, id)
                        .await?
                        .map(|u| FieldValue::owned_any(u).with_type("User")),
                    _ => None,
                })
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .description("Any record by its global id; null if it does not exist or is not visible to the caller."),
    );
}
