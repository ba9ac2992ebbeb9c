//! Creating, changing and deleting a record of any kind, in one order of steps: what differs
//! between customers, interactions, complaints and key-account plans is their [`Lifecycle`].
//!
//! A create: the caller may write; its input is applied as the record's fields declare; its
//! customer is locked (and must be one the caller may see); the kind's own checks; stamped;
//! committed through [`Write::commit`] (validators, row, figures or score, audit, event).
//! A change: the record is found, its customer locked, the record read again under that lock,
//! the expected version checked; then as a create, and nothing is written when nothing changed.

use std::borrow::Cow;
use std::str::FromStr;

use guanxi_entity::customer;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::{Change, Effect, Write};
use crate::domain::custom_fields::Definition;
use crate::domain::input::{Input, check_version};
use crate::domain::plugins::Plugins;
use crate::domain::records::{Record, audit_snapshot};
use crate::domain::{Caller, access, ids};
use crate::error::{Error, Result, Violation};
use crate::store::records::OfCustomer;
use crate::store::{self, WriteTxn};

/// What a kind of record does at each step of a write; everything has a default but what the
/// kind is made of.
pub trait Lifecycle: Record<Entity: OfCustomer> + PartialEq {
    /// The record in messages: "no interaction …", "interaction is at version …".
    const NOUN: &'static str;
    /// The events of a create, a change and a delete.
    const EVENTS: [&'static str; 3];
    /// What a write does to the record's customer beyond the audit entry and the event.
    const EFFECT: Effect;

    /// A new record of `caller`'s, before its input applies.
    fn fresh(caller: &Caller) -> Self;

    /// Takes out of `input` what the record applies its own way (a plan's status follows its
    /// workflow), before the declared fields apply.
    ///
    /// # Errors
    /// What refuses the whole write (an illegal workflow step).
    fn take_own(&mut self, _input: &mut Input, _creating: bool, _v: &mut Vec<Violation>) -> Result<()> {
        Ok(())
    }

    /// The checks beyond each field's own, on the record as the write would leave it: across
    /// fields and against the database. `before` is the stored record (on a change); `customer`
    /// the record's customer, locked (none when it is missing, or is the record being created).
    ///
    /// # Errors
    /// What refuses the whole write; database failures.
    fn check(
        &mut self,
        write: &Write<'_>,
        before: Option<&Self>,
        customer: Option<&customer::Model>,
        v: &mut Vec<Violation>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// May `caller` see this record, kept on a customer owned by `customer_owner`? The twin of
    /// the filter lists add ([`crate::domain::records::OnCustomer::scoped`]).
    fn visible(&self, caller: &Caller, customer_owner: Option<Uuid>) -> bool {
        access::can_read_owned(caller, customer_owner)
    }

    /// The record `id` of the tenant, whoever may see it.
    fn find(
        conn: &impl ConnectionTrait,
        tenant_id: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self>>> + Send {
        store::records::find::<Self::Entity>(conn, tenant_id, id)
    }

    /// The owner of the record's customer.
    fn customer_owner(&self, conn: &impl ConnectionTrait) -> impl Future<Output = Result<Option<Uuid>>> + Send {
        let (tenant_id, customer) = (tenant_of(self), Self::Entity::customer_of(self));
        async move { Ok(store::customers::find(conn, tenant_id, customer).await?.and_then(|c| c.owner_id)) }
    }

    /// The record `id` for a change, read again once its customer is locked (every write of one
    /// customer's records takes turns), and the customer; `NOT_FOUND` when the caller may not see
    /// it.
    fn writable(write: &Write<'_>, id: Uuid) -> impl Future<Output = Result<(Self, customer::Model)>> + Send {
        async move {
            let (txn, caller) = (write.txn(), write.caller());
            let not_found = || not_found::<Self>(id);
            let row = Self::find(txn, caller.tenant_id, id).await?.ok_or_else(not_found)?;
            let customer = store::customers::find_for_update(txn, caller.tenant_id, Self::Entity::customer_of(&row))
                .await?
                .ok_or_else(not_found)?;
            if !row.visible(caller, customer.owner_id) {
                return Err(not_found());
            }
            Ok((Self::find(txn, caller.tenant_id, id).await?.ok_or_else(not_found)?, customer))
        }
    }

    /// On a create, the customer the record is to be kept on, locked; a `NOT_FOUND` violation
    /// when the caller may not see it.
    fn customer_for_create(
        &self,
        write: &Write<'_>,
        v: &mut Vec<Violation>,
    ) -> impl Future<Output = Result<Option<customer::Model>>> + Send {
        let id = Self::Entity::customer_of(self);
        async move {
            let (txn, caller) = (write.txn(), write.caller());
            let customer = store::customers::find_for_update(txn, caller.tenant_id, id).await?;
            // A customer the caller may not see is answered like one that does not exist.
            let customer = customer.filter(|c| access::can_read_owned(caller, c.owner_id));
            if customer.is_none() {
                v.push(Violation::new("customerId", "NOT_FOUND", "no such customer"));
            }
            Ok(customer)
        }
    }

    /// The record as its row stores it.
    fn stored(&self, _definitions: &[Definition]) -> Cow<'_, Self> {
        Cow::Borrowed(self)
    }

    /// Writes a new record (and what is written with it).
    fn save_new(&self, txn: &WriteTxn, _caller: &Caller) -> impl Future<Output = Result<()>> + Send {
        store::records::insert::<Self::Entity>(txn, self)
    }

    /// Writes a changed record over `before`, as the change read it.
    fn save_change(&self, txn: &WriteTxn, _before: &Self) -> impl Future<Output = Result<()>> + Send {
        store::records::update::<Self::Entity>(txn, self)
    }

    /// Deletes the record. A kind with rows of its own beside it (a complaint's history, a plan's
    /// actions) must delete those too: complaints and plans have no delete today, and the
    /// default deletes the one row.
    fn remove(&self, txn: &WriteTxn) -> impl Future<Output = Result<()>> + Send {
        store::records::delete::<Self::Entity>(txn, tenant_of(self), id_of(self))
    }

    /// Whose customer the event tells of (a customer's owner: see [`Change::owned_by`]).
    fn event_owner(&self) -> Option<Uuid> {
        None
    }
}

/// Creates a record from `input`.
///
/// # Errors
/// `FORBIDDEN` per role; `BAD_USER_INPUT` listing every problem; what the kind's checks refuse.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, record = R::TYPE_NAME))]
pub async fn create<R: Lifecycle>(
    db: &sea_orm::DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    mut input: Input,
) -> Result<R> {
    let write = Write::begin(db, plugins, caller, R::ENTITY).await?;
    let mut row = R::fresh(caller);
    let mut v = Vec::new();
    row.take_own(&mut input, true, &mut v)?;
    write.apply(&mut row, input, true, &mut v)?;
    let customer =
        if v.iter().all(|x| x.field != "customerId") { row.customer_for_create(&write, &mut v).await? } else { None };
    row.check(&write, None, customer.as_ref(), &mut v).await?;
    if !v.is_empty() {
        write.every_problem(&audit_snapshot(&row), None, &mut v).await;
        return Err(Error::Invalid(v));
    }
    set(&mut row, "createdAt", write.now())?;
    set(&mut row, "updatedAt", write.now())?;
    let change =
        Change::new(R::TYPE_NAME, id_of(&row), customer_of(&row), R::EVENTS[0], None, Some(audit_snapshot(&row)));
    let change = change.with(R::EFFECT).owned_by(row.event_owner());
    write.commit(change, async |txn| row.save_new(txn, caller).await).await?;
    Ok(row)
}

/// Changes record `id`. With `expected_version`, refuses if someone changed it since.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (a stale version, or what the kind's
/// checks refuse).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, record = R::TYPE_NAME, id = %id))]
pub async fn update<R: Lifecycle>(
    db: &sea_orm::DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    mut input: Input,
    expected_version: Option<i32>,
) -> Result<R> {
    let write = Write::begin(db, plugins, caller, R::ENTITY).await?;
    let (current, customer) = R::writable(&write, id).await?;
    let version = version_of(&current)?;
    check_version(R::NOUN, version, expected_version)?;
    let mut row = current.clone();
    let mut v = Vec::new();
    row.take_own(&mut input, false, &mut v)?;
    write.apply(&mut row, input, false, &mut v)?;
    row.check(&write, Some(&current), Some(&customer), &mut v).await?;
    if !v.is_empty() {
        write.every_problem(&audit_snapshot(&row), Some(&audit_snapshot(&current)), &mut v).await;
        return Err(Error::Invalid(v));
    }
    if row == current {
        // Nothing changes: no new version, no audit entry, no event.
        return Ok(current);
    }
    set(&mut row, "version", version + 1)?;
    set(&mut row, "updatedAt", write.now())?;
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&row));
    let change = Change::new(R::TYPE_NAME, id, customer_of(&current), R::EVENTS[1], Some(before), Some(after));
    // The owner before the change: one who loses a customer hears that it moved away.
    let change = change.with(R::EFFECT).owned_by(current.event_owner());
    let stored = row.stored(write.definitions()).into_owned();
    write.commit(change, async |txn| stored.save_change(txn, &current).await).await?;
    Ok(row)
}

/// Deletes record `id`; its last state stays in the audit trail.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, record = R::TYPE_NAME, id = %id))]
pub async fn delete<R: Lifecycle>(
    db: &sea_orm::DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
) -> Result<Uuid> {
    let write = Write::begin_plain(db, plugins, caller, R::ENTITY).await?;
    let (current, _) = R::writable(&write, id).await?;
    let change =
        Change::new(R::TYPE_NAME, id, customer_of(&current), R::EVENTS[2], Some(audit_snapshot(&current)), None);
    let change = change.with(R::EFFECT).owned_by(current.event_owner());
    write.commit(change, async |txn| current.remove(txn).await).await?;
    Ok(id)
}

/// `NOT_FOUND` for record `id` of kind `R`.
#[must_use]
pub fn not_found<R: Lifecycle>(id: Uuid) -> Error {
    Error::NotFound(format!("no {} {}", R::NOUN, ids::encode(R::TYPE_NAME, id)))
}

fn customer_of<R: Lifecycle>(row: &R) -> Uuid {
    R::Entity::customer_of(row)
}

fn id_of<R: Lifecycle>(row: &R) -> Uuid {
    R::Entity::id_of(row)
}

fn tenant_of<R: Lifecycle>(row: &R) -> Uuid {
    R::Entity::tenant_of(row)
}

/// Sets the column behind field `name` of every kind of record (`version`, `createdAt`, …).
fn set<R: Lifecycle>(row: &mut R, name: &str, value: impl Into<sea_orm::Value>) -> Result<()> {
    let column = <R::Entity as EntityTrait>::Column::from_str(name)
        .map_err(|_| Error::Internal(anyhow::anyhow!("{} has no column {name}", R::TYPE_NAME)))?;
    Ok(row.try_set(column, value.into())?)
}

fn version_of<R: Lifecycle>(row: &R) -> Result<i32> {
    match <R::Entity as EntityTrait>::Column::from_str("version").map(|c| row.get(c)) {
        Ok(sea_orm::Value::Int(Some(v))) => Ok(v),
        _ => Err(Error::Internal(anyhow::anyhow!("{} keeps no version", R::TYPE_NAME))),
    }
}
