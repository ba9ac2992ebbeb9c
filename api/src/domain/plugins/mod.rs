//! WebAssembly plugins of a tenant (docs/plugins.md): install,
//! upgrade, enable, configure, uninstall; validators attached to fields and run inside writes;
//! the run record of every call.
//!
//! A plugin's bytes are stored in the database, so every replica can load them; the host
//! compiles each sha256 once. Every change bumps the tenant's schema version: a scorer's keys
//! are computed custom fields of Customer, and the schema version is how replicas learn that
//! plugins changed. Calls in flight keep the compiled version they started with (`Arc`), so an
//! upgrade never cuts one short.
//!
//! The module is split by what each part serves: `runtime` is the shared host, the run log and
//! what a call runs with; `stored` reads a stored plugin row back (score keys, capabilities,
//! lowered limits); `checks` checks an install's input and component before anything is
//! stored; `lifecycle` is an ADMIN's install, upgrade, enable, configure and uninstall;
//! `validators` attaches validators to fields and runs them inside writes; `operator` is what
//! runs as the system rather than a caller: new tenants with their default plugins, and the
//! command line's install.

mod checks;
mod lifecycle;
mod operator;
mod runtime;
mod stored;
mod validators;

pub use lifecycle::{
    ConfigureInput, InstallInput, TYPE_NAME, configure, get, install, installed, last_runs, list, set_enabled,
    uninstall, upgrade,
};
pub use operator::{OperatorInstall, install_as_operator, tenant_for};
pub use runtime::{Plugins, config_json, limits_of};
pub use stored::{KeySpec, capabilities, is_scorer, score_keys};
pub use validators::{Target, Written, attach, attachments, detach, prepare_validators, validate_write};
