//! The built-in fields of each entity that carries custom fields: the names a custom key may not
//! shadow and the ones a validator plugin may check. Apart from the definitions because it is a
//! fixed list that changes with the GraphQL schema, not with a tenant's fields. (`EntityKind`
//! itself is in `query`, which the store speaks too.)

pub use crate::query::EntityKind;

impl EntityKind {
    /// Is `name` a built-in field a write sets, which a validator plugin may check? (The names
    /// of the record validators receive, as the audit trail shows it.)
    #[must_use]
    pub fn is_writable_built_in(self, name: &str) -> bool {
        let fields: &[&str] = match self {
            EntityKind::Customer => &[
                "kind",
                "name",
                "email",
                "phone",
                "region",
                "industry",
                "creditCode",
                "channel",
                "website",
                "tags",
                "status",
                "relationshipType",
                "ownerId",
            ],
            EntityKind::Interaction => &[
                "kind",
                "channel",
                "occurredAt",
                "summary",
                "outcome",
                "amount",
                "currency",
                "satisfaction",
                "wouldBuyAgain",
            ],
            EntityKind::Complaint => {
                &["title", "description", "category", "severity", "assigneeId", "resolution", "satisfaction"]
            }
            EntityKind::KeyAccountPlan => &[
                "title",
                "periodStart",
                "periodEnd",
                "revenueTarget",
                "currency",
                "plannedVisits",
                "objectives",
                "ownerId",
            ],
        };
        fields.contains(&name)
    }

    /// Is `name` one of the entity's own GraphQL fields or input names, which a custom key may
    /// not shadow? Those a write sets ([`Self::is_writable_built_in`]), and those the server
    /// keeps or derives. (A test checks them against the schema.)
    #[must_use]
    pub fn is_built_in(self, name: &str) -> bool {
        const COMMON: &[&str] =
            &["id", "custom", "customFields", "version", "createdAt", "updatedAt", "customer", "customerId"];
        let read_only: &[&str] = match self {
            EntityKind::Customer => &[
                "lifecycleStage",
                "tier",
                "owner",
                "scores",
                "score",
                "stats",
                "interactions",
                "complaints",
                "keyAccountPlans",
                "scoringSnapshot",
                "openComplaints",
                "activePlan",
            ],
            EntityKind::Interaction => &["staff", "staffId"],
            EntityKind::Complaint => &[
                "status",
                "assignee",
                "responseDueAt",
                "resolutionDueAt",
                "slaBreached",
                "history",
                "respondedAt",
                "resolvedAt",
                "closedAt",
                "dueBefore",
            ],
            EntityKind::KeyAccountPlan => &["owner", "team", "teamIds", "status", "actions", "progress"],
        };
        self.is_writable_built_in(name) || read_only.iter().chain(COMMON).any(|b| *b == name)
    }
}
