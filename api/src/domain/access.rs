//! Role rules, enforced here for every service call rather than in resolvers, so that any new
//! entry point (GraphQL, CLI, a future REST route) gets the same answers.

use super::{Caller, Role};
use crate::error::{Error, Result};
use uuid::Uuid;

/// Every role reads; AGENTs only see what they own (see [`owner_scope`]).
#[must_use]
pub fn owner_scope(caller: &Caller) -> Option<Uuid> {
    (caller.role == Role::Agent).then_some(caller.user_id)
}

/// May the caller see a customer owned by `owner`?
#[must_use]
pub fn can_read_owned(caller: &Caller, owner: Option<Uuid>) -> bool {
    match owner_scope(caller) {
        Some(me) => owner == Some(me),
        None => true,
    }
}

/// May the caller create or change records at all?
///
/// # Errors
/// `FORBIDDEN` for VIEWERs.
pub fn ensure_can_write(caller: &Caller) -> Result<()> {
    if caller.role == Role::Viewer {
        return Err(Error::Forbidden("VIEWER is a read-only role".into()));
    }
    Ok(())
}

/// May the caller change or delete a customer owned by `owner`? A customer the caller may not
/// see reads exactly like one that does not exist: `not_found` is the error either way, so a
/// write cannot serve as an oracle for other agents' customers.
///
/// # Errors
/// `not_found()` when the caller may not see the customer; `FORBIDDEN` for VIEWERs (who see
/// everything, so the answer tells them nothing new).
pub fn ensure_can_write_owned(caller: &Caller, owner: Option<Uuid>, not_found: impl FnOnce() -> Error) -> Result<()> {
    if !can_read_owned(caller, owner) {
        return Err(not_found());
    }
    ensure_can_write(caller)
}

/// May the caller give a customer to `new_owner`? AGENTs keep what they own.
///
/// # Errors
/// `FORBIDDEN` when an AGENT names another owner (or none).
pub fn ensure_can_assign(caller: &Caller, new_owner: Option<Uuid>) -> Result<()> {
    if caller.role == Role::Agent && new_owner != Some(caller.user_id) {
        return Err(Error::Forbidden("an AGENT may only own customers itself; ask a MANAGER to reassign".into()));
    }
    Ok(())
}

/// Like [`ensure_can_assign`], for callers whose role limits ownership (AGENTs); others may
/// give a customer to anyone in the tenant.
///
/// # Errors
/// `FORBIDDEN` when an AGENT names another owner (or none).
pub fn ensure_can_assign_if_scoped(caller: &Caller, new_owner: Option<Uuid>) -> Result<()> {
    if owner_scope(caller).is_some() { ensure_can_assign(caller, new_owner) } else { Ok(()) }
}

/// The audit trail is for those who oversee the tenant.
///
/// # Errors
/// `FORBIDDEN` for AGENTs and VIEWERs.
pub fn ensure_can_read_audit(caller: &Caller) -> Result<()> {
    match caller.role {
        Role::Admin | Role::Manager => Ok(()),
        Role::Agent | Role::Viewer => Err(Error::Forbidden("the audit log is for ADMIN and MANAGER".into())),
    }
}
