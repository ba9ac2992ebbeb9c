//! Write [Guanxi](https://github.com/) plugins in Rust.
//!
//! A plugin is a WebAssembly component of the `guanxi:plugin@0.1.0` contract
//! (`plugins/wit/guanxi-plugin.wit`): a **scorer** gives every customer of a batch named scores
//! (numbers or labels), a **validator** checks one field's value as it is written. Implement
//! [`Scorer`] or [`Validator`] (or both) and export the type with [`export_scorer!`],
//! [`export_validator!`] or [`export_scorer_and_validator!`]:
//!
//! ```
//! use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, number, number_key};
//!
//! struct Buyers;
//!
//! impl Scorer for Buyers {
//!     fn keys() -> Vec<ScoreKey> {
//!         vec![number_key("purchases", "purchases in the last year")]
//!     }
//!
//!     fn score(batch: Vec<CustomerSnapshot>, _config: String) -> Result<Vec<CustomerScores>, String> {
//!         #[allow(clippy::cast_precision_loss)]
//!         let scored = batch.iter().map(|c| CustomerScores {
//!             customer_id: c.customer_id.clone(),
//!             scores: vec![number("purchases", c.purchases_last365_days as f64, None)],
//!         });
//!         Ok(scored.collect())
//!     }
//! }
//!
//! guanxi_plugin_sdk::export_scorer!(Buyers);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (crate type `cdylib`), check it
//! with `guanxi plugin check`, and test it natively with [`testing`] or under the server's own
//! sandbox with `host` (feature `host`). `docs/plugins.md` walks through all of it.
//!
//! The sandbox gives a plugin no files, network or environment; its clock reads the snapshot's
//! `now` and its randomness is seeded, so the same input always gives the same output. Every
//! call starts from a fresh instance: nothing survives between calls.

#![allow(clippy::missing_errors_doc)] // the contract's errors are the plugin author's own messages

/// Bindings of the `scorer-plugin` world (and of the contract's types, which all worlds share).
#[doc(hidden)]
pub mod scorer_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "scorer-plugin",
        default_bindings_module: "guanxi_plugin_sdk::scorer_world",
        pub_export_macro: true,
        export_macro_name: "export_scorer_world",
        additional_derives: [PartialEq],
    });
}

/// Bindings of the `validator-plugin` world.
#[doc(hidden)]
pub mod validator_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "validator-plugin",
        with: { "guanxi:plugin/types@0.1.0": crate::scorer_world::guanxi::plugin::types },
        default_bindings_module: "guanxi_plugin_sdk::validator_world",
        pub_export_macro: true,
        export_macro_name: "export_validator_world",
    });
}

mod helpers;
pub mod testing;

#[cfg(all(feature = "host", not(target_arch = "wasm32")))]
pub mod host;

pub use helpers::{config, days_between, label, label_key, money, number, number_key, violation};
pub use scorer_world::guanxi::plugin::types::{
    CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue, ValidationRequest, Violation,
};

/// A scorer: declares its keys and scores batches of customers.
///
/// ```
/// use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, label, label_key};
///
/// struct Region;
///
/// impl Scorer for Region {
///     fn keys() -> Vec<ScoreKey> {
///         vec![label_key("home_region", "where the customer is")]
///     }
///
///     fn score(batch: Vec<CustomerSnapshot>, _config: String) -> Result<Vec<CustomerScores>, String> {
///         Ok(batch
///             .into_iter()
///             .map(|c| CustomerScores {
///                 scores: vec![label("home_region", c.region.as_deref().unwrap_or("unknown"), None)],
///                 customer_id: c.customer_id,
///             })
///             .collect())
///     }
/// }
/// # assert_eq!(Region::keys()[0].key, "home_region");
/// ```
pub trait Scorer {
    /// The keys every call of [`Scorer::score`] returns. Each becomes a read-only custom field
    /// of Customer: `[a-z][a-z0-9_]*`, numbers as DECIMAL, labels as STRING.
    fn keys() -> Vec<ScoreKey>;

    /// Scores for every customer of `batch`, once each, using only declared keys.
    /// `config` is the tenant's configuration of the plugin as JSON (`null` if unset); read it
    /// with [`config`]. An `Err` fails the whole batch with your message (`GUEST_ERROR`).
    fn score(batch: Vec<CustomerSnapshot>, config: String) -> Result<Vec<CustomerScores>, String>;
}

/// A validator: checks one field's value of a record being written.
///
/// ```
/// use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation, violation};
///
/// struct NotBlank;
///
/// impl Validator for NotBlank {
///     fn validate(request: ValidationRequest) -> Result<Vec<Violation>, String> {
///         let value: serde_json::Value = serde_json::from_str(&request.value_json).map_err(|e| e.to_string())?;
///         Ok(match value.as_str() {
///             Some(s) if s.trim().is_empty() => vec![violation(&request.field, "BLANK", "must not be blank")],
///             _ => vec![],
///         })
///     }
/// }
/// # let request = ValidationRequest {
/// #     entity: "CUSTOMER".into(), field: "note".into(), value_json: "\"  \"".into(),
/// #     record_json: "{}".into(), config_json: "null".into(),
/// # };
/// # assert_eq!(NotBlank::validate(request).unwrap()[0].code, "BLANK");
/// ```
pub trait Validator {
    /// The problems with `request.value_json` (an empty list accepts it). Each violation is
    /// shown to the user as `BAD_USER_INPUT`, naming your plugin; an `Err` refuses the write
    /// with `PLUGIN_ERROR`.
    fn validate(request: ValidationRequest) -> Result<Vec<Violation>, String>;
}

/// Exports a [`Scorer`] as the component's `guanxi:plugin/scorer`. Use once, in a `cdylib`.
///
/// ```
/// # use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer};
/// struct Nothing;
/// impl Scorer for Nothing {
///     fn keys() -> Vec<ScoreKey> { vec![] }
///     fn score(batch: Vec<CustomerSnapshot>, _: String) -> Result<Vec<CustomerScores>, String> {
///         Ok(batch.into_iter().map(|c| CustomerScores { customer_id: c.customer_id, scores: vec![] }).collect())
///     }
/// }
/// guanxi_plugin_sdk::export_scorer!(Nothing);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_scorer {
    ($ty:ident) => {
        const _: () = {
            impl $crate::scorer_world::exports::guanxi::plugin::scorer::Guest for $ty {
                fn keys() -> ::std::vec::Vec<$crate::ScoreKey> {
                    <$ty as $crate::Scorer>::keys()
                }
                fn score(
                    batch: ::std::vec::Vec<$crate::CustomerSnapshot>,
                    config_json: ::std::string::String,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::CustomerScores>, ::std::string::String> {
                    <$ty as $crate::Scorer>::score(batch, config_json)
                }
            }
            // Natively (tests) there is no component to export, and the linker would refuse
            // the contract's symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::scorer_world::export_scorer_world!($ty);
        };
    };
}

/// Exports a [`Validator`] as the component's `guanxi:plugin/validator`. Use once, in a `cdylib`.
///
/// ```
/// # use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation};
/// struct AcceptAll;
/// impl Validator for AcceptAll {
///     fn validate(_: ValidationRequest) -> Result<Vec<Violation>, String> { Ok(vec![]) }
/// }
/// guanxi_plugin_sdk::export_validator!(AcceptAll);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_validator {
    ($ty:ident) => {
        const _: () = {
            impl $crate::validator_world::exports::guanxi::plugin::validator::Guest for $ty {
                fn validate(
                    request: $crate::ValidationRequest,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::Violation>, ::std::string::String> {
                    <$ty as $crate::Validator>::validate(request)
                }
            }
            // Natively (tests) there is no component to export, and the linker would refuse
            // the contract's symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::validator_world::export_validator_world!($ty);
        };
    };
}

/// Exports a type that is both a [`Scorer`] and a [`Validator`]. Use once, in a `cdylib`.
///
/// ```
/// # use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, ValidationRequest, Validator, Violation};
/// struct Both;
/// impl Scorer for Both {
///     fn keys() -> Vec<ScoreKey> { vec![] }
///     fn score(batch: Vec<CustomerSnapshot>, _: String) -> Result<Vec<CustomerScores>, String> {
///         Ok(batch.into_iter().map(|c| CustomerScores { customer_id: c.customer_id, scores: vec![] }).collect())
///     }
/// }
/// impl Validator for Both {
///     fn validate(_: ValidationRequest) -> Result<Vec<Violation>, String> { Ok(vec![]) }
/// }
/// guanxi_plugin_sdk::export_scorer_and_validator!(Both);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_scorer_and_validator {
    ($ty:ident) => {
        // Both worlds' exports in one component: the component's type is their union.
        $crate::export_scorer!($ty);
        $crate::export_validator!($ty);
    };
}
