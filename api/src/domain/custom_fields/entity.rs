//! The built-in fields of each entity that carries custom fields: the names a custom key may not
//! shadow and the ones a validator plugin may check, from the entities' declarations. (`EntityKind`
//! itself is in `query`, which the store speaks too.)

pub use crate::query::EntityKind;
use crate::query::FieldSpec;

impl EntityKind {
    /// The entity's declared built-in fields.
    #[must_use]
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EntityKind::Customer => crate::domain::customers::FIELDS,
            EntityKind::Interaction => crate::domain::interactions::FIELDS,
            EntityKind::Complaint => crate::domain::complaints::FIELDS,
            EntityKind::KeyAccountPlan => crate::domain::plans::FIELDS,
        }
    }

    /// Is `name` a built-in field a validator plugin may check: one an update may set (and so
    /// every write that sets it runs the validator)?
    #[must_use]
    pub fn is_writable_built_in(self, name: &str) -> bool {
        self.fields().iter().any(|f| f.name == name && f.input.is_some_and(|i| !i.create_only))
    }

    /// Is `name` one of the entity's own GraphQL fields or input names, which a custom key may
    /// not shadow? Its declared fields and the references they show, and the relations and
    /// computed fields its object shows beside them. (A test checks them against the schema.)
    #[must_use]
    pub fn is_built_in(self, name: &str) -> bool {
        const COMMON: &[&str] = &["custom", "customFields", "customer", "customerId"];
        let beside: &[&str] = match self {
            EntityKind::Customer => &[
                "lifecycleStage",
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
            EntityKind::Interaction => &[],
            EntityKind::Complaint => &["slaBreached", "history", "closedAt", "dueBefore"],
            EntityKind::KeyAccountPlan => &["actions", "progress"],
        };
        self.fields().iter().any(|f| f.name == name || f.shows == Some(name))
            || beside.iter().chain(COMMON).any(|b| *b == name)
    }
}
