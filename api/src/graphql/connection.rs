//! Relay connections: `<T>Connection { edges nodes pageInfo totalCount }` and `<T>Edge`, for any
//! node type whose parent value is `T`. `totalCount` runs its query only when selected.

use std::any::Any;
use std::sync::Arc;

use async_graphql::Value;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use futures_util::future::BoxFuture;

use async_graphql::dynamic::ResolverContext;

use super::context::{RequestContext, int_arg, request, str_arg};
use super::error::into_gql;
use super::ready;
use crate::domain::records::{self, OnCustomer, Record};
use crate::error::Result;
use crate::query::{Filter, Op, OrderKey, Page, PageRequest, Scalar, encode_cursor, page_request, total_order};

/// Counts all rows matching the connection's filter, on demand.
pub type Counter = Arc<dyn Fn() -> BoxFuture<'static, Result<u64>> + Send + Sync>;

/// One page of `T`, with each row's cursor.
pub struct Connection<T> {
    pub edges: Vec<Edge<T>>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub count: Counter,
}

/// Makes a row's cursor. Cursors are made only when a client selects them: a 360° page has
/// hundreds of nested edges whose cursors nobody reads.
pub type CursorFn<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

pub struct Edge<T> {
    pub node: T,
    cursor: CursorFn<T>,
}

impl<T> Edge<T> {
    #[must_use]
    pub fn cursor(&self) -> String {
        (self.cursor)(&self.node)
    }
}

impl<T> Connection<T> {
    /// A connection with nothing in it, and a count of zero.
    #[must_use]
    pub fn empty() -> Self {
        let count: Counter = Arc::new(|| Box::pin(async { Ok(0) }));
        Self { edges: Vec::new(), has_next_page: false, has_previous_page: false, count }
    }

    /// Wraps a page; `cursor` makes a row's cursor when one is asked for.
    pub fn new(page: Page<T>, cursor: impl Fn(&T) -> String + Send + Sync + 'static, count: Counter) -> Self {
        let cursor: CursorFn<T> = Arc::new(cursor);
        Self {
            edges: page.rows.into_iter().map(|node| Edge { node, cursor: cursor.clone() }).collect(),
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            count,
        }
    }
}

/// `PageInfo`, shared by every connection.
#[must_use]
pub fn page_info_type() -> Object {
    Object::new("PageInfo")
        .field(Field::new("hasNextPage", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            ready(ctx.parent_value.try_downcast_ref::<PageInfo>().map(|p| Some(Value::Boolean(p.has_next_page).into())))
        }))
        .field(Field::new("hasPreviousPage", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            ready(
                ctx.parent_value
                    .try_downcast_ref::<PageInfo>()
                    .map(|p| Some(Value::Boolean(p.has_previous_page).into())),
            )
        }))
        .field(Field::new("startCursor", TypeRef::named(TypeRef::STRING), |ctx| {
            ready(
                ctx.parent_value.try_downcast_ref::<PageInfo>().map(|p| p.start_cursor.clone().map(FieldValue::value)),
            )
        }))
        .field(Field::new("endCursor", TypeRef::named(TypeRef::STRING), |ctx| {
            ready(ctx.parent_value.try_downcast_ref::<PageInfo>().map(|p| p.end_cursor.clone().map(FieldValue::value)))
        }))
}

struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

/// `<node>Connection` and `<node>Edge` for a node type whose values are `T`.
#[must_use]
pub fn types<T: Any + Send + Sync>(node: &str) -> [Object; 2] {
    let connection = Object::new(format!("{node}Connection"))
        .field(Field::new("edges", TypeRef::named_nn_list_nn(format!("{node}Edge")), |ctx| {
            ready(
                ctx.parent_value
                    .try_downcast_ref::<Connection<T>>()
                    .map(|c| Some(FieldValue::list(c.edges.iter().map(|e| FieldValue::borrowed_any(e))))),
            )
        }))
        .field(Field::new("nodes", TypeRef::named_nn_list_nn(node.to_owned()), |ctx| {
            ready(
                ctx.parent_value
                    .try_downcast_ref::<Connection<T>>()
                    .map(|c| Some(FieldValue::list(c.edges.iter().map(|e| FieldValue::borrowed_any(&e.node))))),
            )
        }))
        .field(Field::new("pageInfo", TypeRef::named_nn("PageInfo"), |ctx| {
            ready(ctx.parent_value.try_downcast_ref::<Connection<T>>().map(|c| {
                Some(FieldValue::owned_any(PageInfo {
                    has_next_page: c.has_next_page,
                    has_previous_page: c.has_previous_page,
                    start_cursor: c.edges.first().map(Edge::cursor),
                    end_cursor: c.edges.last().map(Edge::cursor),
                }))
            }))
        }))
        .field(
            Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Connection<T>>()?;
                    let n = (c.count)().await.map_err(into_gql)?;
                    Ok(Some(Value::from(n)))
                })
            })
            .description("All matching rows, not just this page; counted only when asked for."),
        );
    let edge = Object::new(format!("{node}Edge"))
        .field(Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
            ready(ctx.parent_value.try_downcast_ref::<Edge<T>>().map(|e| Some(FieldValue::value(e.cursor()))))
        }))
        .field(Field::new("node", TypeRef::named_nn(node.to_owned()), |ctx| {
            ready(ctx.parent_value.try_downcast_ref::<Edge<T>>().map(|e| Some(FieldValue::borrowed_any(&e.node))))
        }));
    [connection, edge]
}

/// The standard paging arguments.
#[must_use]
pub fn with_paging(field: Field) -> Field {
    use async_graphql::dynamic::InputValue;
    field
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("last", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("before", TypeRef::named(TypeRef::STRING)))
}

/// The page the arguments [`with_paging`] adds ask for, in `order`.
///
/// # Errors
/// As [`page_request`].
pub fn paging(ctx: &ResolverContext<'_>, order: &[OrderKey]) -> Result<PageRequest> {
    page_request(
        int_arg(ctx, "first"),
        str_arg(ctx, "after").as_deref(),
        int_arg(ctx, "last"),
        str_arg(ctx, "before").as_deref(),
        order,
    )
}

/// Lists one entity for a connection field: a domain service's list and count behind pointers.
pub type ListFn<T> = for<'a> fn(
    &'a sea_orm::DatabaseConnection,
    &'a crate::domain::Caller,
    Filter,
    &'a [OrderKey],
    &'a PageRequest,
) -> BoxFuture<'a, Result<Page<T>>>;
pub type CountFn = fn(sea_orm::DatabaseConnection, crate::domain::Caller, Filter) -> BoxFuture<'static, Result<u64>>;

/// What a connection field needs beyond the record's own declaration ([`Record`]: fields,
/// default order, cursor values), so every list reads its arguments, pages and counts the same
/// way.
pub struct Listing<T: 'static> {
    /// Filter keys beyond the fields (e.g. `slaBreached`).
    pub extra: super::filters::ExtraKeys,
    pub list: ListFn<T>,
    pub count: CountFn,
    /// For records kept on a customer: the request's loaders of a page of customers' first
    /// pages, and of their counts.
    pub per_customer: Option<(PerCustomer<T>, CountsPerCustomer<T>)>,
}

/// The loader, in a request, of many customers' first pages of `T`.
pub type PerCustomer<T> = fn(&RequestContext) -> &super::context::PagesPerCustomer<T>;

/// The loader, in a request, of many customers' counts of `T`.
pub type CountsPerCustomer<T> = fn(&RequestContext) -> &super::context::CountsPerCustomer<T>;

impl<T: Record> Listing<T> {
    /// The listing of a kind of record, with `list` and `count`.
    pub const fn of(extra: super::filters::ExtraKeys, list: ListFn<T>, count: CountFn) -> Self {
        Self { extra, list, count, per_customer: None }
    }
}

impl<T: OnCustomer> Listing<T> {
    /// The listing of a kind of record kept on a customer, read within the caller's scope;
    /// `per_customer` reads a page of customers' first pages together, and `counts` their
    /// `totalCount`s.
    pub const fn on_customer(
        extra: super::filters::ExtraKeys,
        per_customer: PerCustomer<T>,
        counts: CountsPerCustomer<T>,
    ) -> Self {
        Self {
            extra,
            list: list_on_customer::<T>,
            count: count_on_customer::<T>,
            per_customer: Some((per_customer, counts)),
        }
    }

    /// The connection of a field at the root or, under a customer (`customer`), of its records.
    ///
    /// # Errors
    /// As [`Listing::request`], and database failures.
    pub async fn on(&self, ctx: &ResolverContext<'_>, customer: Option<uuid::Uuid>) -> Result<Connection<T>> {
        let Some(id) = customer else { return self.connection(ctx, None).await };
        self.nested(&super::context::shared_request(ctx)?, self.request(ctx, None)?, id).await
    }
}

fn list_on_customer<'a, T: OnCustomer>(
    db: &'a sea_orm::DatabaseConnection,
    caller: &'a crate::domain::Caller,
    filter: Filter,
    order: &'a [OrderKey],
    page: &'a PageRequest,
) -> BoxFuture<'a, Result<Page<T>>> {
    Box::pin(records::list::<T>(db, caller, filter, order, page))
}

fn count_on_customer<T: OnCustomer>(
    db: sea_orm::DatabaseConnection,
    caller: crate::domain::Caller,
    filter: Filter,
) -> BoxFuture<'static, Result<u64>> {
    Box::pin(async move { records::count::<T>(&db, &caller, filter).await })
}

/// A list request read from a connection field's arguments.
pub struct ListRequest {
    pub filter: Filter,
    pub order: Vec<OrderKey>,
    pub page: PageRequest,
}

impl<T: Record> Listing<T> {
    /// Reads `filter`, `orderBy` and the paging arguments; `scope` narrows the filter (e.g. to the
    /// parent customer).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` for bad filters, orders, sizes or cursors.
    pub fn request(&self, ctx: &ResolverContext<'_>, scope: Option<Filter>) -> Result<ListRequest> {
        let custom = Some(super::filters::CustomScope { fields: &request(ctx)?.fields, entity: T::ENTITY });
        let mut filter = super::filters::parse_filter_with(ctx.args.get("filter"), T::FIELDS, self.extra, custom)?;
        if let Some(scope) = scope {
            filter = filter.and(scope);
        }
        let order = total_order(
            super::filters::parse_order(ctx.args.get("orderBy"), T::FIELDS, custom, T::default_order())?,
            &T::FIELDS[0],
        );
        let page = paging(ctx, &order)?;
        Ok(ListRequest { filter, order, page })
    }

    /// The connection of one customer's rows for `req` (read without a scope), through the
    /// listing's `per_customer` loader: a first page (no cursor, forwards) is loaded together
    /// with its siblings' (every customer of a page asking the same arguments), so a page of
    /// customers costs one statement, not one per customer. Any other page is read alone.
    ///
    /// # Errors
    /// Database failures.
    pub async fn nested(
        &self,
        rc: &Arc<RequestContext>,
        req: ListRequest,
        customer: uuid::Uuid,
    ) -> Result<Connection<T>>
    where
        T: OnCustomer,
    {
        let batch = match self.per_customer {
            Some((loader, _)) if req.page.cursor.is_none() && !req.page.backward => loader(rc),
            _ => return self.read(rc, self.of_customer(req, customer)?).await,
        };
        let signature: Arc<str> = format!("{:?}|{:?}|{}", req.filter, req.order, req.page.size).into();
        if let Ok(mut queries) = batch.loader().queries.lock() {
            queries.entry(signature.clone()).or_insert_with(|| super::loaders::NestedQuery {
                filter: req.filter.clone(),
                order: req.order.clone(),
                page: req.page.clone(),
            });
        }
        let page = batch.load_one((signature, customer)).await?.unwrap_or(Page {
            rows: Vec::new(),
            has_next_page: false,
            has_previous_page: false,
        });
        self.wrap_nested(rc, req, customer, page)
    }

    /// Wraps one customer's page of rows for `req` (read without a scope). Its `totalCount`, if
    /// asked for, is counted together with its siblings' (every customer of a page asking the
    /// same filter) in one statement.
    ///
    /// # Errors
    /// `INTERNAL` for an entity without a `customerId` field.
    pub fn wrap_nested(
        &self,
        rc: &Arc<RequestContext>,
        req: ListRequest,
        customer: uuid::Uuid,
        rows: Page<T>,
    ) -> Result<Connection<T>>
    where
        T: OnCustomer,
    {
        let Some((_, counts)) = self.per_customer else {
            return Ok(self.wrap(rc, self.of_customer(req, customer)?, rows));
        };
        let (rc, filter) = (rc.clone(), req.filter);
        let counter: Counter = Arc::new(move || {
            // The signature is made only when a count is asked for: most pages ask none.
            let (rc, filter) = (rc.clone(), filter.clone());
            Box::pin(async move {
                let signature: Arc<str> = format!("{filter:?}").into();
                let loader = counts(&rc);
                if let Ok(mut filters) = loader.loader().filters.lock() {
                    filters.entry(signature.clone()).or_insert(filter);
                }
                Ok(loader.load_one((signature, customer)).await?.unwrap_or(0))
            })
        });
        let order = req.order;
        Ok(Connection::new(rows, move |row| encode_cursor(&order, &records::order_values(row, &order)), counter))
    }

    /// `req` narrowed to one customer's rows, as its `totalCount` and a page read alone need.
    ///
    /// # Errors
    /// `INTERNAL` for an entity without a `customerId` field.
    pub fn of_customer(&self, req: ListRequest, customer: uuid::Uuid) -> Result<ListRequest> {
        let field = T::FIELDS
            .iter()
            .find(|f| f.name == "customerId")
            .ok_or_else(|| crate::Error::Internal(anyhow::anyhow!("{:?} rows have no customer", T::ENTITY)))?;
        Ok(ListRequest { filter: req.filter.and(Filter::Field(field, Op::Eq(Scalar::Uuid(customer)))), ..req })
    }

    /// Wraps a page of rows, with cursors and a lazy `totalCount` for the request's filter.
    pub fn wrap(&self, rc: &RequestContext, req: ListRequest, rows: Page<T>) -> Connection<T> {
        let (db, caller, filter, count) = (rc.db.clone(), rc.caller.clone(), req.filter, self.count);
        let counter: Counter = Arc::new(move || count(db.clone(), caller.clone(), filter.clone()));
        let order = req.order;
        Connection::new(rows, move |row| encode_cursor(&order, &records::order_values(row, &order)), counter)
    }

    /// A connection for a field: read the arguments, list, wrap.
    ///
    /// # Errors
    /// As [`Listing::request`], and database failures.
    pub async fn connection(&self, ctx: &ResolverContext<'_>, scope: Option<Filter>) -> Result<Connection<T>> {
        self.read(request(ctx)?, self.request(ctx, scope)?).await
    }

    /// Whether record `id` is among those the caller may list with the field's `filter`
    /// argument (a subscription's filter, matched against one changed record).
    ///
    /// # Errors
    /// As [`Listing::request`], and database failures.
    pub async fn lists(&self, ctx: &ResolverContext<'_>, id: uuid::Uuid) -> Result<bool> {
        let rc = request(ctx)?;
        let req = self.request(ctx, Some(Filter::Field(&T::FIELDS[0], Op::Eq(Scalar::Uuid(id)))))?;
        Ok((self.count)(rc.db.clone(), rc.caller.clone(), req.filter).await? > 0)
    }

    /// Lists a page for a request already read, and wraps it.
    async fn read(&self, rc: &RequestContext, req: ListRequest) -> Result<Connection<T>> {
        let rows = (self.list)(&rc.db, &rc.caller, req.filter.clone(), &req.order, &req.page).await?;
        Ok(self.wrap(rc, req, rows))
    }
}

/// Reads one connection for a field; `customer` is the parent customer's id when nested.
pub type ConnectionOf<T> =
    for<'r, 'c> fn(&'r ResolverContext<'c>, Option<uuid::Uuid>) -> BoxFuture<'r, Result<Connection<T>>>;

/// A `<entity>Connection` field with filter, orderBy and paging arguments, at the root or
/// (`nested`) under a Customer.
pub fn list_field<T: Any + Send + Sync>(name: &str, entity: &str, nested: bool, read: ConnectionOf<T>) -> Field {
    let field = Field::new(name, TypeRef::named_nn(format!("{entity}Connection")), move |ctx| {
        super::context::resolve(async move {
            let customer = if nested {
                let (customer, sees_all) = super::context::customer_parent(&ctx)?;
                if !sees_all {
                    // A customer's case view has no timeline, complaints or plans to list.
                    return Ok(Some(FieldValue::owned_any(Connection::<T>::empty())));
                }
                Some(customer.id)
            } else {
                None
            };
            Ok(Some(FieldValue::owned_any(read(&ctx, customer).await?)))
        })
    })
    .argument(async_graphql::dynamic::InputValue::new("filter", TypeRef::named(format!("{entity}Filter"))))
    .argument(async_graphql::dynamic::InputValue::new("orderBy", TypeRef::named_nn_list(format!("{entity}Order"))));
    with_paging(field)
}
