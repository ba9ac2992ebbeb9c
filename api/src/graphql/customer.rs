//! The `Customer` type, its queries and its mutations. Resolvers only translate between GraphQL
//! and the domain ([`crate::domain::customers`], and `domain::write` for the mutations).

use async_graphql::Value;
use std::collections::BTreeSet;

use async_graphql::dynamic::{Field, FieldValue, InputValue, Object, ResolverContext, TypeRef};
use guanxi_entity::customer;

use super::connection::{self};
use super::context::{RequestContext, request, resolve};
use super::fields;
use super::{Types, enum_value};
use crate::domain::customers::{self as service};
use uuid::Uuid;

/// Every type the Customer part of the schema needs.
pub fn register(types: &mut Types) {
    super::fields::register::<customer::Model>(
        types,
        "A customer (客户): an individual or an organization.",
        customer_fields,
    );
    types.inputs.extend(super::fields::input_types::<customer::Model>(
        "CreateCustomerInput",
        "UpdateCustomerInput",
        "Absent fields stay as they are; null clears.",
    ));
    types.query.push(fields::get::<customer::Model>("customer"));
    types.query.push(customers_query());
    types.objects.push(
        Object::new("TierCount")
            .field(Field::new("tier", TypeRef::named_nn("ValueTier"), |ctx| {
                async_graphql::dynamic::FieldFuture::new(async move {
                    Ok(Some(enum_value(ctx.parent_value.try_downcast_ref::<(&'static str, i64)>()?.0)))
                })
            }))
            .field(Field::new("count", TypeRef::named_nn(TypeRef::INT), |ctx| {
                async_graphql::dynamic::FieldFuture::new(async move {
                    Ok(Some(Value::from(ctx.parent_value.try_downcast_ref::<(&'static str, i64)>()?.1)))
                })
            })),
    );
    types.query.push(
        Field::new("tierDistribution", TypeRef::named_nn_list_nn("TierCount"), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let rows = service::tier_distribution(&rc.db, &rc.caller).await?;
                Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
            })
        })
        .description("Customers per value tier (客户金字塔) among those the caller may see."),
    );
    types.mutation.extend(mutations());
}

/// What Customer shows beyond its declared fields.
fn customer_fields(object: Object) -> Object {
    let object = object
        .field(super::interaction::customer_field())
        .field(super::stats::customer_field())
        .field(super::stats::snapshot_field());
    super::complaint::customer_fields().into_iter().chain(super::plan::customer_fields()).fold(object, Object::field)
}

/// How customers are listed.
pub(crate) static LISTING: connection::Listing<customer::Model> = connection::Listing::of(
    super::filters::no_extra,
    |db, caller, filter, order, page| Box::pin(service::list(db, caller, filter, order, page)),
    |db, caller, filter| Box::pin(async move { service::count(&db, &caller, filter).await }),
);

fn customers_query() -> Field {
    let field = Field::new("customers", TypeRef::named_nn("CustomerConnection"), |ctx| {
        resolve(async move {
            let conn = LISTING.connection(&ctx, None).await?;
            let wanted = Wanted::of(&ctx, &conn.edges);
            prefetch(request(&ctx)?, wanted).await?;
            Ok(Some(FieldValue::owned_any(conn)))
        })
    })
    .argument(InputValue::new("filter", TypeRef::named("CustomerFilter")))
    .argument(InputValue::new("orderBy", TypeRef::named_nn_list("CustomerOrder")));
    connection::with_paging(field).description("Customers the caller may see; AGENTs see those they own.")
}

/// Loads what the selected fields of a page of customers need, one batch per loader, before
/// their resolvers ask; the resolvers then find it kept by the request's loaders. The resolvers
/// would ask for the same in the same rounds ([`super::batch`]); read here, the page's reads start
/// as soon as its rows are known, without waiting for the resolvers to reach them.
async fn prefetch(rc: &RequestContext, wanted: Wanted) -> crate::Result<()> {
    futures_util::try_join!(
        fill(&rc.users, wanted.owners),
        fill(&rc.stats, wanted.stats.clone()),
        fill(&rc.open_complaints, wanted.open_complaints),
        fill(&rc.scores, wanted.scores),
        fill(&rc.active_plans, wanted.active_plans.clone()),
        fill(&rc.latest_interactions, wanted.timelines),
    )?;
    // A plan's progress needs its timeline, actions and customer figures: the next level down.
    let plans = rc.active_plans.load_many(wanted.active_plans).await?; // cached now
    let plans: Vec<_> = plans.into_values().flatten().collect();
    let (progress, actions) = wanted.plan_parts;
    let with = |yes: bool| plans.iter().filter(move |_| yes);
    let figures = with(progress).map(|p| p.customer_id).filter(|id| !wanted.stats.contains(id)).collect();
    futures_util::try_join!(
        fill(&rc.plan_timeline, with(progress).map(|p| super::loaders::PlanKey(p.clone())).collect()),
        fill(&rc.plan_actions, with(progress || actions).map(|p| p.id).collect()),
        fill(&rc.stats, figures),
    )?;
    Ok(())
}

/// Loads `keys` with the loader itself and keeps the answers: the page's resolvers find them.
async fn fill<K, V>(loads: &super::context::Loads<K, V>, keys: Vec<K>) -> crate::Result<()>
where
    K: super::batch::Key,
    V: Send + Sync + Clone + 'static,
{
    use async_graphql::dataloader::Loader as _;
    if !keys.is_empty() {
        loads.feed_many(loads.loader().load(&keys).await?);
    }
    Ok(())
}

/// The loader keys a page of customers will ask for, from the fields selected under it.
struct Wanted {
    owners: Vec<Uuid>,
    stats: Vec<Uuid>,
    open_complaints: Vec<Uuid>,
    scores: Vec<Uuid>,
    active_plans: Vec<Uuid>,
    timelines: Vec<(Uuid, u64)>,
    /// Whether the active plans' `progress` and `actions` are selected.
    plan_parts: (bool, bool),
}

impl Wanted {
    fn of(ctx: &ResolverContext<'_>, page: &[connection::Edge<customer::Model>]) -> Self {
        let customers = page.iter().map(|e| &e.node);
        let look = ctx.look_ahead();
        let nodes = [look.field("nodes"), look.field("edges").field("node")];
        let selected =
            |path: &[&str]| nodes.iter().any(|n| path[1..].iter().fold(n.field(path[0]), |l, f| l.field(f)).exists());
        let ids = |yes: bool| if yes { customers.clone().map(|c| c.id).collect() } else { Vec::new() };
        let owners: BTreeSet<Uuid> = customers.clone().filter_map(|c| c.owner_id).collect();
        let sizes: BTreeSet<u64> = nodes
            .iter()
            .flat_map(|n| n.field("interactions").selection_fields())
            .filter_map(|f| latest_size(&f))
            .collect();
        Self {
            owners: if selected(&["owner"]) { owners.into_iter().collect() } else { Vec::new() },
            stats: ids(selected(&["stats"]) || selected(&["scoringSnapshot"])),
            open_complaints: ids(selected(&["openComplaints"])),
            scores: ids(selected(&["scores"]) || selected(&["score"])),
            active_plans: ids(selected(&["activePlan"])),
            timelines: sizes.iter().flat_map(|n| customers.clone().map(move |c| (c.id, *n))).collect(),
            plan_parts: (selected(&["activePlan", "progress"]), selected(&["activePlan", "actions"])),
        }
    }
}

/// The size of the page `Customer.interactions` serves from the batched latest interactions
/// (a plain `first: n`), as its loader key counts it: one extra row tells whether more exist.
fn latest_size(field: &async_graphql::SelectionField<'_>) -> Option<u64> {
    let mut first = crate::query::DEFAULT_PAGE_SIZE;
    for (name, value) in field.arguments().ok()? {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("first", Value::Number(n)) => first = n.as_u64().filter(|n| *n <= crate::query::MAX_PAGE_SIZE)?,
            _ => return None,
        }
    }
    Some(first + 1)
}

fn mutations() -> [Field; 3] {
    type C = customer::Model;
    [
        fields::create::<C>("createCustomer", "CreateCustomerInput"),
        fields::update::<C>("updateCustomer", "UpdateCustomerInput"),
        fields::delete::<C>("deleteCustomer")
            .description("Deletes the customer; its last state stays in the audit log."),
    ]
}
