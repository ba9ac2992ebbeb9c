//! The wasm components Guanxi's tests and benches run: the example plugins of `plugins/examples`
//! (`card_validator`, `value_scorer`, …) and the test guests of `plugins/host/tests/guests`
//! (`fs_reader`, `hostile`), built for wasm32-wasip2 by this crate's build script.

use std::path::Path;

/// The folder holding the built components, one `<name>.wasm` each (a crate's name with `_` for
/// `-`).
#[must_use]
pub fn components() -> &'static Path {
    Path::new(env!("GUANXI_TEST_COMPONENTS"))
}
