#!/usr/bin/env bash
# registryd proven by software this project did not write:
#   1. the OCI distribution-spec conformance suite over plain HTTP, open access;
#   2. the same suite over TLS (a CA and a certificate for 127.0.0.1 made here with openssl) with
#      htpasswd users (`htpasswd -B`, Debian apache2-utils): a writer passes, and a read-only
#      user and anonymous clients are refused where they must be;
#   3. real clients when they are installed or installable: skopeo (push and pull), crane.
# Tools are built once and cached under target/registryd-tools (cold: ~2.5 min for the suite's
# Go build and module download; warm: seconds). Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CARGO=${CARGO:-cargo}
# distribution-spec main as of 2026-08-31 (the conformance module has no tagged releases of its
# own; this is the Go module proxy's @latest, pinned).
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
ORAS_VERSION=v1.3.6

log() { printf '== %s\n' "$*" >&2; }
# shellcheck source=examples/registryd/tools.sh
source "$REPO/examples/registryd/tools.sh"

need_apt() { # need_apt COMMAND PACKAGE: install PACKAGE from Debian if COMMAND is missing
  command -v "$1" >/dev/null && return 0
  if [[ -z ${APT_UPDATED:-} ]]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing $2 for $1"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

build_conformance() {
  local dir=$TOOLS/conformance-$CONFORMANCE_VERSION
  if [[ ! -x $dir/conformance.test ]]; then
    log "building the OCI conformance suite $CONFORMANCE_VERSION"
    mkdir -p "$dir"
    (cd "$dir" && rm -f go.mod go.sum && go mod init registryd-conformance >/dev/null 2>&1 &&
      go get -t "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION" >/dev/null 2>&1 &&
      go test -c -o conformance.test.tmp github.com/opencontainers/distribution-spec/conformance &&
      mv conformance.test.tmp conformance.test)
  fi
  CONFORMANCE=$dir/conformance.test
}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_registryd NAME ARGS…: starts registryd on a free port of 127.0.0.1; sets ADDR.
start_registryd() {
  local name=$1; shift
  "$BIN" --listen 127.0.0.1:0 "$@" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for _ in $(seq 100); do
    ADDR=$(sed -n 's|.* on https\{0,1\}://\([0-9.:]*\) serving .*|\1|p' "$WORK/$name.log" | head -n1)
    [[ -n $ADDR ]] && return 0
    sleep 0.1
  done
  cat "$WORK/$name.log" >&2
  echo "registryd $name did not start" >&2
  return 1
}

# conformance NAME REGISTRY TLS [USER PASSWORD]: runs the whole suite; prints a summary line.
conformance() {
  local name=$1 registry=$2 tls=$3 user=${4:-} pass=${5:-}
  local out=$WORK/conformance-$name
  mkdir -p "$out"
  log "conformance suite ($name)"
  local rc=0
  (cd "$out" && env -i PATH="$PATH" HOME="$HOME" SSL_CERT_FILE="${SSL_CERT_FILE:-}" \
    OCI_REGISTRY="$registry" OCI_TLS="$tls" \
    OCI_REPO1=system/deckhouse/conformance/repo1 OCI_REPO2=system/deckhouse/conformance/repo2 \
    OCI_USERNAME="$user" OCI_PASSWORD="$pass" OCI_VERSION=1.1 OCI_RESULTS_DIR="$out/results" \
    OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
    OCI_API_TAGS_DELETE=true OCI_API_MANIFESTS_DELETE=true OCI_API_BLOBS_DELETE=true \
    OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_BLOBS_DIGEST_HEADER=true OCI_API_MANIFESTS_DIGEST_HEADER=true \
    "$CONFORMANCE" -test.timeout 20m >"$out/report.txt" 2>&1) || rc=$?
  if [[ $rc -ne 0 ]]; then
    cat "$out/report.txt" >&2
    echo "conformance ($name) failed, registryd log: $WORK/$name.log" >&2
    tail -n 50 "$WORK/$name.log" >&2
    return 1
  fi
  # The suite's own summary: totals, then each API and data category with its status.
  local totals categories
  totals=$(sed -n '/^OCI Conformance Result/,/^  Total/p' "$out/report.txt" | tr -s ' .' ' ' | paste -sd' ')
  categories=$(sed -n '/^API conformance:/,/^$/p;/^Data conformance:/,/^$/p' "$out/report.txt" |
    grep -c ': *Pass$' || true)
  echo "conformance $name: $totals; $categories API/data categories Pass" >&2
}

log "building registryd"
$CARGO build --locked -q -p registryd
BIN=$REPO/target/debug/registryd
build_conformance
need_apt htpasswd apache2-utils
need_apt openssl openssl

# 1. plain HTTP, open access.
start_registryd plain --root "$WORK/store-plain"
conformance plain "$ADDR" disabled

# 2. TLS + htpasswd: a CA, a server certificate for 127.0.0.1, a writer and a reader.
PKI=$WORK/pki
mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=registryd-test-ca \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$PKI/server.key" -out "$PKI/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$PKI/ext"
openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
  -extfile "$PKI/ext" -out "$PKI/server.crt" 2>/dev/null
htpasswd -B -b -c "$WORK/htpasswd" pusher 'push-secret' 2>/dev/null
htpasswd -B -b "$WORK/htpasswd" puller 'pull-secret' 2>/dev/null
htpasswd -B -b "$WORK/htpasswd" limited 'limited-secret' 2>/dev/null
start_registryd secure --root "$WORK/store-secure" --tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key" \
  --htpasswd "$WORK/htpasswd" --writers pusher
SECURE=$ADDR
SECURE_PID=${PIDS[-1]}
export SSL_CERT_FILE=$PKI/ca.crt
conformance secure "$SECURE" enabled pusher push-secret

# The same server refuses what it must, with the spec's codes (curl verifies against the test CA).
check() { # check WANT_STATUS CURL_ARGS…
  local want=$1; shift
  local got
  got=$(curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$PKI/ca.crt" "$@")
  if [[ $got != "$want" ]]; then
    echo "curl $*: status $got, want $want: $(cat "$WORK/body")" >&2
    return 1
  fi
}
log "auth checks"
check 401 "https://$SECURE/v2/"
grep -q UNAUTHORIZED "$WORK/body"
curl -s -D "$WORK/headers" -o /dev/null --cacert "$PKI/ca.crt" "https://$SECURE/v2/"
grep -qi '^www-authenticate: Basic realm=' "$WORK/headers"
check 200 -u puller:pull-secret "https://$SECURE/v2/"
check 401 -u puller:wrong "https://$SECURE/v2/"
check 403 -u puller:pull-secret -X POST "https://$SECURE/v2/system/deckhouse/x/blobs/uploads/"
grep -q DENIED "$WORK/body"
check 202 -u pusher:push-secret -X POST "https://$SECURE/v2/system/deckhouse/x/blobs/uploads/"
# Five bad passwords (auth.rs MAX_FAILURES) for one user from one address, then even the right
# one waits (429); other users are not affected.
for _ in 1 2 3 4 5; do check 401 -u limited:bad "https://$SECURE/v2/"; done
check 429 -u limited:limited-secret "https://$SECURE/v2/"
grep -q TOOMANYREQUESTS "$WORK/body"
check 200 -u puller:pull-secret "https://$SECURE/v2/"
# 3. Real clients against the TLS + htpasswd server, as the writer.
log "real clients: crane, skopeo, oras"
CRANE=$(go_tool crane "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")
ORAS=$(go_tool oras "oras.land/oras/cmd/oras@$ORAS_VERSION")
need_apt skopeo skopeo
export DOCKER_CONFIG=$WORK/docker
"$CRANE" auth login "$SECURE" -u pusher -p push-secret >/dev/null 2>&1
NS=$SECURE/system/deckhouse
# crane (go-containerregistry, what d8 mirror push uses) builds and pushes an image…
mkdir -p "$WORK/layer/etc" && echo "hello from registryd" >"$WORK/layer/etc/motd"
tar -C "$WORK/layer" -cf "$WORK/layer.tar" etc
"$CRANE" append -f "$WORK/layer.tar" -t "$NS/install:v1" >/dev/null 2>&1
WANT=$("$CRANE" digest "$NS/install:v1")
# …copies it to another repository (a cross-repository mount) and lists what is there.
"$CRANE" copy "$NS/install:v1" "$NS/modules/console:v1" >/dev/null 2>&1
[[ $("$CRANE" digest "$NS/modules/console:v1") == "$WANT" ]]
grep -qx v1 <<<"$("$CRANE" ls "$NS/install")"
grep -qx system/deckhouse/modules/console <<<"$("$CRANE" catalog "$SECURE")"
# skopeo pulls it into an OCI layout and pushes it back under a new name, with the test CA.
CERTS=$WORK/certs && mkdir -p "$CERTS" && cp "$PKI/ca.crt" "$CERTS/"
skopeo copy -q --src-cert-dir "$CERTS" --src-creds puller:pull-secret \
  "docker://$NS/install:v1" "oci:$WORK/pulled:v1"
skopeo copy -q --dest-cert-dir "$CERTS" --dest-creds pusher:push-secret \
  "oci:$WORK/pulled:v1" "docker://$NS/skopeo:v1"
[[ $("$CRANE" export "$NS/skopeo:v1" - | tar -xOf - etc/motd) == "hello from registryd" ]]
# The store root is an OCI layout where the image is named repository:tag (skopeo reads it; its
# oci: transport only sees OCI-typed manifests, which is what skopeo pushed from an OCI layout).
[[ $(skopeo inspect --format '{{.Digest}}' "oci:$WORK/store-secure:skopeo:v1") == \
  $("$CRANE" digest "$NS/skopeo:v1") ]]
# oras pushes an artifact, attaches a signature-like referrer and finds it by artifact type.
echo "artifact" >"$WORK/artifact.txt" && echo "signature" >"$WORK/sig.txt"
ORAS_OPTS=(--ca-file "$PKI/ca.crt")
"$ORAS" login "${ORAS_OPTS[@]}" -u pusher --password-stdin "$SECURE" <<<push-secret >/dev/null
(cd "$WORK" && "$ORAS" push "${ORAS_OPTS[@]}" --artifact-type application/vnd.test.artifact \
  "$NS/artifacts:v1" artifact.txt >/dev/null)
(cd "$WORK" && "$ORAS" attach "${ORAS_OPTS[@]}" --artifact-type application/vnd.test.signature \
  "$NS/artifacts:v1" sig.txt >/dev/null)
# one_signature ORAS-DISCOVER-ARGS…: oras finds exactly one referrer, of the signature type.
one_signature() {
  "$ORAS" discover --format json --artifact-type application/vnd.test.signature "$@" >"$WORK/referrers.json"
  python3 - "$WORK/referrers.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
refs = doc.get("referrers", doc.get("manifests", []))
assert len(refs) == 1 and refs[0]["artifactType"] == "application/vnd.test.signature", doc
EOF
}
one_signature "${ORAS_OPTS[@]}" "$NS/artifacts:v1"
(cd "$WORK" && mkdir -p got && cd got && "$ORAS" pull "${ORAS_OPTS[@]}" "$NS/artifacts:v1" >/dev/null &&
  grep -qx artifact artifact.txt)
# oras writes an OCI layout of the artifact with its referrer (-r); the store imports it, and
# oras reads the store back: the same manifest digest, and the referrer found by its type.
"$ORAS" copy --from-ca-file "$PKI/ca.crt" -r "$NS/artifacts:v1" --to-oci-layout "$WORK/oras-layout:v1" >/dev/null
$CARGO run --locked -q -p registryctl -- store --root "$WORK/store-oras" import "$WORK/oras-layout" >/dev/null
ARTIFACT=$("$ORAS" manifest fetch "${ORAS_OPTS[@]}" --descriptor "$NS/artifacts:v1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
[[ $("$ORAS" manifest fetch --oci-layout --descriptor "$WORK/store-oras:v1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])') == "$ARTIFACT" ]]
one_signature --oci-layout "$WORK/store-oras:v1"
$CARGO run --locked -q -p registryctl -- store scrub --root "$WORK/store-oras" >/dev/null
# Everything those clients wrote is verified content: the store's scrub is clean.
$CARGO run --locked -q -p registryctl -- store scrub --root "$WORK/store-secure" >/dev/null

# 4. Several masters: `registryd sync` copies everything once; `--peer` keeps a master filled.
log "sync and peers"
printf 'pull-secret\n' >"$WORK/upstream-password"
"$BIN" sync --root "$WORK/store-copy" --from "https://$SECURE" --ca "$PKI/ca.crt" \
  --user puller --password-file "$WORK/upstream-password" >"$WORK/sync.out"
grep -q '^synced from ' "$WORK/sync.out"
[[ $(skopeo inspect --format '{{.Digest}}' "oci:$WORK/store-copy:skopeo:v1") == \
  $("$CRANE" digest "$NS/skopeo:v1") ]]
$CARGO run --locked -q -p registryctl -- store scrub --root "$WORK/store-copy" >/dev/null
start_registryd peer --root "$WORK/store-peer" --peer "https://$SECURE" --peer-ca "$PKI/ca.crt" \
  --peer-user puller --peer-password-file "$WORK/upstream-password"
PEER=$ADDR
for _ in $(seq 100); do grep -q "peer https://$SECURE/system/deckhouse: " "$WORK/peer.log" && break; sleep 0.1; done
[[ $("$CRANE" digest --insecure "$PEER/system/deckhouse/install:v1") == "$WANT" ]]
"$CRANE" export --insecure "$PEER/system/deckhouse/modules/console:v1" - | tar -xOf - etc/motd |
  grep -qx "hello from registryd"

# 5. Proxy mode: a second registryd caches the secure one (Basic auth upstream, its CA, the
#    read-only user's password from a file), and keeps serving cached tags when it is gone.
log "proxy mode"
start_registryd proxy --root "$WORK/store-proxy" --upstream "https://$SECURE/system/deckhouse" \
  --upstream-ca "$PKI/ca.crt" --upstream-user puller --upstream-password-file "$WORK/upstream-password" --ttl 72h
PROXY=$ADDR
PROXY_NS=$PROXY/system/deckhouse
[[ $("$CRANE" digest --insecure "$PROXY_NS/install:v1") == "$WANT" ]]
[[ $("$CRANE" export --insecure "$PROXY_NS/install:v1" - | tar -xOf - etc/motd) == "hello from registryd" ]]
# Concurrent misses for one blob: one upstream fetch, every client gets the verified blob.
head -c 8388608 /dev/urandom >"$WORK/big.bin"
BIG=sha256:$(sha256sum "$WORK/big.bin" | cut -d' ' -f1)
check 201 -u pusher:push-secret -X POST --data-binary "@$WORK/big.bin" \
  "https://$SECURE/v2/system/deckhouse/big/blobs/uploads/?digest=$BIG"
for i in 1 2 3 4; do
  curl -s -o "$WORK/big.$i" "http://$PROXY/v2/system/deckhouse/big/blobs/$BIG" &
done
wait_jobs() { local j; for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_jobs
for i in 1 2 3 4; do cmp -s "$WORK/big.bin" "$WORK/big.$i"; done
[[ $(grep -c "GET /v2/system/deckhouse/big/blobs/$BIG 200" "$WORK/secure.log") == 1 ]]
# Writes are refused: this is a cache.
check 405 -X POST "http://$PROXY/v2/system/deckhouse/x/blobs/uploads/"
grep -q UNSUPPORTED "$WORK/body"
# The upstream goes away: the cached tag and by-digest content are still served.
kill "$SECURE_PID"
[[ $("$CRANE" digest --insecure "$PROXY_NS/install:v1") == "$WANT" ]]
[[ $("$CRANE" export --insecure "$PROXY_NS/install@$WANT" - | tar -xOf - etc/motd) == "hello from registryd" ]]
if grep -qi 'pull-secret' "$WORK/proxy.log"; then
  echo "the upstream password reached the proxy's log" >&2
  exit 1
fi
$CARGO run --locked -q -p registryctl -- store scrub --root "$WORK/store-proxy" >/dev/null

# Operations endpoints: health, readiness and Prometheus metrics (open, like /healthz).
check 200 "http://$PROXY/healthz"
check 200 "http://$PROXY/readyz"
check 200 "http://$PROXY/metrics"
grep -q '^registryd_requests_total{method="GET",code="200"} [1-9]' "$WORK/body"
grep -q '^registryd_request_duration_seconds_count [1-9]' "$WORK/body"
# SIGTERM: a clean stop with exit code 0 and the stop logged.
PROXY_PID=${PIDS[-1]}
kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
grep -q 'registryd: stopped' "$WORK/proxy.log"
# No password and no Authorization header ever reached the request log.
if grep -qi 'secret\|authorization' "$WORK/secure.log"; then
  echo "a secret or an Authorization header reached the log" >&2
  exit 1
fi
log "registryd tests passed"
