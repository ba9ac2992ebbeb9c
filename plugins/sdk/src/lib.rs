//! Write [Guanxi](https://github.com/) plugins in Rust.
//!
//! A plugin is a WebAssembly component of the `guanxi:plugin@0.2.0` contract
//! (`plugins/wit/guanxi-plugin.wit`): a **scorer** gives every customer of a batch named scores
//! (numbers or labels), a **validator** checks one field's value as it is written. Implement
//! [`Scorer`] or [`Validator`] (or both) and export the type with [`export_scorer!`],
//! [`export_validator!`] or [`export_scorer_and_validator!`]. Each also exports the contract's
//! configuration check, which calls your `check_config` ([`Scorer::check_config`],
//! [`Validator::check_config`]; by default it accepts any configuration):
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
        with: { "guanxi:plugin/types@0.2.0": crate::scorer_world::guanxi::plugin::types },
        default_bindings_module: "guanxi_plugin_sdk::validator_world",
        pub_export_macro: true,
        export_macro_name: "export_validator_world",
    });
}

/// Bindings of the `config-checker` world: the configuration check every export macro adds.
#[doc(hidden)]
pub mod config_world {
    wit_bindgen::generate!({
        path: "../wit",
        world: "config-checker",
        default_bindings_module: "guanxi_plugin_sdk::config_world",
        pub_export_macro: true,
        export_macro_name: "export_config_world",
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

    /// Accepts or refuses a configuration when a tenant sets it (`installPlugin`,
    /// `configurePlugin`), before it is stored: `config_json` as [`Scorer::score`] would get it
    /// (`null` for none). An `Err` refuses it at once, with your message, as `BAD_USER_INPUT`
    /// (`INVALID_CONFIG` on `config`); the configuration the plugin had stays. The default
    /// accepts anything. Override it to catch a bad configuration when it is given rather than
    /// in every later scoring:
    ///
    /// ```
    /// use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, config};
    ///
    /// #[derive(serde::Deserialize, Default)]
    /// #[serde(deny_unknown_fields)]
    /// struct Settings { window_days: Option<u32> }
    ///
    /// struct Recent;
    ///
    /// impl Scorer for Recent {
    ///     fn keys() -> Vec<ScoreKey> { vec![] }
    ///     fn score(batch: Vec<CustomerSnapshot>, _: String) -> Result<Vec<CustomerScores>, String> {
    ///         Ok(batch.into_iter().map(|c| CustomerScores { customer_id: c.customer_id, scores: vec![] }).collect())
    ///     }
    ///     fn check_config(config_json: &str) -> Result<(), String> {
    ///         match config::<Settings>(config_json)?.window_days {
    ///             None | Some(30 | 90 | 365) => Ok(()),
    ///             Some(days) => Err(format!("window_days must be 30, 90 or 365, not {days}")),
    ///         }
    ///     }
    /// }
    /// assert!(<Recent as Scorer>::check_config(r#"{"window_days": 90}"#).is_ok());
    /// assert!(<Recent as Scorer>::check_config("null").is_ok());
    /// let refused = <Recent as Scorer>::check_config(r#"{"window_days": 45}"#).unwrap_err();
    /// assert_eq!(refused, "window_days must be 30, 90 or 365, not 45");
    /// assert!(<Recent as Scorer>::check_config(r#"{"window_days": "soon"}"#).is_err());
    /// ```
    fn check_config(config_json: &str) -> Result<(), String> {
        let _ = config_json;
        Ok(())
    }
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

    /// Accepts or refuses a configuration when a tenant sets it, as [`Scorer::check_config`]
    /// (`config_json` as `request.config_json` would carry it). The default accepts anything.
    /// A type that is both a scorer and a validator has its configuration checked by both.
    ///
    /// ```
    /// use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation, config};
    ///
    /// #[derive(serde::Deserialize, Default)]
    /// struct Programme { prefix: Option<String> }
    ///
    /// struct Card;
    ///
    /// impl Validator for Card {
    ///     fn validate(_: ValidationRequest) -> Result<Vec<Violation>, String> { Ok(vec![]) }
    ///     fn check_config(config_json: &str) -> Result<(), String> {
    ///         match config::<Programme>(config_json)?.prefix {
    ///             Some(p) if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) => {
    ///                 Err(format!("prefix must be digits, not '{p}'"))
    ///             }
    ///             _ => Ok(()),
    ///         }
    ///     }
    /// }
    /// assert!(<Card as Validator>::check_config(r#"{"prefix": "6222"}"#).is_ok());
    /// assert!(<Card as Validator>::check_config(r#"{"prefix": "62x"}"#).is_err());
    /// ```
    fn check_config(config_json: &str) -> Result<(), String> {
        let _ = config_json;
        Ok(())
    }
}

/// Exports a [`Scorer`] as the component's `guanxi:plugin/scorer`, with
/// [`Scorer::check_config`] as its `guanxi:plugin/config`. Use once, in a `cdylib`.
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
        $crate::__export_scorer_interface!($ty);
        $crate::__export_config_interface!($ty, <$ty as $crate::Scorer>::check_config);
    };
}

/// Exports a [`Validator`] as the component's `guanxi:plugin/validator`, with
/// [`Validator::check_config`] as its `guanxi:plugin/config`. Use once, in a `cdylib`.
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
        $crate::__export_validator_interface!($ty);
        $crate::__export_config_interface!($ty, <$ty as $crate::Validator>::check_config);
    };
}

/// Exports a type that is both a [`Scorer`] and a [`Validator`]; its configuration check runs
/// both traits' `check_config`. Use once, in a `cdylib`.
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
        // Each world's exports in one component: the component's type is their union, with
        // one configuration check.
        $crate::__export_scorer_interface!($ty);
        $crate::__export_validator_interface!($ty);
        $crate::__export_config_interface!($ty, |config_json: &str| {
            <$ty as $crate::Scorer>::check_config(config_json)
                .and_then(|()| <$ty as $crate::Validator>::check_config(config_json))
        });
    };
}

/// The scorer interface of [`export_scorer!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_scorer_interface {
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

/// The validator interface of [`export_validator!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_validator_interface {
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

/// The configuration check every export macro adds, calling `$check`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_config_interface {
    ($ty:ident, $check:expr) => {
        const _: () = {
            impl $crate::config_world::exports::guanxi::plugin::config::Guest for $ty {
                fn check_config(
                    config_json: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    let check: fn(&str) -> ::std::result::Result<(), ::std::string::String> = $check;
                    check(&config_json)
                }
            }
            // Natively (tests) there is no component to export, and the linker would refuse
            // the contract's symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::config_world::export_config_world!($ty);
        };
    };
}
