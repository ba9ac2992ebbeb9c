//! The outbox: every committed change of a customer, an interaction, a complaint or a plan leaves
//! exactly one event, written in the change's own transaction with an increasing id; a write
//! that is refused, or changes nothing, leaves none. (Tenants here have no scorers: a scorer's
//! tier moves are events too, `customer.scored`, which `subscriptions.rs` checks.)

use guanxi_entity::event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

/// A tenant's events, in number order.
async fn events_of(app: &TestApp, db: &sea_orm::DatabaseConnection, tenant: &str) -> Vec<event::Model> {
    let tenant_id = app.tenant_id(db, tenant).await;
    event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant_id))
        .order_by_asc(event::Column::Id)
        .all(db)
        .await
        .expect("events")
}

fn names(events: &[event::Model]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// The changed fields an event names, sorted.
fn fields(e: &event::Model) -> Vec<&str> {
    let mut names: Vec<&str> =
        e.changed_fields.as_array().expect("array").iter().map(|f| f.as_str().expect("name")).collect();
    names.sort_unstable();
    names
}

fn uuid_of(global: &str) -> uuid::Uuid {
    guanxi_api::domain::ids::decode_any(global).expect("global id").1
}

fn ok<'a>(res: &'a Value, field: &str) -> &'a Value {
    assert!(res.get("errors").is_none(), "{field}: {res}");
    &res["data"][field]
}

/// Runs a mutation of one field with `$id` and returns the id of what it answers.
async fn run(app: &TestApp, t: &str, mutation: &str, id: &str) -> String {
    let res = app.gql(t, mutation, json!({ "id": id })).await;
    assert!(res.get("errors").is_none(), "{mutation}: {res}");
    let answer = res["data"].as_object().and_then(|d| d.values().next()).expect("one field");
    answer.get("id").unwrap_or(answer).as_str().expect("an id").to_owned()
}

/// Runs a mutation of one field with `$id` that must be refused with `expected`.
async fn refused(app: &TestApp, t: &str, mutation: &str, id: &str, expected: &str) {
    let res = app.gql(t, mutation, json!({ "id": id })).await;
    assert_eq!(code(&res), expected, "{mutation}: {res}");
}

#[tokio::test]
async fn every_committed_change_leaves_one_event_and_a_refused_one_none() {
    let app = TestApp::shared_bare().await;
    let db = sea_orm::Database::connect(&app.database_url).await.expect("database");
    let t = &app.token("acme", "ADMIN", "admin");
    let app = &app;
    let customer = &app.create_customer(t, json!({ "kind": "ORGANIZATION", "name": "华东贸易" })).await;
    run(
        app,
        t,
        "mutation($id: ID!) { updateCustomer(id: $id, input: {region: \"华东\", industry: \"零售\"}) { id } }",
        customer,
    )
    .await;
    // Changes nothing: no new version, no event.
    run(app, t, "mutation($id: ID!) { updateCustomer(id: $id, input: {region: \"华东\"}) { id } }", customer).await;
    refused(
        app,
        t,
        "mutation($id: ID!) { updateCustomer(id: $id, input: {email: \"not an address\"}) { id } }",
        customer,
        "BAD_USER_INPUT",
    )
    .await;

    let interaction = &run(app, t, "mutation($id: ID!) { recordInteraction(input: {customerId: $id, kind: VISIT, occurredAt: \"2026-12-01T09:00:00Z\", summary: \"拜访\"}) { id } }", customer).await;
    run(
        app,
        t,
        "mutation($id: ID!) { updateInteraction(id: $id, input: {outcome: \"签约意向\"}) { id } }",
        interaction,
    )
    .await;
    run(app, t, "mutation($id: ID!) { deleteInteraction(id: $id) }", interaction).await;

    let complaint = &run(app, t, "mutation($id: ID!) { fileComplaint(input: {customerId: $id, title: \"送货延误\", category: DELIVERY, severity: HIGH}) { id } }", customer).await;
    run(app, t, "mutation($id: ID!) { transitionComplaint(id: $id, to: ACKNOWLEDGED) { id } }", complaint).await;
    // Not a move the workflow allows.
    refused(app, t, "mutation($id: ID!) { transitionComplaint(id: $id, to: CLOSED) { id } }", complaint, "CONFLICT")
        .await;
    run(
        app,
        t,
        "mutation($id: ID!) { updateComplaint(id: $id, input: {severity: CRITICAL}, expectedVersion: 2) { id } }",
        complaint,
    )
    .await;
    // A stale version.
    refused(
        app,
        t,
        "mutation($id: ID!) { updateComplaint(id: $id, input: {severity: LOW}, expectedVersion: 2) { id } }",
        complaint,
        "CONFLICT",
    )
    .await;

    let plan = &run(app, t, "mutation($id: ID!) { createKeyAccountPlan(input: {customerId: $id, title: \"年度计划\", periodStart: \"2027-01-01\", periodEnd: \"2027-12-31\"}) { id } }", customer).await;
    let action =
        &run(app, t, "mutation($id: ID!) { addPlanAction(planId: $id, input: {title: \"季度拜访\"}) { id } }", plan)
            .await;
    run(app, t, "mutation($id: ID!) { completePlanAction(id: $id) { id } }", action).await;
    run(app, t, "mutation($id: ID!) { updateKeyAccountPlan(id: $id, input: {status: ACTIVE}) { id } }", plan).await;
    run(app, t, "mutation($id: ID!) { deleteCustomer(id: $id) }", customer).await;

    let events = events_of(app, &db, "acme").await;
    assert_eq!(
        names(&events),
        [
            "customer.created",
            "customer.updated",
            "interaction.recorded",
            "interaction.updated",
            "interaction.deleted",
            "complaint.filed",
            "complaint.transitioned",
            "complaint.updated",
            "plan.created",
            "plan.updated",
            "plan.updated",
            "plan.updated",
            "customer.deleted",
        ]
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let on_postgres = app.database_url.starts_with("postgres");
    assert!(events.iter().all(|e| e.txid.is_some() == on_postgres), "PostgreSQL keeps the writing transaction");
    let customer_id = uuid_of(customer);
    assert!(events.iter().all(|e| e.customer_id == Some(customer_id)), "every event names the customer");
    let admin = app.gql(t, "{ viewer { user { id } } }", json!({})).await;
    let admin_id = uuid_of(admin["data"]["viewer"]["user"]["id"].as_str().expect("viewer"));
    assert!(events.iter().all(|e| e.actor_id == Some(admin_id)), "every event names who made the change");

    assert_eq!((events[1].entity.as_str(), events[1].entity_id), ("Customer", customer_id));
    assert_eq!(fields(&events[1]), ["industry", "region"]);
    assert_eq!(fields(&events[3]), ["outcome"]);
    assert_eq!((events[2].entity.as_str(), events[2].entity_id), ("Interaction", uuid_of(interaction)));
    assert_eq!(fields(&events[6]), ["status"]);
    assert_eq!(fields(&events[7]), ["severity"]);
    // A plan's actions are events of the plan.
    assert_eq!((events[9].entity.as_str(), events[9].entity_id), ("KeyAccountPlan", uuid_of(plan)));
    assert_eq!(fields(&events[9]), ["actions"]);
    assert_eq!(fields(&events[11]), ["status"]);
}

#[tokio::test]
async fn concurrent_writes_each_leave_their_event_and_tenants_stay_apart() {
    let app = TestApp::shared_bare().await;
    let db = sea_orm::Database::connect(&app.database_url).await.expect("database");
    let a = app.token("alpha", "ADMIN", "admin");
    let b = app.token("beta", "ADMIN", "admin");
    let inputs: Vec<Value> = (0..5).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户 {i}") })).collect();
    let customers = app.create_customers(&a, &inputs).await;
    app.create_customer(&b, json!({ "kind": "INDIVIDUAL", "name": "另一家" })).await;

    let record = "mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: CALL, occurredAt: \"2026-12-01T09:00:00Z\"}) { id } }";
    let writes = (0..40).map(|i| {
        let (app, a, customer) = (&app, &a, &customers[i % customers.len()]);
        async move { app.gql(a, record, json!({ "c": customer })).await }
    });
    for res in futures_util::future::join_all(writes).await {
        ok(&res, "recordInteraction");
    }

    let events = events_of(&app, &db, "alpha").await;
    assert_eq!(events.len(), 45, "5 creates and 40 interactions");
    assert_eq!(names(&events).iter().filter(|n| **n == "interaction.recorded").count(), 40);
    let beta = events_of(&app, &db, "beta").await;
    assert_eq!(names(&beta), ["customer.created"], "tenants apart");
}

/// The indexes of the outbox and of the SLA check, and whether each is valid.
async fn deferred_indexes(db: &sea_orm::DatabaseConnection) -> Vec<(String, bool)> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = db.get_database_backend();
    let names = guanxi_api::store::deferred_indexes::DEFERRED
        .iter()
        .map(|d| format!("'{}'", d.name))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        format!(
            "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ({names}) ORDER BY 1"
        )
    } else {
        format!("SELECT name, TRUE AS valid FROM sqlite_master WHERE type = 'index' AND name IN ({names}) ORDER BY 1")
    };
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.expect("indexes");
    rows.iter()
        .map(|r| (r.try_get::<String>("", "name").expect("name"), r.try_get::<bool>("", "valid").expect("valid")))
        .collect()
}

/// Waits until every deferred index is there and valid.
async fn all_deferred_indexes_valid(db: &sea_orm::DatabaseConnection, why: &str) {
    // SQLite reads the outbox by id: it has no `txid`, nor its index.
    let wanted = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        guanxi_api::store::deferred_indexes::DEFERRED.len()
    } else {
        guanxi_api::store::deferred_indexes::DEFERRED.iter().filter(|d| d.table != "events").count()
    };
    let started = std::time::Instant::now();
    loop {
        let found = deferred_indexes(db).await;
        if found.len() == wanted && found.iter().all(|(_, valid)| *valid) {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{why}: {found:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn indexes_on_large_tables_are_built_without_blocking_writes_and_an_invalid_one_again() {
    // A server of its own: on PostgreSQL the test spoils one of its database's indexes.
    let app = TestApp::spawn().await;
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    // SQLite builds them in the migration; PostgreSQL's migrations leave them to the index
    // builder, which builds them CONCURRENTLY once the server runs.
    all_deferred_indexes_valid(&db, "the indexes of the outbox and the SLA check").await;
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return;
    }
    // A concurrent build stopped halfway leaves an invalid index, which PostgreSQL keeps
    // updating but never reads: the builder drops it and builds it again.
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE pg_index SET indisvalid = FALSE WHERE indexrelid = 'events_txid_idx'::regclass")
        .await
        .expect("spoil the index");
    assert!(deferred_indexes(&db).await.contains(&("events_txid_idx".to_owned(), false)));
    // Another replica's builder holds the turn. This one must not wait for it inside a statement:
    // a session waiting for the lock holds a snapshot, which the holder's concurrent build
    // waits for in turn, and PostgreSQL ends that build as a deadlock.
    let other = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let lock = guanxi_api::domain::field_indexes::BUILDERS_LOCK;
    other.execute_unprepared(&format!("SELECT pg_advisory_lock({lock})")).await.expect("the builders' turn");
    guanxi_api::domain::field_indexes::wake();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let waiting = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ))
        .await
        .expect("locks")
        .and_then(|r| r.try_get::<i64>("", "n").ok());
    assert_eq!(waiting, Some(0), "a builder waits for the builders' lock");
    assert!(deferred_indexes(&db).await.contains(&("events_txid_idx".to_owned(), false)), "built out of turn");
    other.execute_unprepared(&format!("SELECT pg_advisory_unlock({lock})")).await.expect("the turn given back");
    all_deferred_indexes_valid(&db, "the invalid index built again").await;
}
