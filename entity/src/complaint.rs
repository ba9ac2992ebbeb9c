//! A complaint (投诉): a case with a workflow and SLA deadlines.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub category: String,
    pub severity: String,
    pub status: String,
    pub assignee_id: Option<Uuid>,
    pub resolution: Option<String>,
    pub satisfaction: Option<i32>,
    pub response_due_at: DateTimeUtc,
    pub resolution_due_at: DateTimeUtc,
    /// When it first left OPEN (the response).
    pub responded_at: Option<DateTimeUtc>,
    /// When it last reached RESOLVED.
    pub resolved_at: Option<DateTimeUtc>,
    /// The response deadline passed unmet and `complaint.sla_breached` was announced.
    pub response_breach_told: bool,
    /// The resolution deadline passed unmet and `complaint.sla_breached` was announced.
    pub resolution_breach_told: bool,
    /// Values of the tenant's custom fields, a JSON object keyed by definition key.
    pub custom_fields: Json,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
