#!/usr/bin/env bash
# Builds examples/hello with `cargo component build` (instead of `tessera build`), packages it
# with `tessera package`, runs it in the sandbox and compares the output with the expected file.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-component >/dev/null 2>&1; then
    echo "installing cargo-component (a few minutes, once)"
    cargo install cargo-component --locked --quiet
fi
rustup target add wasm32-wasip1 >/dev/null 2>&1 || true

target=target/cargo-component
cargo component build --release -p hello --target-dir "$target"
component=$(ls "$target"/wasm32-wasip1/release/hello.wasm)
cargo run --quiet -p tessera-cli -- package "$component" --manifest examples/hello/product.toml -o "$target/hello.tessera.wasm"
out=$(mktemp -d)
cargo run --quiet -p tessera-cli -- run "$target/hello.tessera.wasm" --input people=examples/hello/data/people.csv --out "$out"
diff -u examples/hello/data/expected-greetings.csv "$out/greetings.csv"
echo "cargo component build: ok"
