//! The `Complaint` type, its workflow mutations, `complaints`, `Customer.complaints` and
//! `Customer.openComplaints` (batched for 360° pages).

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef, ValueAccessor};
use guanxi_entity::{complaint, complaint_transition};

use super::connection;
use super::context::{customer_parent, id_arg, list_first, list_first_arg, request, resolve, str_arg};
use super::fields;
use super::scalars::{opt_str, time_value};
use super::{Types, enum_value, inputs, parent, simple};
use crate::domain::complaints::{self as service, TYPE_NAME};
use crate::query::Filter;

fn extra_keys(name: &str, v: &ValueAccessor<'_>) -> Option<Filter> {
    match name {
        // As of the whole second: every customer's list under one page then asks the same question
        // and is read in one batch (`Customer.complaints(filter: {slaBreached: true})`).
        "slaBreached" => v.boolean().ok().map(|b| {
            use chrono::SubsecRound;
            service::breached_filter(b, crate::clock::now().trunc_subsecs(0))
        }),
        "dueBefore" => v
            .string()
            .ok()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| service::due_before_filter(t.with_timezone(&chrono::Utc))),
        _ => None,
    }
}

pub fn register(types: &mut Types) {
    super::fields::register::<complaint::Model>(
        types,
        "A complaint (投诉): a case with a workflow and SLA deadlines.",
        complaint_fields,
    );
    types.extend_input("ComplaintFilter", |filter| {
        filter
            .field(
                InputValue::new("slaBreached", TypeRef::named(TypeRef::BOOLEAN))
                    .description("A deadline was missed (or met late)."),
            )
            .field(
                InputValue::new("dueBefore", TypeRef::named("DateTime"))
                    .description("A deadline still to meet falls before this time."),
            )
    });
    types.inputs.extend(super::fields::input_types::<complaint::Model>(
        "FileComplaintInput",
        "UpdateComplaintInput",
        "Absent fields stay as they are; null clears. A new severity moves the deadlines.",
    ));
    types.objects.push(transition_type());
    types.query.push(fields::get::<complaint::Model>("complaint"));
    types
        .query
        .push(list_field("complaints", false).description("The complaint queue the caller may see, newest first."));
    types.mutation.extend(mutations());
}

fn transition_type() -> Object {
    Object::new("ComplaintTransition")
        .field(simple::<complaint_transition::Model>("from", TypeRef::named("ComplaintStatus"), |t| {
            t.from_status.as_deref().map_or(Value::Null, enum_value)
        }))
        .field(simple::<complaint_transition::Model>("to", TypeRef::named_nn("ComplaintStatus"), |t| {
            enum_value(&t.to_status)
        }))
        .field(Field::new("by", TypeRef::named("User"), |ctx| {
            resolve(async move {
                let t = parent::<complaint_transition::Model>(&ctx)?;
                let Some(by) = t.by_id else { return Ok(None) };
                let user = request(&ctx)?.users.load_one(by).await?;
                Ok(user.map(FieldValue::owned_any))
            })
        }))
        .field(simple::<complaint_transition::Model>("at", TypeRef::named_nn("DateTime"), |t| time_value(&t.at)))
        .field(simple::<complaint_transition::Model>("note", TypeRef::named(TypeRef::STRING), |t| {
            opt_str(t.note.as_deref())
        }))
}

/// What Complaint shows beyond its declared fields.
fn complaint_fields(object: Object) -> Object {
    type C = complaint::Model;
    object
        .field(
            Field::new("slaBreached", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(Value::Boolean(service::sla_breached(
                        ctx.parent_value.try_downcast_ref::<C>()?,
                        crate::clock::now(),
                    ))))
                })
            })
            .description("A deadline was missed, or met late."),
        )
        .field(
            Field::new("history", TypeRef::named_nn_list_nn("ComplaintTransition"), |ctx| {
                resolve(async move {
                    let c = parent::<C>(&ctx)?;
                    let first = list_first(&ctx, service::MAX_TRANSITIONS)?;
                    let rows = request(&ctx)?.complaint_histories.load_one(c.id).await?.unwrap_or_default();
                    Ok(Some(FieldValue::list(rows.into_iter().take(first).map(FieldValue::owned_any))))
                })
            })
            .argument(list_first_arg(service::MAX_TRANSITIONS))
            .description("Every transition, oldest first; a complaint keeps at most 100."),
        )
}

fn list_field(name: &str, nested: bool) -> Field {
    connection::list_field(name, "Complaint", nested, |ctx, customer| Box::pin(LISTING.on(ctx, customer)))
}

/// `Customer.complaints` and `Customer.openComplaints`.
#[must_use]
pub fn customer_fields() -> [Field; 2] {
    let open = Field::new("openComplaints", TypeRef::named_nn_list_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let (c, sees_all) = customer_parent(&ctx)?;
            let first = list_first(&ctx, service::OPEN_LISTED)?;
            if !sees_all {
                return Ok(Some(FieldValue::list(Vec::<FieldValue<'_>>::new())));
            }
            let rows = request(&ctx)?.open_complaints.load_one(c.id).await?.unwrap_or_default();
            Ok(Some(FieldValue::list(rows.into_iter().take(first).map(FieldValue::owned_any))))
        })
    })
    .argument(list_first_arg(service::OPEN_LISTED))
    .description(
        "Complaints not yet resolved or closed, the 100 oldest at most, oldest first; the `complaints` connection pages through them all.",
    );
    [list_field("complaints", true), open]
}

/// How complaints are listed.
pub(crate) static LISTING: connection::Listing<complaint::Model> =
    connection::Listing::on_customer(extra_keys, |rc| &rc.complaints_per_customer, |rc| &rc.complaint_counts);

fn mutations() -> [Field; 3] {
    type C = complaint::Model;
    let file = fields::create::<C>("fileComplaint", "FileComplaintInput");
    let update = fields::update::<C>("updateComplaint", "UpdateComplaintInput");
    let transition = Field::new("transitionComplaint", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let to = ctx.args.get("to").and_then(|v| v.enum_name().ok().map(str::to_owned)).unwrap_or_default();
            let note = str_arg(&ctx, "note");
            let expected = inputs::expected_version(&ctx)?;
            let row = service::transition_to(&rc.db, &rc.plugins, &rc.caller, id, &to, note, expected).await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("to", TypeRef::named_nn("ComplaintStatus")))
    .argument(InputValue::new("note", TypeRef::named(TypeRef::STRING)))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)))
    .description("Moves the complaint through its workflow; an illegal move is CONFLICT and changes nothing.");
    [file, update, transition]
}
