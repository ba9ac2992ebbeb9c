#!/usr/bin/env bash
# Rebuilds the default scorers the server embeds (every new tenant gets them) from this
# workspace. Run it after changing value-scorer or lifecycle-scorer and commit the result; the
# host tests check that these files behave exactly like a fresh build.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/guanxi-target}/wasm-dist"
cargo build --release --locked --target wasm32-wasip2 --target-dir "$target" -p value-scorer -p lifecycle-scorer
for name in value-scorer lifecycle-scorer; do
  cp "$target/wasm32-wasip2/release/${name//-/_}.wasm" "dist/$name.wasm"
done
ls -l dist/*.wasm
