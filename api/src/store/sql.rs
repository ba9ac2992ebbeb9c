//! The pieces of hand-written statements for both databases: one way to write a parameter
//! (`$n`, cast where PostgreSQL needs it, or `?`) and a lock that skips rows others hold.

use sea_orm::DatabaseBackend;

/// `$n` on PostgreSQL, `?` on SQLite.
pub(crate) fn param(backend: DatabaseBackend, n: usize) -> String {
    typed_param(backend, n, None)
}

/// As [`param`], cast to `ty` on PostgreSQL (`$n::ty`), which otherwise reads the parameters of
/// a VALUES list as text; SQLite has no such casts.
pub(crate) fn typed_param(backend: DatabaseBackend, n: usize, ty: Option<&str>) -> String {
    match (backend, ty) {
        (DatabaseBackend::Postgres, Some(ty)) => format!("${n}::{ty}"),
        (DatabaseBackend::Postgres, None) => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// ` FOR UPDATE SKIP LOCKED` on PostgreSQL, so that replicas claim disjoint rows without
/// waiting for each other; nothing on SQLite, whose one writer claims alone.
pub(crate) fn skip_locked(backend: DatabaseBackend) -> &'static str {
    if backend == DatabaseBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
}
