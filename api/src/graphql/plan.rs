//! Key-account plans: the type with computed `progress`, its actions, queries and mutations,
//! and `Customer.keyAccountPlans` / `Customer.activePlan` (batched for 360° pages).

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldValue, InputObject, InputValue, Object, TypeRef};
use guanxi_entity::{key_account_plan, plan_action};

use super::connection;
use super::context::{id_arg, list_first, list_first_arg, request, resolve};
use super::fields;
use super::scalars::time_value;
use super::{Types, inputs, parent, simple};
use crate::domain::ids;
use crate::domain::plans::{self as service, ACTION_TYPE_NAME, Progress, TYPE_NAME};

fn user_field(name: &'static str, id: fn(&plan_action::Model) -> Option<uuid::Uuid>) -> Field {
    Field::new(name, TypeRef::named("User"), move |ctx| {
        resolve(async move {
            let Some(user) = id(parent::<plan_action::Model>(&ctx)?) else { return Ok(None) };
            Ok(request(&ctx)?.users.load_one(user).await?.map(FieldValue::owned_any))
        })
    })
}

pub fn register(types: &mut Types) {
    super::fields::register::<key_account_plan::Model>(types, "A key-account plan (大客户计划).", plan_fields);
    types.inputs.extend(super::fields::input_types::<key_account_plan::Model>(
        "CreateKeyAccountPlanInput",
        "UpdateKeyAccountPlanInput",
        "Absent fields stay as they are. status follows DRAFT → ACTIVE → COMPLETED | CANCELLED.",
    ));
    types.inputs.push(
        InputObject::new("PlanActionInput")
            .field(InputValue::new("title", TypeRef::named_nn(TypeRef::STRING)))
            .field(InputValue::new("dueDate", TypeRef::named("Date")))
            .field(InputValue::new("assigneeId", TypeRef::named(TypeRef::ID))),
    );
    type A = plan_action::Model;
    types.objects.push(
        Object::new(ACTION_TYPE_NAME)
            .field(simple::<A>("id", TypeRef::named_nn(TypeRef::ID), |a| {
                Value::String(ids::encode(ACTION_TYPE_NAME, a.id))
            }))
            .field(simple::<A>("title", TypeRef::named_nn(TypeRef::STRING), |a| Value::String(a.title.clone())))
            .field(simple::<A>("dueDate", TypeRef::named("Date"), |a| {
                a.due_date.map_or(Value::Null, |d| Value::String(d.to_string()))
            }))
            .field(simple::<A>("done", TypeRef::named_nn(TypeRef::BOOLEAN), |a| Value::Boolean(a.done)))
            .field(simple::<A>("doneAt", TypeRef::named("DateTime"), |a| {
                a.done_at.as_ref().map_or(Value::Null, time_value)
            }))
            .field(user_field("assignee", |a| a.assignee_id)),
    );
    type P = Progress;
    types.objects.push(
        Object::new("PlanProgress")
            .description(
                "Computed from the records: visits and purchases in the plan's period, actions, open complaints.",
            )
            .field(simple::<P>("visitsDone", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.visits_done)))
            .field(simple::<P>("visitsPlanned", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.visits_planned)))
            .field(simple::<P>("revenueActual", TypeRef::named_nn("Decimal"), |p| {
                Value::String(p.revenue_actual.to_string())
            }))
            .field(simple::<P>("revenueTarget", TypeRef::named("Decimal"), |p| {
                p.revenue_target.map_or(Value::Null, |t| Value::String(t.to_string()))
            }))
            .field(simple::<P>("currency", TypeRef::named_nn(TypeRef::STRING), |p| Value::String(p.currency.clone())))
            .field(simple::<P>("actionsDone", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.actions_done)))
            .field(simple::<P>("actionsDue", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.actions_due)))
            .field(simple::<P>("actionsTotal", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.actions_total)))
            .field(simple::<P>("openComplaints", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.open_complaints))),
    );
    types.query.push(fields::get::<key_account_plan::Model>("keyAccountPlan"));
    types.query.push(list_field("keyAccountPlans", false));
    types.mutation.extend(mutations());
}

/// What KeyAccountPlan shows beyond its declared fields.
fn plan_fields(object: Object) -> Object {
    type K = key_account_plan::Model;
    object
        .field(
            Field::new("actions", TypeRef::named_nn_list_nn(ACTION_TYPE_NAME), |ctx| {
                resolve(async move {
                    let p = parent::<K>(&ctx)?;
                    let first = list_first(&ctx, service::MAX_ACTIONS)?;
                    let rows = request(&ctx)?.plan_actions.load_one(p.id).await?.unwrap_or_default();
                    Ok(Some(FieldValue::list(rows.into_iter().take(first).map(FieldValue::owned_any))))
                })
            })
            .argument(list_first_arg(service::MAX_ACTIONS))
            .description("Oldest first; a plan holds at most 100."),
        )
        .field(Field::new("progress", TypeRef::named_nn("PlanProgress"), |ctx| {
            resolve(async move {
                // Shares the actions and stats loaders with the fields beside it on a 360° page.
                let p = parent::<K>(&ctx)?;
                let rc = request(&ctx)?;
                let key = super::loaders::PlanKey(p.clone());
                let (timeline, actions, stats) = futures_util::try_join!(
                    rc.plan_timeline.load_one(key),
                    rc.plan_actions.load_one(p.id),
                    rc.stats.load_one(p.customer_id),
                )?;
                let today = crate::clock::now().date_naive();
                let progress = service::progress(
                    p,
                    &timeline.unwrap_or_default(),
                    &actions.unwrap_or_default(),
                    stats.as_ref().map(|s| &*s.stats),
                    today,
                );
                Ok(Some(FieldValue::owned_any(progress)))
            })
        }))
}

fn list_field(name: &str, nested: bool) -> Field {
    connection::list_field(name, "KeyAccountPlan", nested, |ctx, customer| Box::pin(LISTING.on(ctx, customer)))
}

/// `Customer.keyAccountPlans` and `Customer.activePlan`.
#[must_use]
pub fn customer_fields() -> [Field; 2] {
    let active = Field::new("activePlan", TypeRef::named(TYPE_NAME), |ctx| {
        resolve(async move {
            let (c, sees_all) = super::context::customer_parent(&ctx)?;
            if !sees_all {
                return Ok(None);
            }
            Ok(request(&ctx)?.active_plans.load_one(c.id).await?.flatten().map(FieldValue::owned_any))
        })
    })
    .description("The newest ACTIVE key-account plan, if any; batched per page of customers.");
    [list_field("keyAccountPlans", true), active]
}

/// How plans are listed.
static LISTING: connection::Listing<key_account_plan::Model> =
    connection::Listing::on_customer(super::filters::no_extra, |rc| &rc.plans_per_customer, |rc| &rc.plan_counts);

fn mutations() -> [Field; 4] {
    type K = key_account_plan::Model;
    let create = fields::create::<K>("createKeyAccountPlan", "CreateKeyAccountPlanInput");
    let update = fields::update::<K>("updateKeyAccountPlan", "UpdateKeyAccountPlanInput");
    let add = Field::new("addPlanAction", TypeRef::named_nn(ACTION_TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let plan = id_arg(&ctx, "planId", TYPE_NAME)?;
            let (title, due, assignee) = inputs::input(&ctx, |o| {
                (inputs::string(o, "title"), inputs::date(o, "dueDate"), inputs::string(o, "assigneeId"))
            })?;
            let title = title.into_value().unwrap_or_default();
            let (due, assignee) = (due.into_value(), assignee.into_value());
            let action = service::add_action(&rc.db, &rc.plugins, &rc.caller, plan, &title, due, assignee).await?;
            Ok(Some(FieldValue::owned_any(action)))
        })
    })
    .argument(InputValue::new("planId", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("PlanActionInput")));
    let complete = Field::new("completePlanAction", TypeRef::named_nn(ACTION_TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", ACTION_TYPE_NAME)?;
            Ok(Some(FieldValue::owned_any(service::complete_action(&rc.db, &rc.plugins, &rc.caller, id).await?)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)));
    [create, update, add, complete]
}
