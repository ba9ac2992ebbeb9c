//! `Customer.stats`: the figures of a 360° page, batched per page of customers.

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldValue, Object, TypeRef};

use super::context::{request, resolve};
use super::loaders::{LoadedActivity, LoadedStats};
use super::scalars::time_value;
use super::{Types, enum_value, ready};
use crate::domain::stats::{StatsView, sum_counts, total_in};
use crate::error::Error;

fn get(name: &str, ty: TypeRef, read: fn(&StatsView) -> Value) -> Field {
    super::simple::<StatsView>(name, ty, read)
}

fn opt_time(t: Option<&chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, time_value)
}

fn counts(map: &serde_json::Value, key: &str, enum_key: bool) -> Value {
    let entries = map.as_object().map(|m| {
        m.iter()
            .map(|(k, n)| {
                let mut obj = async_graphql::indexmap::IndexMap::new();
                obj.insert(
                    async_graphql::Name::new(key),
                    if enum_key { enum_value(k) } else { Value::String(k.clone()) },
                );
                obj.insert(async_graphql::Name::new("count"), Value::from(n.as_i64().unwrap_or(0)));
                Value::Object(obj)
            })
            .collect()
    });
    Value::List(entries.unwrap_or_default())
}

pub fn register(types: &mut Types) {
    types.objects.push(
        Object::new("InteractionKindCount")
            .field(json_field("kind", TypeRef::named_nn("InteractionKind")))
            .field(json_field("count", TypeRef::named_nn(TypeRef::INT))),
    );
    types.objects.push(
        Object::new("SeverityCount")
            .description("Complaints of one severity: open ones and all.")
            .field(json_field("severity", TypeRef::named_nn("Severity")))
            .field(json_field("open", TypeRef::named_nn(TypeRef::INT)))
            .field(json_field("total", TypeRef::named_nn(TypeRef::INT))),
    );
    types.objects.push(
        Object::new("MoneyTotal")
            .field(json_field("currency", TypeRef::named_nn(TypeRef::STRING)))
            .field(json_field("amount", TypeRef::named_nn("Decimal"))),
    );
    types.objects.push(
        Object::new("CustomerStats")
            .description("A customer's figures, always consistent with the committed interactions and complaints.")
            .field(get("purchaseCount", TypeRef::named_nn(TypeRef::INT), |s| Value::from(s.stats.purchase_count)))
            .field(
                get("purchaseTotal", TypeRef::named_nn("Decimal"), |s| {
                    Value::String(total_in(&s.stats, &s.base_currency).to_string())
                })
                .description("Purchases in the tenant's base currency (see purchaseTotals for the others)."),
            )
            .field(get("baseCurrency", TypeRef::named_nn(TypeRef::STRING), |s| Value::String(s.base_currency.clone())))
            .field(get("purchaseTotals", TypeRef::named_nn_list_nn("MoneyTotal"), |s| {
                let list = s.stats.purchase_totals.as_object().map(|m| {
                    m.iter()
                        .map(|(currency, amount)| {
                            let mut obj = async_graphql::indexmap::IndexMap::new();
                            obj.insert(async_graphql::Name::new("currency"), Value::String(currency.clone()));
                            obj.insert(
                                async_graphql::Name::new("amount"),
                                Value::String(amount.as_str().unwrap_or("0").to_owned()),
                            );
                            Value::Object(obj)
                        })
                        .collect()
                });
                Value::List(list.unwrap_or_default())
            }))
            .field(get("firstPurchaseAt", TypeRef::named("DateTime"), |s| opt_time(s.stats.first_purchase_at.as_ref())))
            .field(get("lastPurchaseAt", TypeRef::named("DateTime"), |s| opt_time(s.stats.last_purchase_at.as_ref())))
            .field(get("purchasesLast90Days", TypeRef::named_nn(TypeRef::INT), |s| {
                Value::from(s.purchases_last_90_days)
            }))
            .field(get("purchasesLast365Days", TypeRef::named_nn(TypeRef::INT), |s| {
                Value::from(s.purchases_last_365_days)
            }))
            .field(get("interactionCount", TypeRef::named_nn(TypeRef::INT), |s| Value::from(s.stats.interaction_count)))
            .field(get("interactionCounts", TypeRef::named_nn_list_nn("InteractionKindCount"), |s| {
                counts(&s.stats.interaction_counts, "kind", true)
            }))
            .field(get("lastInteractionAt", TypeRef::named("DateTime"), |s| {
                opt_time(s.stats.last_interaction_at.as_ref())
            }))
            .field(get("surveyCount", TypeRef::named_nn(TypeRef::INT), |s| Value::from(s.stats.satisfaction_count)))
            .field(
                get("averageSatisfaction", TypeRef::named(TypeRef::FLOAT), |s| {
                    if s.stats.satisfaction_count == 0 {
                        Value::Null
                    } else {
                        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                        Value::from(s.stats.satisfaction_sum as f64 / s.stats.satisfaction_count as f64)
                    }
                })
                .description("Mean of SURVEY satisfactions, 1 to 5; null without surveys."),
            )
            .field(
                get("wouldBuyAgainRate", TypeRef::named(TypeRef::FLOAT), |s| {
                    if s.stats.would_buy_again_count == 0 {
                        Value::Null
                    } else {
                        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                        Value::from(s.stats.would_buy_again_yes as f64 / s.stats.would_buy_again_count as f64)
                    }
                })
                .description("Share of surveys answering yes to would-buy-again; null without answers."),
            )
            .field(get("openComplaints", TypeRef::named_nn(TypeRef::INT), |s| {
                Value::from(sum_counts(&s.stats.complaints_open))
            }))
            .field(get("totalComplaints", TypeRef::named_nn(TypeRef::INT), |s| {
                Value::from(sum_counts(&s.stats.complaints_total))
            }))
            .field(get("complaintsBySeverity", TypeRef::named_nn_list_nn("SeverityCount"), |s| {
                let list = crate::domain::complaints::SEVERITIES
                    .iter()
                    .filter_map(|sev| {
                        let total = s.stats.complaints_total.get(*sev).and_then(serde_json::Value::as_i64).unwrap_or(0);
                        let open = s.stats.complaints_open.get(*sev).and_then(serde_json::Value::as_i64).unwrap_or(0);
                        (total > 0).then(|| {
                            let mut obj = async_graphql::indexmap::IndexMap::new();
                            obj.insert(async_graphql::Name::new("severity"), enum_value(sev));
                            obj.insert(async_graphql::Name::new("open"), Value::from(open));
                            obj.insert(async_graphql::Name::new("total"), Value::from(total));
                            Value::Object(obj)
                        })
                    })
                    .collect();
                Value::List(list)
            })),
    );
}

/// A field of an object whose parent is a plain GraphQL value (an object built above).
fn json_field(name: &'static str, ty: TypeRef) -> Field {
    Field::new(name, ty, move |ctx| {
        ready(ctx.parent_value.try_to_value().map(|value| match value {
            Value::Object(map) => map.get(name).cloned().map(FieldValue::value),
            _ => None,
        }))
    })
}

/// `Customer.stats`.
#[must_use]
pub fn customer_field() -> Field {
    Field::new("stats", TypeRef::named_nn("CustomerStats"), |ctx| {
        resolve(async move {
            let (c, sees_all) = super::context::customer_parent(&ctx)?;
            if !sees_all {
                return Err(super::context::hidden_on_case_view("stats"));
            }
            let rc = request(&ctx)?;
            let loaded: LoadedStats = rc
                .stats
                .load_one(c.id)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("stats loader returned nothing")))?;
            let view = StatsView {
                base_currency: rc.settings().await?.base_currency.clone(),
                purchases_last_90_days: loaded.windows.0,
                purchases_last_365_days: loaded.windows.1,
                stats: loaded.stats,
            };
            Ok(Some(FieldValue::owned_any(view)))
        })
    })
}

/// `Customer.scoringSnapshot`: what a scorer plugin receives for this customer, now.
#[must_use]
pub fn snapshot_field() -> Field {
    Field::new("scoringSnapshot", TypeRef::named_nn("JSON"), |ctx| {
        resolve(async move {
            let (c, sees_all) = super::context::customer_parent(&ctx)?;
            if !sees_all {
                return Err(super::context::hidden_on_case_view("scoringSnapshot"));
            }
            let rc = request(&ctx)?;
            let loaded: LoadedActivity = rc
                .activity
                .load_one(c.id)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("activity loader returned nothing")))?;
            let base = &rc.settings().await?.base_currency;
            let fields = rc.fields.live(crate::domain::custom_fields::EntityKind::Customer);
            let snapshot =
                crate::domain::snapshot::from_parts(c, fields, &loaded.stats, &loaded.activity, base, loaded.now);
            let json = serde_json::to_value(snapshot).map_err(|e| Error::Internal(e.into()))?;
            Ok(Some(FieldValue::value(Value::from_json(json).map_err(|e| Error::Internal(e.into()))?)))
        })
    })
    .description("The deterministic snapshot a scorer plugin receives for this customer, as contract 0.2.0 has it (save it as input for `guanxi plugin run`).")
}
