//! The per-tenant GraphQL schema: built with async-graphql's dynamic API from the entities'
//! descriptions, limited (depth, complexity), and cached per (tenant, schema version).
//!
//! Each part of the domain registers its types into [`Types`]; later parts (custom fields,
//! plugins) add theirs the same way, so the schema grows from one builder rather than beside it.

pub mod audit;
pub mod complaint;
pub mod connection;
pub mod context;
pub mod customer;
pub mod error;
pub mod filters;
pub mod inputs;
pub mod interaction;
pub mod loaders;
pub mod plan;
pub mod scalars;
pub mod settings;
pub mod stats;
pub mod viewer;

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, Interface, Object, ResolverContext, Schema, SchemaError, TypeRef,
};
use uuid::Uuid;

use crate::domain::Caller;
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
}

/// Limits set on every schema.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
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

/// A field read straight from the parent value `T`.
pub fn simple<T: Any + Send + Sync>(name: &str, ty: TypeRef, get: fn(&T) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            // Null as "no value": custom scalars' validators would refuse an explicit null.
            Ok(match get(ctx.parent_value.try_downcast_ref::<T>()?) {
                Value::Null => None,
                v => Some(FieldValue::value(v)),
            })
        })
    })
}

/// An enum output value.
#[must_use]
pub fn enum_value(s: &str) -> Value {
    Value::Enum(async_graphql::Name::new(s))
}

/// Builds the schema for one tenant.
///
/// # Errors
/// The registered types do not form a valid schema (a programming error).
pub fn build(_caller: &Caller, limits: Limits) -> Result<Schema, SchemaError> {
    let mut types = Types::default();
    viewer::register(&mut types);
    customer::register(&mut types);
    interaction::register(&mut types);
    complaint::register(&mut types);
    stats::register(&mut types);
    plan::register(&mut types);
    settings::register(&mut types);
    audit::register(&mut types);

    let (shared_inputs, direction) = filters::shared_inputs();
    let query = types.query.drain(..).fold(Object::new("Query"), Object::field);
    let mutation = types.mutation.drain(..).fold(Object::new("Mutation"), Object::field);
    let mut builder = Schema::build("Query", Some("Mutation"), None)
        .register(query)
        .register(mutation)
        .register(scalars::date_time())
        .register(scalars::json())
        .register(scalars::decimal())
        .register(scalars::date())
        .register(connection::page_info_type())
        .register(direction)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity);
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
    builder.finish()
}

/// How many tenant schemas stay built. A schema is a few hundred kilobytes; rebuilding one
/// takes about a millisecond, so a modest bound costs little when many tenants are active.
const MAX_CACHED_SCHEMAS: usize = 256;

/// Built schemas by (tenant, schema version), evicting the oldest built first.
pub struct SchemaCache {
    limits: Limits,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    schemas: HashMap<Uuid, (i64, Schema)>,
    order: VecDeque<Uuid>,
}

impl SchemaCache {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits, inner: Mutex::new(CacheInner::default()) }
    }

    /// The caller's tenant's schema, built once per schema version.
    ///
    /// # Errors
    /// `INTERNAL` if the schema cannot be built.
    pub fn get(&self, caller: &Caller) -> Result<Schema> {
        if let Ok(inner) = self.inner.lock()
            && let Some((version, schema)) = inner.schemas.get(&caller.tenant_id)
            && *version == caller.schema_version
        {
            return Ok(schema.clone());
        }
        // Built outside the lock: two first requests may both build, which is harmless.
        let schema =
            build(caller, self.limits).map_err(|e| Error::Internal(anyhow::anyhow!("building schema: {e}")))?;
        if let Ok(mut inner) = self.inner.lock() {
            if inner.schemas.insert(caller.tenant_id, (caller.schema_version, schema.clone())).is_none() {
                inner.order.push_back(caller.tenant_id);
            }
            while inner.order.len() > MAX_CACHED_SCHEMAS {
                if let Some(old) = inner.order.pop_front() {
                    inner.schemas.remove(&old);
                }
            }
        }
        Ok(schema)
    }
}
