//! The per-tenant GraphQL schema: built with async-graphql's dynamic API from the entities'
//! descriptions, and cached per (tenant, schema version) with the field shapes its cost walk
//! reads ([`cost`]).
//!
//! Each part of the domain registers its types into [`Types`]; later parts (custom fields,
//! plugins) add theirs the same way, so the schema grows from one builder rather than beside it.

pub mod audit;
pub mod batch;
pub mod complaint;
pub mod connection;
pub mod context;
pub mod cost;
pub mod custom;
pub mod customer;
pub mod error;
pub mod fields;
pub mod filters;
pub mod inputs;
pub mod interaction;
pub mod loaders;
pub mod plan;
pub mod plugins;
pub mod scalars;
pub mod settings;
pub mod stats;
pub mod subscription;
pub mod viewer;
pub mod webhooks;

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, Interface, Object, ResolverContext, Schema, SchemaError,
    Subscription, SubscriptionField, TypeRef,
};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::domain::custom_fields::TenantFields;
use crate::error::{Error, Result};

/// Types collected for one schema.
#[derive(Default)]
pub struct Types {
    pub objects: Vec<Object>,
    pub inputs: Vec<InputObject>,
    pub enums: Vec<Enum>,
    pub interfaces: Vec<Interface>,
    pub query: Vec<Field>,
    pub mutation: Vec<Field>,
    pub subscription: Vec<SubscriptionField>,
}

impl Types {
    /// Adds to an object another part registered (e.g. custom fields on an entity).
    pub fn extend_object(&mut self, name: &str, extend: impl FnOnce(Object) -> Object) {
        if let Some(i) = self.objects.iter().position(|o| o.type_name() == name) {
            let object = self.objects.swap_remove(i);
            self.objects.push(extend(object));
        }
    }

    /// Adds to an enum another part registered.
    pub fn extend_enum(&mut self, name: &str, extend: impl FnOnce(Enum) -> Enum) {
        if let Some(i) = self.enums.iter().position(|e| e.type_name() == name) {
            let e = self.enums.swap_remove(i);
            self.enums.push(extend(e));
        }
    }

    /// Adds to an input object another part registered.
    pub fn extend_input(&mut self, name: &str, extend: impl FnOnce(InputObject) -> InputObject) {
        if let Some(i) = self.inputs.iter().position(|o| o.type_name() == name) {
            let input = self.inputs.swap_remove(i);
            self.inputs.push(extend(input));
        }
    }
}

/// The parent value of a field, as `T`.
///
/// # Errors
/// `INTERNAL` when the parent is something else (a wiring bug).
pub fn parent<'a, T: Any>(ctx: &ResolverContext<'a>) -> Result<&'a T> {
    ctx.parent_value
        .try_downcast_ref::<T>()
        .map_err(|_| Error::Internal(anyhow::anyhow!("unexpected parent value for {}", std::any::type_name::<T>())))
}

/// The answer of a resolver that needs no waiting. A ready value skips the boxed future every
/// `FieldFuture::new` allocates: a 360° page resolves a couple of thousand such fields.
pub fn ready(answer: async_graphql::Result<Option<FieldValue<'_>>>) -> FieldFuture<'_> {
    match answer {
        Ok(value) => FieldFuture::Value(value),
        Err(err) => FieldFuture::new(async move { Err::<Option<FieldValue<'_>>, _>(err) }),
    }
}

/// A field read straight from the parent value `T`.
pub fn simple<T: Any + Send + Sync>(name: &str, ty: TypeRef, get: fn(&T) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        ready(ctx.parent_value.try_downcast_ref::<T>().map(|parent| {
            // Null as "no value": custom scalars' validators would refuse an explicit null.
            match get(parent) {
                Value::Null => None,
                v => Some(FieldValue::value(v)),
            }
        }))
    })
}

/// An enum output value.
#[must_use]
pub fn enum_value(s: &str) -> Value {
    Value::Enum(async_graphql::Name::new(s))
}

/// Builds the schema for one tenant. Its operations are limited by [`cost::walk`] before they
/// reach it, so none of async-graphql's own depth and complexity passes are set: they expand
/// every fragment without memo, which a crafted document turns into minutes of work.
///
/// # Errors
/// The registered types do not form a valid schema (a programming error).
pub fn build(fields: &Arc<TenantFields>) -> Result<Schema, SchemaError> {
    let mut types = Types::default();
    viewer::register(&mut types);
    customer::register(&mut types);
    interaction::register(&mut types);
    complaint::register(&mut types);
    stats::register(&mut types);
    plan::register(&mut types);
    settings::register(&mut types);
    audit::register(&mut types);
    plugins::register(&mut types);
    webhooks::register(&mut types);
    custom::register(&mut types, fields);
    subscription::register(&mut types);

    let (shared_inputs, direction) = filters::shared_inputs();
    let query = types.query.drain(..).fold(Object::new("Query"), Object::field);
    let mutation = types.mutation.drain(..).fold(Object::new("Mutation"), Object::field);
    let subscription = types.subscription.drain(..).fold(Subscription::new("Subscription"), Subscription::field);
    let mut builder = Schema::build("Query", Some("Mutation"), Some("Subscription"))
        .register(query)
        .register(mutation)
        .register(subscription)
        .register(scalars::date_time())
        .register(scalars::json())
        .register(scalars::decimal())
        .register(scalars::date())
        .register(scalars::big_int())
        .register(connection::page_info_type())
        .register(direction);
    for t in shared_inputs.into_iter().chain(types.inputs) {
        builder = builder.register(t);
    }
    for t in types.enums {
        builder = builder.register(t);
    }
    for t in types.interfaces {
        builder = builder.register(t);
    }
    for t in types.objects {
        builder = builder.register(t);
    }
    builder.extension(error::FieldErrors).finish()
}

/// How many tenant schemas stay built. A schema is a few hundred kilobytes; rebuilding one
/// takes about a millisecond, so a modest bound costs little when many tenants are active.
const MAX_CACHED_SCHEMAS: usize = 256;

/// A tenant's schema, the custom field definitions it was built from, and its fields' shapes.
pub struct TenantSchema {
    pub schema: Schema,
    pub fields: Arc<TenantFields>,
    pub shapes: cost::Shapes,
    /// The hashes of the only documents non-ADMIN callers may send, when the tenant enforces
    /// its trusted documents.
    pub trusted: Option<Arc<std::collections::HashSet<String>>>,
}

struct Entry {
    version: i64,
    checked: Instant,
    built: Arc<TenantSchema>,
}

/// Built schemas by tenant, with the schema version they were built at; the oldest built is
/// evicted first.
pub struct SchemaCache {
    /// How long an entry is trusted before its tenant's schema version is read again. Changes
    /// made here, or heard from other replicas (LISTEN/NOTIFY), drop the entry at once.
    poll: Duration,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    schemas: HashMap<Uuid, Entry>,
    order: VecDeque<Uuid>,
    /// Bumped by every invalidation: a schema whose build began before one may hold what the
    /// change replaced, and is not kept.
    invalidations: u64,
}

impl SchemaCache {
    #[must_use]
    pub fn new(poll: Duration) -> Self {
        Self { poll, inner: Mutex::new(CacheInner::default()) }
    }

    /// The tenant's current schema: built once per schema version.
    ///
    /// # Errors
    /// Database failures; `INTERNAL` if the schema cannot be built.
    pub async fn get(&self, db: &DatabaseConnection, tenant_id: Uuid) -> Result<Arc<TenantSchema>> {
        let (cached, invalidations) = match self.inner.lock() {
            Ok(inner) => (
                inner.schemas.get(&tenant_id).map(|e| (e.version, e.checked.elapsed() < self.poll, e.built.clone())),
                inner.invalidations,
            ),
            Err(_) => (None, u64::MAX),
        };
        if let Some((_, true, built)) = &cached {
            return Ok(built.clone());
        }
        let version = crate::domain::tenant::schema_version(db, tenant_id).await?;
        if let Some((cached_version, _, built)) = cached
            && cached_version == version
        {
            if let Ok(mut inner) = self.inner.lock()
                && let Some(e) = inner.schemas.get_mut(&tenant_id)
            {
                e.checked = Instant::now();
            }
            return Ok(built);
        }
        // Built outside the lock: two first requests may both build, which is harmless.
        let fields = Arc::new(crate::domain::custom_fields::tenant_fields(db, tenant_id).await?);
        let trusted = crate::domain::documents::enforced(db, tenant_id).await?;
        let started = Instant::now();
        let schema = build(&fields).map_err(|e| Error::Internal(anyhow::anyhow!("building schema: {e}")))?;
        let shapes = cost::Shapes::of(schema.registry());
        tracing::debug!(tenant = %tenant_id, version, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "built schema");
        let built = Arc::new(TenantSchema { schema, fields, shapes, trusted });
        // A change committed (and dropped the entry) while this was read: what was read may be
        // from before it, and kept it would be served, unchecked, for a whole poll interval.
        if let Ok(mut inner) = self.inner.lock()
            && inner.invalidations == invalidations
        {
            let entry = Entry { version, checked: Instant::now(), built: built.clone() };
            if inner.schemas.insert(tenant_id, entry).is_none() {
                inner.order.push_back(tenant_id);
            }
            while inner.order.len() > MAX_CACHED_SCHEMAS {
                if let Some(old) = inner.order.pop_front() {
                    inner.schemas.remove(&old);
                }
            }
        }
        Ok(built)
    }

    /// Forgets every schema (changes may have been missed).
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.schemas.clear();
            inner.order.clear();
            inner.invalidations += 1;
        }
    }

    /// Forgets a tenant's schema after a change, so the next request rebuilds it.
    pub fn invalidate(&self, tenant_id: Uuid) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.schemas.remove(&tenant_id);
            inner.order.retain(|t| *t != tenant_id);
            inner.invalidations += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::custom_fields::EntityKind;

    /// A custom key may not shadow an entity's own fields: the domain's list of them must cover
    /// every field and input field the schema gives the entity.
    #[test]
    fn custom_keys_cannot_shadow_any_built_in_field() {
        let sdl = build(&Arc::new(TenantFields::default())).expect("schema").sdl();
        let mut missing = Vec::new();
        for entity in EntityKind::ALL {
            let name = entity.type_name();
            let headings: Vec<String> = ["type", "input"]
                .iter()
                .flat_map(|kind| {
                    ["", "Create", "Update", "Record", "File"].map(|verb| {
                        let suffix = if verb.is_empty() { "" } else { "Input" };
                        format!("{kind} {verb}{name}{suffix} ")
                    })
                })
                .collect();
            let (mut inside, mut in_description, mut in_arguments) = (false, false, false);
            let mut seen = 0;
            for line in sdl.lines() {
                if line.trim().starts_with("\"\"\"") {
                    in_description = !(in_description || line.trim().len() > 3 && line.trim().ends_with("\"\"\""));
                    continue;
                }
                if in_description {
                    continue;
                }
                if headings.iter().any(|h| line.starts_with(h.as_str())) {
                    inside = true;
                    seen += 1;
                    continue;
                }
                if line == "}" {
                    inside = false;
                }
                // Arguments with descriptions are printed one per line, up to `): Type`.
                if in_arguments {
                    in_arguments = !line.trim().starts_with(')');
                    continue;
                }
                in_arguments = line.trim_end().ends_with('(');
                let field = line.trim().split(['(', ':']).next().unwrap_or_default();
                if inside && !field.is_empty() && !entity.is_built_in(field) {
                    missing.push(format!("{name}.{field}"));
                }
            }
            assert!(seen > 0, "no {name} type in the schema");
        }
        assert!(missing.is_empty(), "missing from is_built_in: {missing:?}");
    }
}
