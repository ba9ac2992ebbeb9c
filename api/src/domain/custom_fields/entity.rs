//! The entities that carry custom fields, and the built-in fields of each: the names a custom
//! key may not shadow and the ones a validator plugin may check. Apart from the definitions
//! because it is a fixed list that changes with the GraphQL schema, not with a tenant's fields.

/// The entities that carry custom fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Customer,
    Interaction,
    Complaint,
    KeyAccountPlan,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] =
        [EntityKind::Customer, EntityKind::Interaction, EntityKind::Complaint, EntityKind::KeyAccountPlan];

    /// The `EntityKind` enum value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Customer => "CUSTOMER",
            EntityKind::Interaction => "INTERACTION",
            EntityKind::Complaint => "COMPLAINT",
            EntityKind::KeyAccountPlan => "KEY_ACCOUNT_PLAN",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The entity's GraphQL object type.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            EntityKind::Customer => "Customer",
            EntityKind::Interaction => "Interaction",
            EntityKind::Complaint => "Complaint",
            EntityKind::KeyAccountPlan => "KeyAccountPlan",
        }
    }

    /// The table holding the entity's rows (and their `custom_fields` column).
    #[must_use]
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Customer => "customers",
            EntityKind::Interaction => "interactions",
            EntityKind::Complaint => "complaints",
            EntityKind::KeyAccountPlan => "key_account_plans",
        }
    }

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
    /// not shadow? (A test checks the list against the schema.)
    #[must_use]
    pub fn is_built_in(self, name: &str) -> bool {
        const COMMON: &[&str] =
            &["id", "custom", "customFields", "version", "createdAt", "updatedAt", "customer", "customerId"];
        let own: &[&str] = match self {
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
                "lifecycleStage",
                "tier",
                "relationshipType",
                "owner",
                "ownerId",
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
            EntityKind::Interaction => &[
                "kind",
                "channel",
                "occurredAt",
                "staff",
                "staffId",
                "summary",
                "outcome",
                "amount",
                "currency",
                "satisfaction",
                "wouldBuyAgain",
            ],
            EntityKind::Complaint => &[
                "title",
                "description",
                "category",
                "severity",
                "status",
                "assignee",
                "assigneeId",
                "resolution",
                "satisfaction",
                "responseDueAt",
                "resolutionDueAt",
                "slaBreached",
                "history",
                "respondedAt",
                "resolvedAt",
                "closedAt",
                "dueBefore",
            ],
            EntityKind::KeyAccountPlan => &[
                "owner",
                "ownerId",
                "team",
                "teamIds",
                "title",
                "status",
                "periodStart",
                "periodEnd",
                "revenueTarget",
                "plannedVisits",
                "objectives",
                "actions",
                "progress",
                "currency",
            ],
        };
        own.iter().chain(COMMON).any(|b| *b == name)
    }
}
