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

echo "== example: examples/go/render-import"
(cd "$root/examples/go/render-import" && test -z "$(gofmt -l .)" && go vet ./... && go build -o "$work/go-render-import" .)
"$work/go-render-import" -desired "$root/examples/configs/direct.yaml" -containerd v2 \
  -out "$work/node" -store "$work/store"
test -f "$work/node/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml"
echo "Go: vet, race tests and example passed"
