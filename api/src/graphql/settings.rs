//! `tenantSettings`, `updateTenantSettings` and `setTrustedDocuments` (ADMIN).

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputObject, InputValue, Object, TypeRef};

use super::context::{request, resolve};
use super::{Types, enum_value};
use crate::domain::settings::{SlaTerms, TenantSettings, TierCutPoints};
use crate::domain::tenant::{self, SettingsInput};

struct Sla(String, SlaTerms);

pub fn register(types: &mut Types) {
    types.objects.push(
        Object::new("SlaTerm")
            .description("Deadlines for one severity; key accounts (KEY_PRIMARY, KEY_SECONDARY) get half.")
            .field(Field::new("severity", TypeRef::named_nn("Severity"), |ctx| {
                FieldFuture::new(async move { Ok(Some(enum_value(&ctx.parent_value.try_downcast_ref::<Sla>()?.0))) })
            }))
            .field(Field::new("responseMinutes", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::from(ctx.parent_value.try_downcast_ref::<Sla>()?.1.response_minutes)))
                })
            }))
            .field(Field::new("resolutionMinutes", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::from(ctx.parent_value.try_downcast_ref::<Sla>()?.1.resolution_minutes)))
                })
            })),
    );
    types.objects.push(
        Object::new("TenantSettings")
            .field(Field::new("baseCurrency", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::String(
                        ctx.parent_value.try_downcast_ref::<TenantSettings>()?.base_currency.clone(),
                    )))
                })
            }))
            .field(Field::new("tierCutPoints", TypeRef::named_nn("TierCutPoints"), |ctx| {
                FieldFuture::new(async move {
                    let s = ctx.parent_value.try_downcast_ref::<TenantSettings>()?;
                    Ok(Some(FieldValue::owned_any(s.tier_cut_points)))
                })
            }))
            .field(Field::new("tierScoreKey", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let s = ctx.parent_value.try_downcast_ref::<TenantSettings>()?;
                    Ok(Some(Value::String(s.tier_score_key.clone())))
                })
            }))
            .field(
                Field::new("enforceTrustedDocuments", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                    FieldFuture::new(async move {
                        let s = ctx.parent_value.try_downcast_ref::<TenantSettings>()?;
                        Ok(Some(Value::from(s.enforce_trusted_documents)))
                    })
                })
                .description("Only the trusted documents run, for every role but ADMIN (set by `setTrustedDocuments`)."),
            )
            .field(Field::new("sla", TypeRef::named_nn_list_nn("SlaTerm"), |ctx| {
                FieldFuture::new(async move {
                    let s = ctx.parent_value.try_downcast_ref::<TenantSettings>()?;
                    let order = crate::domain::complaints::SEVERITIES;
                    Ok(Some(FieldValue::list(
                        order.iter().rev().map(|sev| FieldValue::owned_any(Sla((*sev).to_owned(), s.sla_for(sev)))),
                    )))
                })
            })),
    );
    let share = |name: &'static str, get: fn(&TierCutPoints) -> f64| {
        Field::new(name, TypeRef::named_nn(TypeRef::FLOAT), move |ctx| {
            FieldFuture::new(async move {
                Ok(Some(Value::from(get(ctx.parent_value.try_downcast_ref::<TierCutPoints>()?))))
            })
        })
    };
    types.objects.push(
        Object::new("TierCutPoints")
            .description("Shares of the scored customers per value tier, in percent, top down; SMALL takes the rest.")
            .field(share("keyPrimary", |c| c.key_primary))
            .field(share("keySecondary", |c| c.key_secondary))
            .field(share("ordinary", |c| c.ordinary)),
    );
    types.inputs.push(
        InputObject::new("TierCutPointsInput")
            .field(InputValue::new("keyPrimary", TypeRef::named_nn(TypeRef::FLOAT)))
            .field(InputValue::new("keySecondary", TypeRef::named_nn(TypeRef::FLOAT)))
            .field(InputValue::new("ordinary", TypeRef::named_nn(TypeRef::FLOAT))),
    );
    types.inputs.push(
        InputObject::new("SlaTermInput")
            .field(InputValue::new("severity", TypeRef::named_nn("Severity")))
            .field(InputValue::new("responseMinutes", TypeRef::named_nn(TypeRef::INT)))
            .field(InputValue::new("resolutionMinutes", TypeRef::named_nn(TypeRef::INT))),
    );
    types.inputs.push(
        InputObject::new("TenantSettingsInput")
            .field(InputValue::new("baseCurrency", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("sla", TypeRef::named_nn_list("SlaTermInput")))
            .field(InputValue::new("tierCutPoints", TypeRef::named("TierCutPointsInput")))
            .field(InputValue::new("tierScoreKey", TypeRef::named(TypeRef::STRING))),
    );
    types.query.push(Field::new("tenantSettings", TypeRef::named_nn("TenantSettings"), |ctx| {
        resolve(async move { Ok(Some(FieldValue::owned_any(request(&ctx)?.settings().await?.clone()))) })
    }));
    types.mutation.push(
        Field::new("updateTenantSettings", TypeRef::named_nn("TenantSettings"), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let input = super::inputs::input(&ctx, |obj| SettingsInput {
                    base_currency: obj.get("baseCurrency").and_then(|v| v.string().ok().map(str::to_owned)),
                    sla: obj
                        .get("sla")
                        .and_then(|v| v.list().ok())
                        .map(|l| {
                            l.iter()
                                .filter_map(|t| {
                                    let t = t.object().ok()?;
                                    Some((
                                        t.get("severity")?.enum_name().ok()?.to_owned(),
                                        SlaTerms {
                                            response_minutes: t.get("responseMinutes")?.i64().ok()?,
                                            resolution_minutes: t.get("resolutionMinutes")?.i64().ok()?,
                                        },
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    tier_cut_points: obj.get("tierCutPoints").and_then(|v| v.object().ok()).map(|c| {
                        let share = |k: &str| c.get(k).and_then(|x| x.f64().ok()).unwrap_or(f64::NAN);
                        TierCutPoints {
                            key_primary: share("keyPrimary"),
                            key_secondary: share("keySecondary"),
                            ordinary: share("ordinary"),
                        }
                    }),
                    tier_score_key: obj.get("tierScoreKey").and_then(|v| v.string().ok().map(str::to_owned)),
                })?;
                Ok(Some(FieldValue::owned_any(tenant::update_settings(&rc.db, &rc.caller, input).await?)))
            })
        })
        .argument(InputValue::new("input", TypeRef::named_nn("TenantSettingsInput")))
        .description(
            "ADMIN only: base currency of purchase totals, the complaint SLA table, and the value tiers' cut points and score (changing those re-ranks the tiers).",
        ),
    );
    register_trusted_documents(types);
}

fn register_trusted_documents(types: &mut Types) {
    types.inputs.push(
        InputObject::new("TrustedDocumentInput")
            .description("A document a client sends by its hash (graphql-codegen's and Relay's persisted documents).")
            .field(InputValue::new("sha256Hash", TypeRef::named_nn(TypeRef::STRING)).description("SHA-256 of `document`, hex."))
            .field(InputValue::new("document", TypeRef::named_nn(TypeRef::STRING))),
    );
    types.mutation.push(
        Field::new("setTrustedDocuments", TypeRef::named_nn(TypeRef::INT), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let listed = ctx.args.get("documents").and_then(|v| v.list().ok());
                let documents = listed
                    .iter()
                    .flat_map(|l| l.iter())
                    .map(|item| {
                        let object = item.object().ok();
                        let text = |k: &str| {
                            let value = object.as_ref().and_then(|o| o.get(k));
                            value.and_then(|v| v.string().ok().map(str::to_owned)).unwrap_or_default()
                        };
                        (text("sha256Hash"), text("document"))
                    })
                    .collect();
                let enforce = ctx.args.get("enforce").and_then(|v| v.boolean().ok()).unwrap_or(false);
                // Only what the server could run is trusted; scanned first, as a request's document
                // is, so that no text makes the parser recurse without bound.
                let limits = *ctx
                    .data::<super::cost::Limits>()
                    .map_err(|_| crate::Error::Internal(anyhow::anyhow!("the request's limits are missing")))?;
                let not_a_document = |text: &str| match super::cost::scan(text, &limits) {
                    Err(too) => Some(too.message),
                    Ok(()) => async_graphql::parser::parse_query(text).err().map(|e| e.to_string()),
                };
                let trusted =
                    crate::domain::documents::set_trusted(&rc.db, &rc.caller, documents, enforce, not_a_document).await?;
                rc.schema_changed.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(Some(FieldValue::value(i64::try_from(trusted).unwrap_or(i64::MAX))))
            })
        })
        .argument(InputValue::new("documents", TypeRef::named_nn_list_nn("TrustedDocumentInput")))
        .argument(InputValue::new("enforce", TypeRef::named_nn(TypeRef::BOOLEAN)))
        .description(
            "ADMIN only: replaces the tenant's trusted documents, which clients may send by hash alone. With `enforce`, any other document is refused (FORBIDDEN, reason UNTRUSTED_DOCUMENT) for every role but ADMIN. Returns how many documents are trusted.",
        ),
    );
}
