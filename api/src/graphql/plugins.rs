//! Plugins in the schema (docs/plugins.md): `Plugin`, its limits and run records, the plugin
//! mutations and queries (ADMIN only), `Score`, `ScoreRun`, and `Customer.scores`, `score`
//! and `lifecycleStage`, which come from the tenant's scorers.

use std::sync::atomic::Ordering;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use guanxi_entity::{customer, plugin, plugin_run, score_run};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::context::{id_arg, int_arg, request, resolve, str_arg};
use super::scalars::{opt_str, time_value};
use super::{Types, enum_value, inputs, parent, simple};
use crate::domain::custom_fields::{self, Definition, EntityKind, FieldType, IndexState, Source};
use crate::domain::plugins::{self as service, ConfigureInput, InstallInput, Target};
use crate::domain::{Role, ids, scoring};
use crate::error::{Error, Result};

pub const TYPE_NAME: &str = service::TYPE_NAME;

/// Lifecycle stages, as the lifecycle scorer's `lifecycle_stage` label gives them.
pub const LIFECYCLE_STAGES: [&str; 6] = ["PROSPECT", "NEW", "ACTIVE", "LOYAL", "AT_RISK", "CHURNED"];

/// The score key `Customer.lifecycleStage` reads.
pub const LIFECYCLE_KEY: &str = scoring::LIFECYCLE_KEY;

/// The `CustomerOrderField` that sorts by [`LIFECYCLE_KEY`].
pub const LIFECYCLE_ORDER: &str = "LIFECYCLE_STAGE";

/// A plugin's limits as they apply (the server's, lowered by the plugin's own).
struct EffectiveLimits(guanxi_plugin_host::Limits);

/// One of a customer's scores, from its `scores` details.
struct ScoreOf {
    key: String,
    detail: serde_json::Value,
}

/// A recompute request and how many of its customers still wait.
struct RunProgress(score_run::Model, i64);

fn admin_only(ctx: &ResolverContext<'_>) -> Result<()> {
    if request(ctx)?.caller.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden("only an ADMIN may see a plugin's configuration, limits and runs".into()))
    }
}

/// Marks the request as having changed the tenant's schema (plugins are part of it).
fn changed(ctx: &ResolverContext<'_>) -> Result<()> {
    request(ctx)?.schema_changed.store(true, Ordering::Relaxed);
    Ok(())
}

fn as_i64(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

pub fn register(types: &mut Types) {
    types.enums.push(Enum::new("PluginCapability").item("SCORER").item("VALIDATOR"));
    types.objects.push(limits_type());
    types.objects.push(run_type());
    types.objects.push(plugin_type());
    types.objects.push(score_type());
    types.objects.push(score_run_type());
    types.inputs.push(limits_input());
    types.inputs.push(
        InputObject::new("InstallPluginInput")
            .field(
                InputValue::new("name", TypeRef::named_nn(TypeRef::STRING))
                    .description("Unique in the tenant: a lowercase letter, then a-z, 0-9, - and _"),
            )
            .field(
                InputValue::new("wasmBase64", TypeRef::named_nn(TypeRef::STRING))
                    .description("The component (cargo build --target wasm32-wasip2 --release), standard base64"),
            )
            .field(
                InputValue::new("config", TypeRef::named("JSON"))
                    .description("Handed to every call as JSON; a plugin that checks its configuration may refuse it"),
            )
            .field(InputValue::new("version", TypeRef::named(TypeRef::STRING)).description("Your label; default \"1\""))
            .field(InputValue::new("limits", TypeRef::named("PluginLimitsInput"))),
    );
    types.query.push(
        Field::new("plugins", TypeRef::named_nn_list_nn(TYPE_NAME), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let all = service::list(&rc.db, &rc.caller).await?;
                Ok(Some(FieldValue::list(all.into_iter().map(FieldValue::owned_any))))
            })
        })
        .description("ADMIN: the tenant's plugins, in order of installation."),
    );
    types.query.push(
        Field::new("plugin", TypeRef::named(TYPE_NAME), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let id = id_arg(&ctx, "id", TYPE_NAME)?;
                match service::get(&rc.db, &rc.caller, id).await {
                    Ok(p) => Ok(Some(FieldValue::owned_any(p))),
                    Err(Error::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .description("ADMIN: one plugin."),
    );
    types.query.push(
        Field::new("scoreRun", TypeRef::named_nn("ScoreRun"), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let id = id_arg(&ctx, "id", scoring::RUN_TYPE_NAME)?;
                let (run, pending) = scoring::progress(&rc.db, &rc.caller, id).await?;
                Ok(Some(FieldValue::owned_any(RunProgress(run, pending))))
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
        .description("ADMIN: the progress of a recomputeScores."),
    );
    types.mutation.extend(mutations());
    types.extend_object("Customer", |o| {
        o.field(
            Field::new("scores", TypeRef::named_nn_list_nn("Score"), |ctx| {
                resolve(async move {
                    let scores = scores_of(&ctx).await?;
                    Ok(Some(FieldValue::list(scores.into_iter().map(FieldValue::owned_any))))
                })
            })
            .description("The scores of the tenant's scorers, with explanation, plugin and time."),
        )
        .field(
            Field::new("score", TypeRef::named("Score"), |ctx| {
                resolve(async move {
                    let key = str_arg(&ctx, "key").unwrap_or_default();
                    let found = scores_of(&ctx)
                        .await?
                        .into_iter()
                        .find(|s| s.key == key || custom_fields::camel_case(&s.key) == key);
                    Ok(found.map(FieldValue::owned_any))
                })
            })
            .argument(InputValue::new("key", TypeRef::named_nn(TypeRef::STRING)))
            .description("One score, by its key or the key in camelCase."),
        )
        .field(
            Field::new("lifecycleStage", TypeRef::named("LifecycleStage"), |ctx| {
                resolve(async move {
                    let c = parent::<customer::Model>(&ctx)?;
                    let rc = request(&ctx)?;
                    let computed = rc
                        .fields
                        .find_live(EntityKind::Customer, LIFECYCLE_KEY)
                        .is_some_and(|d| d.source == Source::Plugin);
                    let stage = c.custom_fields.get(LIFECYCLE_KEY).and_then(serde_json::Value::as_str);
                    Ok(stage
                        .filter(|s| computed && LIFECYCLE_STAGES.contains(s))
                        .map(|s| FieldValue::value(enum_value(s))))
                })
            })
            .description(
                "Derived from behaviour by the tenant's lifecycle scorer (`lifecycle_stage`); null until scored.",
            ),
        )
    });
    types.enums.push(LIFECYCLE_STAGES.iter().fold(Enum::new("LifecycleStage"), |e, s| e.item(*s)));
    types.extend_enum("CustomerOrderField", |e| {
        e.item(EnumItem::new(LIFECYCLE_ORDER).description(
            "By the lifecycle scorer's stage, alphabetically (ACTIVE, AT_RISK, CHURNED, LOYAL, NEW, PROSPECT); unscored last",
        ))
    });
}

/// A customer's scores whose keys are live computed fields, in field order.
async fn scores_of(ctx: &ResolverContext<'_>) -> Result<Vec<ScoreOf>> {
    let (c, sees_all) = super::context::customer_parent(ctx)?;
    if !sees_all {
        return Ok(Vec::new());
    }
    let rc = request(ctx)?;
    let Some(details) = rc.scores.load_one(c.id).await?.flatten() else {
        return Ok(Vec::new());
    };
    Ok(rc
        .fields
        .live(EntityKind::Customer)
        .filter(|d| d.source == Source::Plugin)
        .filter_map(|d| details.get(&d.key).map(|detail| ScoreOf { key: d.key.clone(), detail: detail.clone() }))
        .collect())
}

fn score_type() -> Object {
    let text = |name: &str| {
        let key = name.to_owned();
        Field::new(name, TypeRef::named(TypeRef::STRING), move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move {
                let s = ctx.parent_value.try_downcast_ref::<ScoreOf>()?;
                Ok(s.detail
                    .get(&key)
                    .and_then(serde_json::Value::as_str)
                    .map(|t| FieldValue::value(Value::String(t.to_owned()))))
            })
        })
    };
    Object::new("Score")
        .description("A scorer's result for one customer: a number (value) or a label (value 0).")
        .field(simple::<ScoreOf>("key", TypeRef::named_nn(TypeRef::STRING), |s| Value::String(s.key.clone())))
        .field(simple::<ScoreOf>("value", TypeRef::named_nn(TypeRef::FLOAT), |s| {
            Value::from(s.detail.get("value").and_then(serde_json::Value::as_f64).unwrap_or(0.0))
        }))
        .field(text("label"))
        .field(text("explanation"))
        .field(simple::<ScoreOf>("version", TypeRef::named_nn(TypeRef::STRING), |s| {
            Value::String(s.detail.get("version").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned())
        }))
        .field(simple::<ScoreOf>("computedAt", TypeRef::named_nn("DateTime"), |s| {
            Value::String(s.detail.get("computedAt").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned())
        }))
        .field(Field::new("plugin", TypeRef::named(TYPE_NAME), |ctx| {
            resolve(async move {
                let s = parent::<ScoreOf>(&ctx)?;
                let id =
                    s.detail.get("pluginId").and_then(serde_json::Value::as_str).and_then(|i| Uuid::parse_str(i).ok());
                let all = request(&ctx)?.installed_plugins().await?;
                Ok(id.and_then(|id| all.iter().find(|p| p.id == id)).map(|p| FieldValue::owned_any(p.clone())))
            })
        }))
}

fn limits_type() -> Object {
    let int = |name: &str, get: fn(&guanxi_plugin_host::Limits) -> u64| {
        Field::new(name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
            FieldFuture::new(async move {
                Ok(Some(FieldValue::value(as_i64(get(&ctx.parent_value.try_downcast_ref::<EffectiveLimits>()?.0)))))
            })
        })
    };
    Object::new("PluginLimits")
        .description("What one call may use: the server's limits, lowered where the plugin asks for less.")
        .field(int("fuel", |l| l.fuel_base).description("CPU budget of a call (a scorer adds fuelPerCustomer)"))
        .field(int("fuelPerCustomer", |l| l.fuel_per_item))
        .field(int("timeoutMs", |l| u64::try_from(l.timeout.as_millis()).unwrap_or(u64::MAX)))
        .field(int("memoryBytes", |l| l.memory_bytes as u64))
        .field(int("inputBytes", |l| l.input_bytes as u64))
        .field(int("outputBytes", |l| l.output_bytes as u64))
        .field(int("logBytes", |l| l.log_bytes as u64))
}

fn limits_input() -> InputObject {
    ["fuel", "fuelPerCustomer", "timeoutMs", "memoryBytes", "inputBytes", "outputBytes", "logBytes"].into_iter().fold(
        InputObject::new("PluginLimitsInput")
            .description("Lower a plugin's limits; absent ones stay the server's. Limits never go above the server's."),
        |i, name| i.field(InputValue::new(name, TypeRef::named(TypeRef::INT))),
    )
}

fn run_type() -> Object {
    Object::new("PluginRun")
        .description("One call of a plugin: what it did and what it used.")
        .field(simple::<plugin_run::Model>("id", TypeRef::named_nn(TypeRef::ID), |r| {
            Value::String(ids::encode("PluginRun", r.id))
        }))
        .field(
            simple::<plugin_run::Model>("call", TypeRef::named_nn(TypeRef::STRING), |r| Value::String(r.call.clone()))
                .description("KEYS, SCORE, VALIDATE or CHECK_CONFIG (a configuration put to the plugin's own check)"),
        )
        .field(
            simple::<plugin_run::Model>("outcome", TypeRef::named_nn(TypeRef::STRING), |r| {
                Value::String(r.outcome.clone())
            })
            .description("OK, or the reason it failed: OUT_OF_FUEL, TIMEOUT, MEMORY_LIMIT, TRAP, INVALID_OUTPUT, OUTPUT_TOO_LARGE, INPUT_TOO_LARGE, GUEST_ERROR"),
        )
        .field(simple::<plugin_run::Model>("error", TypeRef::named(TypeRef::STRING), |r| opt_str(r.error.as_deref())))
        .field(simple::<plugin_run::Model>("version", TypeRef::named_nn(TypeRef::STRING), |r| Value::String(r.version.clone())))
        .field(
            simple::<plugin_run::Model>("items", TypeRef::named_nn(TypeRef::INT), |r| Value::from(r.items))
                .description("Customers in a scoring batch; 1 for a validation; 0 for KEYS and CHECK_CONFIG"),
        )
        .field(simple::<plugin_run::Model>("fuelUsed", TypeRef::named_nn("BigInt"), |r| Value::String(r.fuel_used.to_string())))
        .field(simple::<plugin_run::Model>("memoryPeakBytes", TypeRef::named_nn(TypeRef::INT), |r| Value::from(r.memory_peak_bytes)))
        .field(simple::<plugin_run::Model>("durationMs", TypeRef::named_nn(TypeRef::FLOAT), |r| {
            #[expect(clippy::cast_precision_loss, reason = "durations far below 2^52 µs")]
            Value::from(r.duration_us as f64 / 1000.0)
        }))
        .field(
            simple::<plugin_run::Model>("logs", TypeRef::named_nn(TypeRef::STRING), |r| Value::String(r.logs.clone()))
                .description("stdout then stderr, cut to the log limit"),
        )
        .field(simple::<plugin_run::Model>("at", TypeRef::named_nn("DateTime"), |r| time_value(&r.at)))
}

fn plugin_type() -> Object {
    Object::new(TYPE_NAME)
        .description("A WebAssembly component installed in the tenant: a scorer, a validator, or both.")
        .field(simple::<plugin::Model>("id", TypeRef::named_nn(TypeRef::ID), |p| {
            Value::String(ids::encode(TYPE_NAME, p.id))
        }))
        .field(simple::<plugin::Model>("name", TypeRef::named_nn(TypeRef::STRING), |p| Value::String(p.name.clone())))
        .field(simple::<plugin::Model>("version", TypeRef::named_nn(TypeRef::STRING), |p| {
            Value::String(p.version.clone())
        }))
        .field(simple::<plugin::Model>("sha256", TypeRef::named_nn(TypeRef::STRING), |p| {
            Value::String(p.sha256.clone())
        }))
        .field(
            simple::<plugin::Model>("revision", TypeRef::named_nn(TypeRef::INT), |p| Value::from(p.revision))
                .description("Counts every change: install 1, then each upgrade, configuration and enable/disable"),
        )
        .field(simple::<plugin::Model>("capabilities", TypeRef::named_nn_list_nn("PluginCapability"), |p| {
            Value::List(service::capabilities(p).iter().map(|c| enum_value(c)).collect())
        }))
        .field(simple::<plugin::Model>("enabled", TypeRef::named_nn(TypeRef::BOOLEAN), |p| Value::Boolean(p.enabled)))
        .field(
            simple::<plugin::Model>("scoreKeys", TypeRef::named_nn_list_nn(TypeRef::STRING), |p| {
                Value::List(service::score_keys(p).into_iter().map(|k| Value::String(k.key)).collect())
            })
            .description("The keys a scorer computes; each is a read-only custom field of Customer"),
        )
        .field(simple::<plugin::Model>("installedAt", TypeRef::named_nn("DateTime"), |p| time_value(&p.installed_at)))
        .field(simple::<plugin::Model>("updatedAt", TypeRef::named_nn("DateTime"), |p| time_value(&p.updated_at)))
        .field(Field::new("config", TypeRef::named("JSON"), |ctx| {
            resolve(async move {
                admin_only(&ctx)?;
                let p = parent::<plugin::Model>(&ctx)?;
                Ok(p.config.clone().and_then(|c| Value::from_json(c).ok()).map(FieldValue::value))
            })
        }))
        .field(Field::new("limits", TypeRef::named_nn("PluginLimits"), |ctx| {
            resolve(async move {
                admin_only(&ctx)?;
                let p = parent::<plugin::Model>(&ctx)?;
                let limits = service::limits_of(&request(&ctx)?.plugins, p);
                Ok(Some(FieldValue::owned_any(EffectiveLimits(limits))))
            })
        }))
        .field(
            Field::new("lastRuns", TypeRef::named_nn_list_nn("PluginRun"), |ctx| {
                resolve(async move {
                    let rc = request(&ctx)?;
                    let p = parent::<plugin::Model>(&ctx)?;
                    let first = u64::try_from(int_arg(&ctx, "first").unwrap_or(20)).unwrap_or(1);
                    let runs = service::last_runs(&rc.db, &rc.caller, p.id, first).await?;
                    Ok(Some(FieldValue::list(runs.into_iter().map(FieldValue::owned_any))))
                })
            })
            .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).description("1 to 200, default 20"))
            .description("ADMIN: the newest calls, newest first."),
        )
}

fn score_run_type() -> Object {
    Object::new("ScoreRun")
        .description("A re-scoring of every customer of the tenant, and how far it got.")
        .field(simple::<RunProgress>("id", TypeRef::named_nn(TypeRef::ID), |r| {
            Value::String(ids::encode(scoring::RUN_TYPE_NAME, r.0.id))
        }))
        .field(simple::<RunProgress>("total", TypeRef::named_nn(TypeRef::INT), |r| Value::from(r.0.total)))
        .field(
            simple::<RunProgress>("pending", TypeRef::named_nn(TypeRef::INT), |r| Value::from(r.1))
                .description("Customers of this run still waiting to be scored"),
        )
        .field(simple::<RunProgress>("done", TypeRef::named_nn(TypeRef::BOOLEAN), |r| Value::Boolean(r.1 == 0)))
        .field(simple::<RunProgress>("startedAt", TypeRef::named_nn("DateTime"), |r| time_value(&r.0.started_at)))
}

/// A built-in field shown as a definition, so attach/detach can answer with one type.
fn built_in_definition(entity: EntityKind, field: &str) -> Definition {
    let digest = Sha256::digest(format!("built-in:{}:{field}", entity.as_str()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    Definition {
        id: Uuid::from_bytes(bytes),
        entity,
        key: field.to_owned(),
        name: field.to_owned(),
        label: field.to_owned(),
        description: Some(format!("The built-in field {}.{field}", entity.type_name())),
        ty: FieldType::String,
        required: false,
        options: Vec::new(),
        default_value: None,
        indexed: false,
        index_state: IndexState::None,
        index_error: None,
        archived: false,
        source: Source::BuiltIn,
        position: -1,
        version: 1,
        created_at: epoch,
        updated_at: epoch,
    }
}

fn target_value(t: Target) -> FieldValue<'static> {
    match t {
        Target::Custom(def) => FieldValue::owned_any(*def),
        Target::BuiltIn(entity, field) => FieldValue::owned_any(built_in_definition(entity, &field)),
    }
}

fn install_input(obj: &async_graphql::dynamic::ObjectAccessor<'_>) -> InstallInput {
    InstallInput {
        name: inputs::string(obj, "name").into_value().unwrap_or_default(),
        wasm_base64: inputs::string(obj, "wasmBase64").into_value().unwrap_or_default(),
        config: inputs::json(obj, "config").into_value(),
        version: inputs::string(obj, "version").into_value(),
        limits: inputs::json(obj, "limits").into_value(),
    }
}

fn plugin_id(ctx: &ResolverContext<'_>, name: &str) -> Result<Uuid> {
    id_arg(ctx, name, TYPE_NAME)
}

/// `attachValidator` or `detachValidator`: same arguments, same answer (the field's definition).
fn validator_field(name: &str, attach: bool, description: &str) -> Field {
    Field::new(name, TypeRef::named_nn(custom_fields::TYPE_NAME), move |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let plugin = plugin_id(&ctx, "pluginId")?;
            let entity = ctx.args.get("entity").and_then(|v| v.enum_name().ok().map(str::to_owned)).unwrap_or_default();
            let field = str_arg(&ctx, "field").unwrap_or_default();
            let t = if attach {
                service::attach(&rc.db, &rc.caller, plugin, &entity, &field).await?
            } else {
                service::detach(&rc.db, &rc.caller, plugin, &entity, &field).await?
            };
            changed(&ctx)?;
            Ok(Some(target_value(t)))
        })
    })
    .argument(InputValue::new("pluginId", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("entity", TypeRef::named_nn("EntityKind")))
    .argument(
        InputValue::new("field", TypeRef::named_nn(TypeRef::STRING))
            .description("A custom key or a built-in field name"),
    )
    .description(description)
}

fn mutations() -> Vec<Field> {
    let install = Field::new("installPlugin", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let p = service::install(&rc.db, &rc.plugins, &rc.caller, inputs::input(&ctx, install_input)?).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(p)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("InstallPluginInput")))
    .description("ADMIN: checks, compiles and stores a component; a scorer's keys become custom fields and every customer is scored.");
    let upgrade = Field::new("upgradePlugin", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = plugin_id(&ctx, "id")?;
            let wasm = str_arg(&ctx, "wasmBase64").unwrap_or_default();
            let p = service::upgrade(&rc.db, &rc.plugins, &rc.caller, id, &wasm, str_arg(&ctx, "version")).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(p)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("wasmBase64", TypeRef::named_nn(TypeRef::STRING)))
    .argument(
        InputValue::new("version", TypeRef::named(TypeRef::STRING)).description("Default: the new revision number"),
    )
    .description("ADMIN: hot-swaps the component; calls in flight finish on the old version.");
    let enable = Field::new("setPluginEnabled", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = plugin_id(&ctx, "id")?;
            let enabled = ctx.args.get("enabled").and_then(|v| v.boolean().ok()).unwrap_or(true);
            let p = service::set_enabled(&rc.db, &rc.plugins, &rc.caller, id, enabled).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(p)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("enabled", TypeRef::named_nn(TypeRef::BOOLEAN)))
    .description("ADMIN: turns a plugin on or off without a restart; a disabled scorer's values stay as they were.");
    let configure = Field::new("configurePlugin", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = plugin_id(&ctx, "id")?;
            let config = ctx.args.get("config").map(|v| v.as_value().clone().into_json().unwrap_or_default());
            let limits = ctx.args.get("limits").map(|v| v.as_value().clone().into_json().unwrap_or_default());
            let p = service::configure(&rc.db, &rc.plugins, &rc.caller, id, ConfigureInput { config, limits }).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::owned_any(p)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(
        InputValue::new("config", TypeRef::named("JSON"))
            .description("Replaces the configuration (null clears it); a plugin that checks its configuration may refuse it"),
    )
    .argument(InputValue::new("limits", TypeRef::named("PluginLimitsInput")).description("Replaces the lowered limits"))
    .description("ADMIN: changes a plugin's configuration or limits; a scorer then re-scores every customer.");
    let uninstall = Field::new("uninstallPlugin", TypeRef::named_nn(TypeRef::ID), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = service::uninstall(&rc.db, &rc.caller, plugin_id(&ctx, "id")?).await?;
            changed(&ctx)?;
            Ok(Some(FieldValue::value(Value::String(ids::encode(TYPE_NAME, id)))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description(
        "ADMIN: removes a plugin; its fields leave the schema (their values return if it is installed again).",
    );
    let attach = validator_field(
        "attachValidator",
        true,
        "ADMIN: the validator checks this field in every write that sets it; its violations refuse the write.",
    );
    let detach = validator_field("detachValidator", false, "ADMIN: stops a validator from checking a field.");
    let recompute = Field::new("recomputeScores", TypeRef::named_nn("ScoreRun"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = match ctx.args.get("pluginId").filter(|v| !v.is_null()) {
                Some(_) => Some(plugin_id(&ctx, "pluginId")?),
                None => None,
            };
            let run = scoring::recompute(&rc.db, &rc.plugins, &rc.caller, id).await?;
            let total = run.total;
            Ok(Some(FieldValue::owned_any(RunProgress(run, total))))
        })
    })
    .argument(
        InputValue::new("pluginId", TypeRef::named(TypeRef::ID))
            .description("Checks that this scorer is installed and enabled"),
    )
    .description(
        "ADMIN: re-scores every customer of the tenant with its enabled scorers; follow it with scoreRun(id).",
    );
    vec![install, upgrade, enable, configure, uninstall, attach, detach, recompute]
}
