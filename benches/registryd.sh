#!/usr/bin/env bash
# registryd side by side with CNCF distribution 2.8 (Debian's docker-registry): one blob of
# SIZE_MIB (default 1024) pushed monolithically (POST, then PUT ?digest= with the whole body,
# streamed from the file)
# and pulled, over TLS with the same certificate, by the same client (curl), on loopback.
# Each figure is the wall time curl reports; RUNS (default 3) runs each, min and max shown,
# and the ratio of the medians. The blob is deleted through the API between push runs, so
# every push writes it anew. The servers take turns run by run, and each timed transfer starts
# after a `sync`, so dirty pages of an earlier run (either server's) are not written back during
# it. The Proxy figures compare with a direct pull made in the same run. Then LOAD_CLIENTS (default 64) concurrent clients do authenticated
# manifest HEAD and GET by tag for LOAD_SECONDS (default 10) each (benches/registryd-load, Go's
# net/http client with keep-alive): requests per second, p50 and p99 latency. Both servers use
# the same htpasswd file (bcrypt cost 5, as `htpasswd -B` writes). Both stores live under
# target/ (on disk, not tmpfs).
#   benches/registryd.sh            SIZE_MIB=256 RUNS=5 benches/registryd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
CARGO=${CARGO:-cargo}
LOAD_CLIENTS=${LOAD_CLIENTS:-64}
LOAD_SECONDS=${LOAD_SECONDS:-10}

command -v docker-registry >/dev/null || {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
}
command -v htpasswd >/dev/null || {
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2-utils >/dev/null
}
$CARGO build --release --locked -q -p registryd
LOAD=$PWD/target/registryd-tools/bin/registryd-load
(cd benches/registryd-load && go build -o "$LOAD" .)
BIN=$PWD/target/release/registryd

W=$PWD/target/registryd-bench
rm -rf "$W" && mkdir -p "$W"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$W/ca.key" -out "$W/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$W/tls.key" -out "$W/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$W/ext"
openssl x509 -req -in "$W/tls.csr" -CA "$W/ca.crt" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
  -extfile "$W/ext" -out "$W/tls.crt" 2>/dev/null

htpasswd -B -b -c "$W/htpasswd" bench bench-password 2>/dev/null
head -c $((SIZE_MIB << 20)) /dev/urandom >"$W/blob"
DIGEST=sha256:$(sha256sum "$W/blob" | cut -d' ' -f1)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIST=127.0.0.1:$(free_port)
cat >"$W/distribution.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $W/distribution}
  delete: {enabled: true}
http:
  addr: $DIST
  tls: {certificate: $W/tls.crt, key: $W/tls.key}
auth:
  htpasswd: {realm: bench, path: $W/htpasswd}
EOF
docker-registry serve "$W/distribution.yml" 2>"$W/distribution.log" &
PIDS+=($!)
RD=127.0.0.1:$(free_port)
"$BIN" --root "$W/registryd" --listen "$RD" --tls-cert "$W/tls.crt" --tls-key "$W/tls.key" \
  --htpasswd "$W/htpasswd" --namespace bench 2>"$W/registryd.log" &
PIDS+=($!)
# HTTP/1.1 for both (distribution would negotiate HTTP/2 with curl; registryd speaks 1.1).
C=(curl -sf --http1.1 -u bench:bench-password --cacert "$W/ca.crt")
wait_up() { for _ in $(seq 100); do "${C[@]}" "https://$1/v2/" >/dev/null 2>&1 && return; sleep 0.1; done; }
for a in "$DIST" "$RD"; do wait_up "$a"; done
push() { # push ADDR [FILE DIGEST]: seconds for the PUT that carries the whole blob
  local file=${2:-$W/blob} digest=${3:-$DIGEST} loc
  loc=$("${C[@]}" -X POST -D - -o /dev/null "https://$1/v2/bench/blob/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [[ $loc == /* ]] && loc=https://$1$loc
  [[ $loc == *\?* ]] && loc="$loc&digest=$digest" || loc="$loc?digest=$digest"
  sync # no writeback left over from the run before (either server's) is charged to this one
  "${C[@]}" -o /dev/null -w '%{time_total}\n' -X PUT -H 'Content-Type: application/octet-stream' \
    -T "$file" "$loc"
}
pull() { sync; "${C[@]}" -o /dev/null -w '%{time_total}\n' "https://$1/v2/bench/blob/blobs/$DIGEST"; }
drop() { "${C[@]}" -o /dev/null -X DELETE "https://$1/v2/bench/blob/blobs/$DIGEST"; }

declare -A T
# The two servers take turns, run by run, so that both meet the same phases of a shared machine
# (its disk and CPU speed drift over minutes) instead of one getting the first half.
T[distribution-push]="" T[distribution-pull]="" T[registryd-push]="" T[registryd-pull]=""
for i in $(seq "$RUNS"); do
  for name in distribution registryd; do
    addr=$DIST && [[ $name == registryd ]] && addr=$RD
    T[$name-push]+="$(push "$addr") "
    if [[ $i -lt $RUNS ]]; then drop "$addr"; fi
  done
done
for _ in $(seq "$RUNS"); do
  T[distribution-pull]+="$(pull "$DIST") "
  T[registryd-pull]+="$(pull "$RD") "
done

# A small image for the manifest load: an empty config and no layers.
printf '{}' >"$W/config"
CONFIG=sha256:$(sha256sum "$W/config" | cut -d' ' -f1)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' \
  "$CONFIG" >"$W/manifest"
MT=application/vnd.oci.image.manifest.v1+json
for addr in "$DIST" "$RD"; do
  push "$addr" "$W/config" "$CONFIG" >/dev/null
  "${C[@]}" -o /dev/null -X PUT -H "Content-Type: $MT" --data-binary "@$W/manifest" \
    "https://$addr/v2/bench/blob/manifests/v1"
done
LOADS=()
for method in HEAD GET; do
  for addr in "$DIST" "$RD"; do
    LOADS+=("$("$LOAD" -url "https://$addr/v2/bench/blob/manifests/v1" -method "$method" -ca "$W/ca.crt" \
      -user bench -password bench-password -clients "$LOAD_CLIENTS" -duration "${LOAD_SECONDS}s" -accept "$MT")")
  done
done

# Proxy: a registryd with --upstream pointing at the Local registryd above (TLS, Basic auth,
# the same CA). Cold: a fresh cache store each run, so the blob streams from the upstream while
# it is written; warm: the same blob again from the cache.
proxy_start() { # proxy_start ROOT: starts a proxy on a new port, prints its address
  local addr=127.0.0.1:$(free_port)
  printf 'bench-password' >"$W/upstream-password"
  "$BIN" --root "$1" --listen "$addr" --tls-cert "$W/tls.crt" --tls-key "$W/tls.key" \
    --htpasswd "$W/htpasswd" --namespace bench --upstream "https://$RD/bench" --upstream-ca "$W/ca.crt" \
    --upstream-user bench --upstream-password-file "$W/upstream-password" >/dev/null 2>>"$W/proxy.log" &
  echo "$! $addr"
}
T[proxy-cold]="" T[proxy-warm]="" T[proxy-direct]=""
for i in $(seq "$RUNS"); do
  read -r ppid paddr <<<"$(proxy_start "$W/proxy-$i")"
  PIDS+=("$ppid")
  wait_up "$paddr"
  # The direct pull it is compared with, in the same run.
  T[proxy-direct]+="$(pull "$RD") "
  T[proxy-cold]+="$(pull "$paddr") "
  T[proxy-warm]+="$(pull "$paddr") "
  kill "$ppid" && wait "$ppid" 2>/dev/null || true
  rm -rf "$W/proxy-$i"
done

# Resident memory: a new registryd on the Local store (so its peak counts only this), RSS_CLIENTS
# (default 64) concurrent pulls of the blob, then its peak resident set (VmHWM).
RSS_CLIENTS=${RSS_CLIENTS:-64}
RSS_ADDR=127.0.0.1:$(free_port)
"$BIN" --root "$W/registryd" --listen "$RSS_ADDR" --tls-cert "$W/tls.crt" --tls-key "$W/tls.key" \
  --htpasswd "$W/htpasswd" --namespace bench 2>"$W/rss.log" &
RSS_PID=$!
PIDS+=("$RSS_PID")
wait_up "$RSS_ADDR"
CLIENTS=()
for _ in $(seq "$RSS_CLIENTS"); do pull "$RSS_ADDR" >/dev/null & CLIENTS+=($!); done
RSS_OK=0
for c in "${CLIENTS[@]}"; do wait "$c" && RSS_OK=$((RSS_OK + 1)); done
RSS_KIB=$(awk '/^VmHWM:/ {print $2}' "/proc/$RSS_PID/status")

stats() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f", a[1], a[int((NR+1)/2)], a[NR]}'; }
echo "blob of $SIZE_MIB MiB over TLS on loopback, curl, $RUNS runs each (seconds: min–max, median)"
echo "| | distribution 2.8 | registryd | distribution / registryd (medians) |"
echo "|---|---|---|---|"
for op in push pull; do
  read -r dmin dmed dmax <<<"$(echo "${T[distribution-$op]}" | stats)"
  read -r rmin rmed rmax <<<"$(echo "${T[registryd-$op]}" | stats)"
  ratio=$(awk -v d="$dmed" -v r="$rmed" 'BEGIN {printf "%.2f", d / r}')
  echo "| $op | $dmin–$dmax ($dmed) | $rmin–$rmax ($rmed) | ${ratio}× |"
done
echo
echo "manifest by tag, $LOAD_CLIENTS clients with Basic auth, ${LOAD_SECONDS} s each"
echo "| | distribution 2.8: req/s, p50, p99 (ms) | registryd: req/s, p50, p99 (ms) | registryd / distribution (req/s) |"
echo "|---|---|---|---|"
i=0
for method in HEAD GET; do
  read -r drps dp50 dp99 dfail <<<"${LOADS[$i]}"
  read -r rrps rp50 rp99 rfail <<<"${LOADS[$((i + 1))]}"
  i=$((i + 2))
  ratio=$(awk -v d="$drps" -v r="$rrps" 'BEGIN {printf "%.2f", r / d}')
  echo "| $method | $drps, $dp50, $dp99 (failed: $dfail) | $rrps, $rp50, $rp99 (failed: $rfail) | ${ratio}× |"
done
echo
echo "Proxy cache in front of the registryd above (TLS, Basic auth both ways), blob of $SIZE_MIB MiB, $RUNS runs"
read -r cmin cmed cmax <<<"$(echo "${T[proxy-cold]}" | stats)"
read -r wmin wmed wmax <<<"$(echo "${T[proxy-warm]}" | stats)"
read -r _ lmed _ <<<"$(echo "${T[proxy-direct]}" | stats)"
echo "| | seconds: min–max (median) | ratio |"
echo "|---|---|---|"
echo "| cold pull through the proxy | $cmin–$cmax ($cmed) | $(awk -v d="$lmed" -v c="$cmed" 'BEGIN {printf "%.2f", d / c}')× of a direct pull from the upstream ($lmed) |"
echo "| warm pull from the cache | $wmin–$wmax ($wmed) | $(awk -v d="$lmed" -v c="$wmed" 'BEGIN {printf "%.2f", d / c}')× of a Local pull ($lmed) |"
echo
echo "resident memory: $RSS_CLIENTS concurrent pulls of the $SIZE_MIB MiB blob ($RSS_OK completed): peak RSS (VmHWM) $((RSS_KIB / 1024)) MiB"
