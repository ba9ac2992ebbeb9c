//! The write pipeline: the one sequence every change of a customer, an interaction, a complaint
//! or a key-account plan goes through, so that none can skip a step.
//!
//! 1. [`Write::begin`]: the caller may write at all; the tenant's validators are compiled (before
//!    the transaction, which must not wait on a compiler); the transaction begins; the custom
//!    field definitions are read, their lock taken before any row's (see `custom_fields`).
//! 2. With [`Write::txn`]: lock the record's customer and read the record, check the version,
//!    apply the input ([`Write::apply`]: the declared fields and the custom values), run the
//!    kind's own checks.
//! 3. [`Write::commit`]: the plugin validators, then the rows written, then the customer's
//!    figures or score queued, the audit entry, the outbox event, the commit, and the scoring
//!    worker woken.
//!
//! Everything from step 1's transaction on is one transaction: the audit entry and the event
//! exist exactly when the change committed.
//!
//! [`create`], [`update`] and [`delete`] run these steps for every kind of record, in one order;
//! what differs between kinds is their [`Lifecycle`]. A create has no version and applies its
//! input before it locks the customer it names. The workflow steps (a complaint's transition, a
//! plan's actions) call [`Write`] themselves; configuration (settings, definitions, plugins)
//! keeps transactions of its own and makes no event.

mod record;

use std::str::FromStr;

use chrono::{DateTime, Utc};
use guanxi_entity::event;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

pub use record::{Lifecycle, create, delete, not_found, update};

use super::custom_fields::{self, Definition, EntityKind};
use super::input::{self, Input, Patch};
use super::plugins::{self, Plugins};
use super::records::Record;
use super::{Caller, access, audit, custom_values, stats};
use crate::error::{Error, Result, Violation};
use crate::query::CUSTOM_COLUMN;
use crate::store::{self, WriteTxn};

/// A write in progress; dropped without [`Write::commit`], it rolls back.
pub struct Write<'a> {
    txn: WriteTxn,
    caller: &'a Caller,
    plugins: &'a Plugins,
    entity: EntityKind,
    /// `None` for a write that sets no field a definition or a validator governs (a delete, a
    /// workflow step).
    definitions: Option<Vec<Definition>>,
    /// Read once, at the first [`Write::now`]: the entity asks after it holds its row lock, so a
    /// later version of a row never carries an earlier time.
    now: std::sync::OnceLock<DateTime<Utc>>,
}

impl<'a> Write<'a> {
    /// Begins a write that sets fields: custom values are checked and validators run.
    ///
    /// # Errors
    /// `FORBIDDEN` for a caller who may not write; a validator that cannot be loaded; database
    /// failures.
    pub async fn begin(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        caller: &'a Caller,
        entity: EntityKind,
    ) -> Result<Self> {
        access::ensure_can_write(caller)?;
        plugins::prepare_validators(db, plugins, caller.tenant_id, entity).await?;
        let mut write = Self::open(db, plugins, caller, entity).await?;
        write.definitions = Some(custom_fields::for_write(&write.txn, caller.tenant_id, entity).await?);
        Ok(write)
    }

    /// Begins a write that sets no field of the record's own (a delete, a workflow step, a plan's
    /// action): no definitions are read and no validator runs.
    ///
    /// # Errors
    /// `FORBIDDEN` for a caller who may not write; database failures.
    pub async fn begin_plain(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        caller: &'a Caller,
        entity: EntityKind,
    ) -> Result<Self> {
        access::ensure_can_write(caller)?;
        Self::open(db, plugins, caller, entity).await
    }

    /// Begins the transaction, once the caller's role was checked.
    async fn open(
        db: &DatabaseConnection,
        plugins: &'a Plugins,
        caller: &'a Caller,
        entity: EntityKind,
    ) -> Result<Self> {
        let txn = store::begin_write(db).await?;
        Ok(Self { txn, caller, plugins, entity, definitions: None, now: std::sync::OnceLock::new() })
    }

    /// The transaction, for the entity's locks, reads and checks.
    #[must_use]
    pub fn txn(&self) -> &WriteTxn {
        &self.txn
    }

    /// Who writes.
    #[must_use]
    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    /// The time of this write: every timestamp it sets is this one. Ask for it once the row is
    /// locked.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        *self.now.get_or_init(crate::clock::now)
    }

    /// The custom values after `input` over `stored`, checked against the definitions; problems
    /// go to `violations`.
    pub fn custom_values(&self, input: Patch<Value>, stored: Option<&Value>, violations: &mut Vec<Violation>) -> Value {
        custom_values::apply(self.definitions(), input, stored, violations)
    }

    /// Applies `input` over `row`: its built-in fields as the record's declaration says, then its
    /// custom values checked against the definitions. A create (`creating`) must give the
    /// required fields, an update may not give the create-only ones. Problems go to `violations`.
    ///
    /// # Errors
    /// `INTERNAL` for a declaration that does not fit the record's columns.
    pub fn apply<R: Record>(
        &self,
        row: &mut R,
        mut input: Input,
        creating: bool,
        violations: &mut Vec<Violation>,
    ) -> Result<()> {
        let stored = (!creating).then(|| row.custom_values().clone());
        let custom = self.custom_values(std::mem::take(&mut input.custom_fields), stored.as_ref(), violations);
        input::apply(row, &mut input, creating, violations)?;
        let column = <R::Entity as EntityTrait>::Column::from_str(CUSTOM_COLUMN)
            .map_err(|_| Error::Internal(anyhow::anyhow!("{} keeps no custom values", R::TYPE_NAME)))?;
        row.try_set(column, sea_orm::Value::Json(Some(Box::new(custom))))?;
        Ok(())
    }

    /// Adds to `violations` (the built-in checks', not empty) what the plugin validators find in
    /// the other fields of `after`, so that a write is told every problem at once. A plugin that
    /// fails here is recorded in its runs and adds nothing: the write is refused anyway.
    pub async fn every_problem(&self, after: &Value, before: Option<&Value>, violations: &mut Vec<Violation>) {
        let Some(definitions) = &self.definitions else { return };
        let txn: &sea_orm::DatabaseTransaction = &self.txn;
        let found = plugins::validate_write(
            txn,
            self.plugins,
            self.caller.tenant_id,
            self.entity,
            definitions,
            plugins::Written { after, before, refused: violations },
        )
        .await;
        match found {
            Err(Error::Invalid(found)) => violations.extend(found),
            Err(err) => tracing::debug!(error = %err, "a validator failed on a write refused anyway"),
            Ok(()) => {}
        }
    }

    /// The definitions of the entity's custom fields (none for a plain write).
    #[must_use]
    pub fn definitions(&self) -> &[Definition] {
        self.definitions.as_deref().unwrap_or_default()
    }

    /// Runs the validators, `persist`, the change's effect, the audit entry and the event, and
    /// commits.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` from a validator; what `persist` returns; database failures. Nothing is
    /// kept on error.
    pub async fn commit(self, change: Change, persist: impl AsyncFnOnce(&WriteTxn) -> Result<()>) -> Result<()> {
        let tenant_id = self.caller.tenant_id;
        if let (Some(definitions), Some(after)) = (&self.definitions, &change.after) {
            let txn: &sea_orm::DatabaseTransaction = &self.txn;
            plugins::validate_write(
                txn,
                self.plugins,
                tenant_id,
                self.entity,
                definitions,
                plugins::Written { after, before: change.before.as_ref(), refused: &[] },
            )
            .await?;
        }
        persist(&self.txn).await?;
        match change.effect {
            Effect::None => {}
            Effect::Figures => stats::refresh(&self.txn, tenant_id, change.event.customer_id).await?,
            Effect::Score => store::scoring::enqueue(&self.txn, tenant_id, &[change.event.customer_id]).await?,
        }
        let now = self.now();
        let (record_type, record_id) = change.record;
        let changed_fields = match change.event.fields {
            Some(fields) => fields.iter().map(|f| Value::String((*f).to_owned())).collect(),
            None => changed_fields(change.before.as_ref(), change.after.as_ref()),
        };
        audit::record(&self.txn, self.caller, record_type, record_id, change.action, change.before, change.after, now)
            .await?;
        let event = event::Model {
            id: 0,
            tenant_id,
            name: change.event.name.to_owned(),
            entity: change.event.entity.to_owned(),
            entity_id: change.event.entity_id,
            customer_id: Some(change.event.customer_id),
            actor_id: Some(self.caller.user_id),
            owner_id: change.event.owner_id,
            changed_fields: Value::Array(changed_fields),
            at: now,
            txid: None,
        };
        store::events::append(&self.txn, event).await?;
        self.txn.commit().await?;
        if change.effect != Effect::None {
            self.plugins.wake_scorer();
        }
        Ok(())
    }
}

/// The names of the fields whose values differ between two audit snapshots.
fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<Value> {
    match audit::diff(before, after) {
        Value::Object(changes) => changes.into_iter().map(|(k, _)| Value::String(k)).collect(),
        _ => Vec::new(),
    }
}

/// What a change does besides its own rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The customer's figures (counts, totals, last contact) are computed again, and its score
    /// queued with them.
    Figures,
    /// The customer's score is queued.
    Score,
}

/// One change: what the audit trail records and the event it makes.
#[derive(Debug, Clone)]
pub struct Change {
    /// The audit trail's record: its type and id.
    record: (&'static str, Uuid),
    action: audit::Action,
    before: Option<Value>,
    after: Option<Value>,
    event: Event,
    effect: Effect,
}

/// The event of a change, as the outbox records it.
#[derive(Debug, Clone)]
struct Event {
    name: &'static str,
    entity: &'static str,
    entity_id: Uuid,
    customer_id: Uuid,
    /// The fields it names; `None`: those whose audit snapshot changed.
    fields: Option<&'static [&'static str]>,
    /// For a customer's change, its owner then.
    owner_id: Option<Uuid>,
}

impl Change {
    /// `record_type` `id` of customer `customer` changed from `before` to `after` (`None` for
    /// a create or a delete); the event is `event` on that record.
    #[must_use]
    pub fn new(
        record_type: &'static str,
        id: Uuid,
        customer: Uuid,
        event: &'static str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        let action = match (&before, &after) {
            (None, _) => audit::Action::Create,
            (Some(_), Some(_)) => audit::Action::Update,
            (Some(_), None) => audit::Action::Delete,
        };
        Self {
            record: (record_type, id),
            action,
            before,
            after,
            event: Event {
                name: event,
                entity: record_type,
                entity_id: id,
                customer_id: customer,
                fields: None,
                owner_id: None,
            },
            effect: Effect::None,
        }
    }

    /// The change also does `effect`.
    #[must_use]
    pub fn with(self, effect: Effect) -> Self {
        Self { effect, ..self }
    }

    /// The change is of a customer owned by `owner` (after a create, before any other change),
    /// so that who may hear of it can be told once the customer is gone or given to another.
    #[must_use]
    pub fn owned_by(self, owner: Option<Uuid>) -> Self {
        let event = Event { owner_id: owner, ..self.event };
        Self { event, ..self }
    }

    /// The event is of `entity_type` `entity_id` (a record the changed one belongs to, as a
    /// plan's action belongs to its plan) and names `fields` of it.
    #[must_use]
    pub fn event_on(self, entity_type: &'static str, entity_id: Uuid, fields: &'static [&'static str]) -> Self {
        let event = Event { entity: entity_type, entity_id, fields: Some(fields), ..self.event };
        Self { event, ..self }
    }
}
