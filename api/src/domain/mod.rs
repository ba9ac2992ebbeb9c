//! Domain rules and services: who may do what, what a valid customer is, how lists are asked
//! for. No actix and no GraphQL types here; resolvers are thin and call these services.

/// A closed set of names a column stores and GraphQL shows as an enum, in SCREAMING_SNAKE_CASE:
/// a Rust enum, so a misspelt name does not compile. `$names` lists the names in order for the
/// field's declaration; the stored text compares with a variant (`row.kind == Kind::Purchase`).
macro_rules! stored_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident, $names:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::EnumString, strum::IntoStaticStr,
            strum::VariantNames, strum::EnumIter,
        )]
        #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
        $vis enum $name { $($variant),+ }

        #[doc = concat!("The names of [`", stringify!($name), "`], in order.")]
        $vis const $names: &[&str] = <$name as strum::VariantNames>::VARIANTS;

        impl $name {
            #[must_use]
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }
    };
}

pub mod access;
pub mod audit;
pub mod complaints;
pub mod custom_fields;
pub mod custom_values;
pub mod customers;
pub mod documents;
pub mod feed;
pub mod field_indexes;
pub mod identity;
pub mod ids;
pub mod input;
pub mod interactions;
pub mod money;
pub mod plans;
pub mod plugins;
pub mod records;
pub mod related;
pub mod scoring;
pub mod settings;
pub mod sla;
pub mod snapshot;
pub mod stats;
pub mod tenant;
pub mod values;
pub mod webhooks;
pub mod write;

use uuid::Uuid;

/// A role from the token's `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Custom fields, plugins, settings; everything a manager may do.
    Admin,
    /// All customers of the tenant.
    Manager,
    /// The customers they own.
    Agent,
    /// Reads only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Agent, Role::Viewer];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Agent => "AGENT",
            Role::Viewer => "VIEWER",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who is calling: resolved from a verified token, present on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub user_id: Uuid,
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    /// The language the token asks for, if it names one.
    pub locale: Option<crate::locale::Locale>,
}
