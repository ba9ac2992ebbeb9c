//! The `Customer` type, its queries and its mutations. Resolvers only translate between GraphQL
//! and [`crate::domain::customers`].

use async_graphql::Value;
use std::collections::BTreeSet;

use async_graphql::dynamic::{
    Enum, Field, FieldValue, InputObject, InputValue, Object, ObjectAccessor, ResolverContext, TypeRef,
};
use guanxi_entity::customer;

use super::connection::{self};
use super::context::{RequestContext, id_arg, request, resolve};
use super::filters::{entity_filter, entity_order, enum_filter};
use super::scalars::{opt_enum, opt_str, time_value};
use super::{Types, enum_value, inputs, parent, simple};
use crate::domain::customers::{
    self as service, CustomerInput, FIELDS, KINDS, RELATIONSHIP_TYPES, STATUSES, TYPE_NAME,
};
use crate::domain::ids;
use uuid::Uuid;

/// Every type the Customer part of the schema needs.
pub fn register(types: &mut Types) {
    types.enums.push(KINDS.iter().fold(Enum::new("CustomerKind"), |e, v| e.item(*v)));
    types.enums.push(STATUSES.iter().fold(Enum::new("CustomerStatus"), |e, v| e.item(*v)));
    types.enums.push(RELATIONSHIP_TYPES.iter().fold(Enum::new("RelationshipType"), |e, v| e.item(*v)));
    types.enums.push(service::TIERS.iter().fold(Enum::new("ValueTier"), |e, v| e.item(*v)));
    for e in ["CustomerKind", "CustomerStatus", "RelationshipType", "ValueTier"] {
        types.inputs.push(enum_filter(e));
    }
    types.inputs.push(entity_filter(TYPE_NAME, &FIELDS));
    let (order_field, order) = entity_order(TYPE_NAME, &FIELDS);
    types.enums.push(order_field);
    types.inputs.push(order);
    types.inputs.extend(inputs());
    types.objects.push(customer_type());
    types.objects.extend(connection::types::<customer::Model>(TYPE_NAME));
    types.query.push(customer_query());
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

fn customer_type() -> Object {
    let object = Object::new(TYPE_NAME)
        .description("A customer (客户): an individual or an organization.")
        .implement("Node")
        .field(simple::<customer::Model>("id", TypeRef::named_nn(TypeRef::ID), |c| {
            Value::String(ids::encode(TYPE_NAME, c.id))
        }))
        .field(simple::<customer::Model>("kind", TypeRef::named_nn("CustomerKind"), |c| enum_value(&c.kind)))
        .field(simple::<customer::Model>("name", TypeRef::named_nn(TypeRef::STRING), |c| Value::String(c.name.clone())))
        .field(simple::<customer::Model>("email", TypeRef::named(TypeRef::STRING), |c| opt_str(c.email.as_deref())))
        .field(simple::<customer::Model>("phone", TypeRef::named(TypeRef::STRING), |c| opt_str(c.phone.as_deref())))
        .field(simple::<customer::Model>("region", TypeRef::named(TypeRef::STRING), |c| opt_str(c.region.as_deref())))
        .field(simple::<customer::Model>("industry", TypeRef::named(TypeRef::STRING), |c| {
            opt_str(c.industry.as_deref())
        }))
        .field(
            simple::<customer::Model>("creditCode", TypeRef::named(TypeRef::STRING), |c| {
                opt_str(c.credit_code.as_deref())
            })
            .description("Unified social credit code (统一社会信用代码) of an organization."),
        )
        .field(simple::<customer::Model>("channel", TypeRef::named(TypeRef::STRING), |c| opt_str(c.channel.as_deref())))
        .field(simple::<customer::Model>("website", TypeRef::named(TypeRef::STRING), |c| opt_str(c.website.as_deref())))
        .field(simple::<customer::Model>("tags", TypeRef::named_nn_list_nn(TypeRef::STRING), |c| {
            Value::List(service::tags_of(c).into_iter().map(Value::String).collect())
        }))
        .field(simple::<customer::Model>("status", TypeRef::named_nn("CustomerStatus"), |c| enum_value(&c.status)))
        .field(simple::<customer::Model>("relationshipType", TypeRef::named("RelationshipType"), |c| {
            opt_enum(c.relationship_type.as_deref())
        }))
        .field(Field::new("owner", TypeRef::named("User"), |ctx| {
            resolve(async move {
                let c = parent::<customer::Model>(&ctx)?;
                let Some(owner) = c.owner_id else { return Ok(None) };
                let rc = request(&ctx)?;
                let user = rc.users.load_one(owner).await?;
                Ok(user.map(FieldValue::owned_any))
            })
        }))
        .field(super::interaction::customer_field())
        .field(super::stats::customer_field())
        .field(super::stats::snapshot_field())
        .field(simple::<customer::Model>("tier", TypeRef::named("ValueTier"), |c| opt_enum(c.tier.as_deref())))
        .field(
            simple::<customer::Model>("version", TypeRef::named_nn(TypeRef::INT), |c| Value::from(c.version))
                .description("Increases with every change; pass it as expectedVersion to refuse lost updates."),
        )
        .field(simple::<customer::Model>("createdAt", TypeRef::named_nn("DateTime"), |c| time_value(&c.created_at)))
        .field(simple::<customer::Model>("updatedAt", TypeRef::named_nn("DateTime"), |c| time_value(&c.updated_at)));
    super::complaint::customer_fields().into_iter().chain(super::plan::customer_fields()).fold(object, Object::field)
}

fn customer_query() -> Field {
    Field::new("customer", TypeRef::named(TYPE_NAME), |ctx| {
        resolve(async move {
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let rc = request(&ctx)?;
            Ok(service::get(&rc.db, &rc.caller, id).await?.map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
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
/// their resolvers ask; the resolvers then find it in the loaders' per-request caches.
///
/// Left to themselves, the resolvers' asks reached the loaders in two rounds on most requests: a
/// few customers first, the rest only once that first batch had come back (whatever the loaders'
/// wait, 1 or 5 ms). A 360° page of 50 then took 13 statements instead of 8, and one more round
/// trip before it could answer.
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

/// Loads `keys` with the loader itself and leaves the answers in its cache. `load_many` would
/// first wait out the DataLoader's batching delay (1 ms, on a spawned task) for a batch that is
/// already whole.
async fn fill<K, L>(cache: &super::context::Cached<L>, keys: Vec<K>) -> crate::Result<()>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: async_graphql::dataloader::Loader<K, Error = std::sync::Arc<crate::Error>>,
{
    if !keys.is_empty() {
        cache.feed_many(cache.loader().load(&keys).await?).await;
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

fn inputs() -> [InputObject; 2] {
    let fields = |input: InputObject, create: bool| {
        let req = |t: &str| if create { TypeRef::named_nn(t) } else { TypeRef::named(t) };
        input
            .field(InputValue::new("kind", req("CustomerKind")))
            .field(InputValue::new("name", req(TypeRef::STRING)))
            .field(InputValue::new("email", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("phone", TypeRef::named(TypeRef::STRING))
                    .description("E.164 (+8613812345678) or a mainland mobile number"),
            )
            .field(InputValue::new("region", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("industry", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("creditCode", TypeRef::named(TypeRef::STRING))
                    .description("18 characters, GB 32100-2015; organizations only"),
            )
            .field(InputValue::new("channel", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("website", TypeRef::named(TypeRef::STRING))
                    .description("An http or https address (官网); an empty string clears it."),
            )
            .field(
                InputValue::new("tags", TypeRef::named_nn_list(TypeRef::STRING))
                    .description("At most 50 tags of at most 50 characters"),
            )
            .field(InputValue::new("status", TypeRef::named("CustomerStatus")))
            .field(InputValue::new("relationshipType", TypeRef::named("RelationshipType")))
            .field(InputValue::new("ownerId", TypeRef::named(TypeRef::ID)))
    };
    [
        fields(InputObject::new("CreateCustomerInput"), true),
        fields(
            InputObject::new("UpdateCustomerInput").description("Absent fields stay as they are; null clears."),
            false,
        ),
    ]
}

fn customer_input(obj: &ObjectAccessor<'_>) -> CustomerInput {
    CustomerInput {
        kind: inputs::string(obj, "kind"),
        name: inputs::string(obj, "name"),
        email: inputs::string(obj, "email"),
        phone: inputs::string(obj, "phone"),
        region: inputs::string(obj, "region"),
        industry: inputs::string(obj, "industry"),
        credit_code: inputs::string(obj, "creditCode"),
        channel: inputs::string(obj, "channel"),
        website: inputs::string(obj, "website"),
        tags: inputs::strings(obj, "tags"),
        status: inputs::string(obj, "status"),
        relationship_type: inputs::string(obj, "relationshipType"),
        owner_id: inputs::string(obj, "ownerId"),
        custom_fields: inputs::json(obj, "customFields"),
    }
}

fn mutations() -> [Field; 3] {
    let create = Field::new("createCustomer", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let created =
                service::create(&rc.db, &rc.plugins, &rc.caller, inputs::input(&ctx, customer_input)?).await?;
            Ok(Some(FieldValue::owned_any(created)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("CreateCustomerInput")));
    let update = Field::new("updateCustomer", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let expected = inputs::expected_version(&ctx)?;
            let updated =
                service::update(&rc.db, &rc.plugins, &rc.caller, id, inputs::input(&ctx, customer_input)?, expected)
                    .await?;
            Ok(Some(FieldValue::owned_any(updated)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("UpdateCustomerInput")))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)));
    let delete = Field::new("deleteCustomer", TypeRef::named_nn(TypeRef::ID), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let deleted = service::delete(&rc.db, &rc.plugins, &rc.caller, id).await?;
            Ok(Some(FieldValue::value(ids::encode(TYPE_NAME, deleted))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description("Deletes the customer; its last state stays in the audit log.");
    [create, update, delete]
}
