#!/usr/bin/env bash
# The main job: registryctl on the bundled example configs. Each command's exit code is checked
# against the contract (0 valid/allowed, 1 invalid/refused, 2 unusable input).
set -uo pipefail
cd "$(dirname "$0")/.."

# Cargo's own progress (a bar on a terminal, one line per crate otherwise): the first build
# compiles about 150 crates, a few minutes on two cores.
echo "== building registryctl and registryd (release)"
cargo build --locked --release -p registryctl -p registryd || exit 1
target_dir=$(cargo metadata --locked --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ctl="$target_dir/release/registryctl"
cfg=examples/configs
failures=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
last="$out/last-stdout"

# Runs registryctl, shows its output, keeps its stdout in $last, and checks its exit code.
step() {
  local expected=$1
  shift
  printf '\n$ registryctl %s\n' "$*"
  "$ctl" "$@" | tee "$last"
  local code=${PIPESTATUS[0]}
  if [[ $code -ne $expected ]]; then
    printf '!! exit %d, expected %d\n' "$code" "$expected"
    failures=$((failures + 1))
  fi
}

for f in direct proxy local unmanaged unmanaged-legacy bootstrap-legacy; do
  step 0 load-settings "$cfg/$f.yaml"
done
step 1 load-settings "$cfg/invalid.yaml"
step 1 load-settings --bootstrap "$cfg/proxy.yaml"
step 0 load-settings --format json "$cfg/direct.yaml"

step 0 plan --current "$cfg/bootstrap-legacy.yaml" --desired "$cfg/direct.yaml" --cluster "$cfg/cluster.yaml"
step 0 plan --current "$cfg/direct.yaml" --desired "$cfg/proxy.yaml" --cluster "$cfg/cluster.yaml"
step 1 plan --current "$cfg/local.yaml" --desired "$cfg/proxy.yaml" --cluster "$cfg/cluster.yaml"
step 1 plan --current "$cfg/direct.yaml" --desired "$cfg/local.yaml" --cluster "$cfg/cluster-cloud.yaml"
step 1 plan --current "$cfg/proxy.yaml" --desired "$cfg/unmanaged-legacy.yaml" --format json

step 0 render --desired "$cfg/proxy.yaml" --previous "$cfg/direct.yaml" --cluster "$cfg/cluster.yaml" --out "$out/node"
printf '\n--- %s\n' "$out/node/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml (credentials shown as base64 here only)"
sed 's/auth = ".*"/auth = "<base64 user:password>"/' "$out/node/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml"
step 0 render --desired "$cfg/proxy.yaml" --cluster "$cfg/cluster.yaml" --containerd v2 --out "$out/node" --format json
step 0 render --desired "$cfg/bootstrap-legacy.yaml" --containerd v1 --out "$out/legacy"
step 1 render --desired "$cfg/direct.yaml" --dialect upstream --out "$out/stock"

# The orchestrator: a whole switch against a simulated cluster (three masters, one lagging
# node), and a refused one with its legal route.
step 0 simulate --from "$cfg/direct.yaml" --to "$cfg/proxy.yaml" --cluster "$cfg/cluster.yaml"
step 1 simulate --from "$cfg/local.yaml" --to "$cfg/proxy.yaml" --cluster "$cfg/cluster.yaml"

# The blob store: content goes in by digest, comes out verified, and a tampered blob is caught.
printf 'layer bytes\n' > "$out/blob"
step 0 store --root "$out/store" put "$out/blob"
digest=$(cat "$last")
step 0 store --root "$out/store" stat "$digest"
step 1 store --root "$out/store" put --digest "sha256:$(printf '0%.0s' {1..64})" "$out/blob"
step 0 store --root "$out/store" verify
step 0 store --root "$out/store" gc --dry-run --grace 0

# registryd: the Local registry over a store. Push an image with plain HTTP requests (the OCI
# distribution API), pull it back by tag, and check what came back by its digest.
regd="$target_dir/release/registryd"
"$regd" --root "$out/registry" --listen 127.0.0.1:0 2>"$out/registryd.log" &
regd_pid=$!
trap 'kill "$regd_pid" 2>/dev/null; rm -rf "$out"' EXIT
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's|.* on http://\([0-9.:]*\) serving .*|\1|p' "$out/registryd.log")
  [[ -n $addr ]] && break
  sleep 0.1
done
demo_pull() {
  [[ -n $addr ]] || { echo "registryd did not start:"; cat "$out/registryd.log"; return 1; }
  local base="http://$addr/v2/system/deckhouse/demo"
  printf '{"architecture":"amd64","os":"linux"}' >"$out/config"
  local cfg
  cfg=sha256:$(sha256sum "$out/config" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}' \
    "$cfg" "$(stat -c %s "$out/config")" >"$out/manifest"
  printf '\n$ registryd --root %s --listen %s   (pushing demo:v1, then pulling it)\n' "$out/registry" "$addr"
  curl -sf -X POST --data-binary @"$out/config" "$base/blobs/uploads/?digest=$cfg" || return 1
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$out/manifest" "$base/manifests/v1" || return 1
  echo "tags: $(curl -sf "$base/tags/list")"
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -o "$out/pulled" "$base/manifests/v1" || return 1
  curl -sf -o "$out/pulled-config" "$base/blobs/$cfg" || return 1
  cmp -s "$out/pulled" "$out/manifest" && [[ sha256:$(sha256sum "$out/pulled-config" | cut -d' ' -f1) == "$cfg" ]] || {
    echo "pulled content differs from what was pushed"; return 1; }
  echo "pulled demo:v1: manifest sha256:$(sha256sum "$out/pulled" | cut -d' ' -f1), config $cfg (verified)"
}
if ! demo_pull; then failures=$((failures + 1)); fi
step 0 store --root "$out/registry" ls --tags
kill -TERM "$regd_pid" && wait "$regd_pid"

if ((failures)); then
  printf '\n%d command(s) did not exit as expected\n' "$failures"
  exit 1
fi
printf '\nall example commands exited as expected\n'
