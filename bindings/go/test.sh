#!/usr/bin/env bash
# Everything the Go package needs in CI, from a clean checkout, from any folder:
#   1. builds libdeckhouse_registry.a (cargo build --release -p deckhouse-registry-c);
#   2. gofmt check, go vet, go test -race (including the forced-GC handle test);
#   3. builds and runs the example program examples/go/render-import on a sample config.
# The library is found in $CARGO_TARGET_DIR/release (default: <repo>/target/release).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" == /* ]] || target="$root/$target" # cargo runs in $root below

echo "== build libdeckhouse_registry.a"
(cd "$root" && cargo build --release --locked -p deckhouse-registry-c)
export CGO_ENABLED=1
export CGO_LDFLAGS="-L$target/release${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
# Go's build and test caches do not see C libraries: a rebuilt libdeckhouse_registry.a would be
# linked into nothing new and a cached pass reused. A define naming the library's hash makes
# the cgo flags, hence the package's cache key, follow the library (an unused macro is inert).
library_id() { sha256sum "$1" | cut -c1-16; }
cgo_cflags_base="${CGO_CFLAGS:--O2 -g}"
export CGO_CFLAGS="$cgo_cflags_base -DDR_LIBRARY_ID=0x$(library_id "$target/release/libdeckhouse_registry.a")"

echo "== header: bindings/go/include is the C header"
if ! cmp "$root/bindings/c/include/deckhouse_registry.h" "$here/include/deckhouse_registry.h"; then
  echo "bindings/go/include/deckhouse_registry.h differs from bindings/c/include: copy it over" >&2
  exit 1
fi

cd "$here"
echo "== gofmt, go vet"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...

echo "== go test -race"
log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$log" "$work"' EXIT
status=0
go test -race -count=1 -v ./... >"$log" 2>&1 || status=$?
grep -E "^(--- |ok |FAIL|panic:|PASS$)|_test.go:" "$log" || true
if [[ $status -ne 0 ]]; then
  cat "$log"
  exit $status
fi
echo "go test: $(grep -c '^--- PASS' "$log") passed, $(grep -c '^--- FAIL' "$log") failed"

# A cached pass must not outlive the library it was linked with: a second run with the same
# library is cached, a run with another library is not. A private copy of the library (one
# harmless archive member added) comes first on the -L path, so the real one is never touched.
echo "== go test cache follows the library"
mkdir -p "$work/lib"
cp "$target/release/libdeckhouse_registry.a" "$work/lib/"
echo "a changed library" >"$work/note.txt"
cached() {
  CGO_LDFLAGS="-L$work/lib $CGO_LDFLAGS" CGO_CFLAGS="$cgo_cflags_base -DDR_LIBRARY_ID=0x$(library_id "$work/lib/libdeckhouse_registry.a")" \
    go test -run '^TestVersion$' . >"$work/cache.log" 2>&1
  grep -q '(cached)' "$work/cache.log"
}
cached || true
cached || { cat "$work/cache.log"; echo "the same library should give a cached result" >&2; exit 1; }
ar q "$work/lib/libdeckhouse_registry.a" "$work/note.txt"
if cached; then
  echo "go test reused a result cached with another library" >&2
  exit 1
fi
grep -q '^ok' "$work/cache.log" || { cat "$work/cache.log"; exit 1; }
echo "cache: reused for the same library, not for a changed one"

# The package as a user outside this repository meets it: the module copied to a folder of its
# own, a program that requires it, the library in a folder named by CGO_LDFLAGS, and nothing
# else (README.md, "Using the module outside this repository").
echo "== the module outside the repository"
outside="$work/outside"
mkdir -p "$outside/registry" "$outside/app" "$outside/lib"
tar -C "$here" --exclude='*_test.go' -cf - . | tar -C "$outside/registry" -xf -
cp "$target/release/libdeckhouse_registry.a" "$outside/lib/"
cat >"$outside/app/go.mod" <<'MOD'
module example.com/app

go 1.26

require github.com/deckhouse/deckhouse-registry/bindings/go v0.0.0

replace github.com/deckhouse/deckhouse-registry/bindings/go => ../registry
MOD
cat >"$outside/app/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	registry "github.com/deckhouse/deckhouse-registry/bindings/go"
)

func main() {
	s, err := registry.LoadSettings([]byte("apiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata: {name: deckhouse}\nspec:\n  settings:\n    registry:\n      mode: Local\n"), registry.LoadOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(registry.Version(), s.Mode)
}
GO
(cd "$outside/app" && env -u CGO_CFLAGS CGO_LDFLAGS="-L$outside/lib" GOFLAGS=-mod=mod go build -o "$outside/app-bin" .)
got="$("$outside/app-bin")"
want="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' "$root/Cargo.toml") Local"
[[ "$got" == "$want" ]] || { echo "outside program printed '$got', want '$want'" >&2; exit 1; }
echo "outside: built and ran ($got)"

echo "== example: examples/go/render-import"
(cd "$root/examples/go/render-import" && test -z "$(gofmt -l .)" && go vet ./... && go build -o "$work/go-render-import" .)
"$work/go-render-import" -desired "$root/examples/configs/direct.yaml" -containerd v2 \
  -out "$work/node" -store "$work/store"
test -f "$work/node/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml"
echo "Go: vet, race tests and example passed"
