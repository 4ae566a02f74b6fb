#!/usr/bin/env bash
# A real containerd pulls through what this project renders, end to end:
#
#   containerd (CRI image service, driven by crictl: the path kubelet uses)
#     reads /etc/containerd/config.toml (a minimal main file merged with the rendered part by
#     `registryctl containerd merge`, or importing it on 2.x) and the rendered registry.d
#     hosts.toml: the virtual host registry.d8-system.svc:5001 mirrored to https://127.0.0.1:5001
#     with the module CA and the read-only user
#   -> real nginx running the rendered node load balancer (/etc/kubernetes/registry-proxy/nginx.conf)
#   -> two registryd "masters" on 127.0.0.2:5001 and 127.0.0.3:5001, each running the bundle the
#      orchestrator wrote for it (`registryctl simulate --write-nodes`): its certificate for its IP
#      (and 127.0.0.1) signed by the module CA, the module's users in htpasswd
#   -> in Proxy mode, an upstream registryd on 127.0.0.4:5001 (its own CA and user), cached by the
#      masters.
#
# For each containerd (Debian's 1.6 from apt; 2.4.2 built from the Go module proxy) and each mode
# (Local, Proxy) it checks: the digest containerd records is the digest of the manifest pushed;
# the manifest and every blob were served to `ro` by a master (least_conn may spread containerd's
# connections over both), and in Proxy mode the store of the master that served each one now
# holds it, re-hashed; then one master is stopped (its listener is gone: a connect is refused),
# another image is pulled, and that pull went through nginx to the other master (its request log
# shows the manifest and every blob, the stopped one's none).
#
# Rendered with `--dialect upstream`: stock containerd ignores the `auth` table of Deckhouse's
# hosts.toml dialect, so credentials go into config.toml (`registry.configs."127.0.0.1:5001".auth`)
# as the upstream dialect renders them (2.4.2 then pulls in CRI's local pull mode instead of the
# transfer service, and logs that `configs` is deprecated; render warns about both).
# Adaptations of rendered files: none. hosts.toml, the CA file and the config part are read at
# their node paths (/etc/containerd is bind-mounted); nginx runs the rendered nginx.conf unchanged
# (its pid file in /tmp is this namespace's private /tmp). The main config.toml is this test's (root, state and
# socket under the work folder, the native snapshotter), as a node's own file would be.
# The masters run what the orchestrator gives them: `registryctl simulate --write-nodes` switches a
# simulated cluster with these two masters from Direct to the scenario's mode and writes each
# master's node-services bundle (the module CA, its certificate, htpasswd with the module's users,
# its peers or upstream), which registryd runs with `--config`, and the facts the nodes render
# with (the module CA, the read-only user). Only the upstream of Proxy mode, which is not the
# module's, gets its CA and users here, from openssl and `htpasswd -B`.
#
# Isolation: the whole test runs in private mount, network and PID namespaces (`unshare -mnp`):
# only a private loopback exists, so no request, DNS included, can leave it, and no listener
# conflicts with anything on the machine. /etc/containerd, /etc/hosts, /etc/resolv.conf, /run and
# /tmp are bind-mounted from the work folder; nothing is written outside it and target/. Mounts
# and processes end with the namespaces (the script is the PID namespace's init, killed with
# `unshare --kill-child`), and an EXIT trap stops them first.
#
# Needs root (sudo when not root). Installs Debian's containerd (brings runc) if missing; nginx
# comes from `make nginx-test`. Builds once, cached under target/containerd-e2e keyed on the
# version: containerd/ctr 2.4.2 (-tags no_btrfs); crictl and crane with test.sh's go_tool
# (tools.sh) under target/registryd-tools.
# Quiet on success (one line per scenario); on failure prints the failing scenario's logs and
# keeps the work folder (E2E_KEEP=1 keeps it on success too).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CARGO=${CARGO:-cargo}
CONTAINERD2_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0 # sigs.k8s.io/cri-tools, served by the Go module proxy
CACHE=$REPO/target/containerd-e2e

log() { printf '== %s\n' "$*" >&2; }
# shellcheck source=examples/registryd/tools.sh
source "$REPO/examples/registryd/tools.sh"

# ---------------------------------------------------------------------------------------------
# Outside the namespaces: install and build what is needed, then re-run this script inside.
# ---------------------------------------------------------------------------------------------
prepare() {
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  if [[ ! -x /usr/bin/containerd || ! -x /usr/bin/ctr ]]; then
    log "installing Debian's containerd"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends containerd >/dev/null
    # The package enables a service; this test runs its own containerd instances only.
    if command -v systemctl >/dev/null; then $sudo systemctl disable --now containerd 2>/dev/null || true; fi
  fi
  for tool in nginx htpasswd openssl unshare ip python3; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || {
      echo "containerd-e2e: $tool is missing (nginx: make nginx-test; htpasswd: apache2-utils)" >&2
      exit 1
    }
  done
  mkdir -p "$CACHE"
  local ctd=$CACHE/containerd-$CONTAINERD2_VERSION
  if [[ ! -x $ctd/containerd || ! -x $ctd/ctr ]]; then
    log "building containerd $CONTAINERD2_VERSION (cmd/containerd, cmd/ctr; -tags no_btrfs)"
    local build=$CACHE/build-containerd-$CONTAINERD2_VERSION
    rm -rf "$build" "$ctd.tmp" && mkdir -p "$build" "$ctd.tmp"
    (cd "$build" && go mod init containerd-e2e-build >/dev/null 2>&1 &&
      go get "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD2_VERSION" \
        "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD2_VERSION" >/dev/null 2>&1 &&
      go build -tags no_btrfs -o "$ctd.tmp/" github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/ctr)
    rm -rf "$build" "$ctd" && mv "$ctd.tmp" "$ctd"
  fi
  local crictl crane
  crictl=$(go_tool crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION")
  crane=$(go_tool crane "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")
  $CARGO build --locked -q -p registryd -p registryctl
  export E2E_CONTAINERD2=$ctd E2E_CRICTL=$crictl E2E_CRANE=$crane
  export E2E_REGISTRYD=$REPO/target/debug/registryd E2E_REGISTRYCTL=$REPO/target/debug/registryctl
  # The work folder goes to $TMPDIR (make test's target/test-tmp), but never under /tmp: /tmp is
  # replaced inside the namespace.
  local base=${TMPDIR:-$REPO/target/tmp}
  case $(realpath -m "$base")/ in /tmp/*) base=$REPO/target/tmp ;; esac
  mkdir -p "$base"
  E2E_WORK=$(mktemp -d "$base/containerd-e2e.XXXXXX")
  export E2E_WORK
  local rc=0
  local as_root=()
  [[ -z $sudo ]] || as_root=(sudo "--preserve-env=E2E_CONTAINERD2,E2E_CRICTL,E2E_CRANE,E2E_REGISTRYD,E2E_REGISTRYCTL,E2E_WORK,E2E_KEEP,PATH")
  export E2E_KEEP=${E2E_KEEP:-}
  "${as_root[@]}" unshare --mount --net --pid --fork --mount-proc --propagation private \
    --kill-child -- bash "$0" --in-namespace || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "containerd-e2e: FAILED (logs above; work folder $E2E_WORK kept)" >&2
    exit "$rc"
  fi
  # Inside, as root, the work folder was emptied unless E2E_KEEP is set.
  if [[ -n ${E2E_KEEP:-} ]]; then log "work folder kept: $E2E_WORK"; else rmdir "$E2E_WORK"; fi
}

if [[ ${1:-} != --in-namespace ]]; then
  prepare
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Inside private mount and network namespaces, as root.
# ---------------------------------------------------------------------------------------------
WORK=$E2E_WORK
CRANE=$E2E_CRANE
CRICTL=$E2E_CRICTL
REGISTRYD=$E2E_REGISTRYD
REGISTRYCTL=$E2E_REGISTRYCTL
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
VIRTUAL=registry.d8-system.svc:5001 # the virtual host the rendered config mirrors
MASTERS=(127.0.0.2 127.0.0.3)
UPSTREAM=127.0.0.4:5001
PIDS=()
SCENARIO=""

stop_all() { # stops every process this script started (they are all in this namespace)
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
on_exit() {
  local rc=$?
  stop_all
  if [[ $rc -ne 0 ]]; then
    echo "containerd-e2e: scenario '${SCENARIO}' failed (exit $rc); its logs:" >&2
    find "${RUN:-$WORK}" -name '*.log' -print0 2>/dev/null | sort -z |
      while IFS= read -r -d '' f; do
        printf '\n----- %s\n' "${f#"$WORK"/}" >&2
        tail -n 80 "$f" >&2
      done
  fi
  umount /etc/containerd "$(readlink -f /etc/hosts)" "$(readlink -f /etc/resolv.conf)" /run /tmp \
    2>/dev/null || true
  if [[ $rc -eq 0 && -z ${E2E_KEEP:-} ]]; then find "$WORK" -mindepth 1 -delete; fi
  exit "$rc"
}
trap on_exit EXIT
# This shell is the PID namespace's init: it only gets the signals it handles, and when it ends
# the kernel ends every process left in the namespace.
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "containerd-e2e [$SCENARIO]: $*" >&2; exit 1; }

# The private network: only loopback, up; every 127.0.0.0/8 address is local on it.
ip link set lo up
[[ $(ip -o link show | grep -cv ': lo:') -eq 0 ]] || fail "the namespace has an interface besides lo"

# The private files: names resolve from our hosts file only, and the only name server is one on
# the private loopback that does not exist, so a lookup fails at once instead of leaving.
mkdir -p "$WORK/etc" "$WORK/run" "$WORK/tmp" "$WORK/etc-containerd"
printf '127.0.0.1 localhost\n' >"$WORK/etc/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$WORK/etc/resolv.conf"
mount --bind "$WORK/run" /run
mount --bind "$WORK/tmp" /tmp
for f in hosts resolv.conf; do
  target=$(readlink -f "/etc/$f")
  [[ -e $target ]] || { mkdir -p "$(dirname "$target")" && : >"$target"; }
  mount --bind "$WORK/etc/$f" "$target"
done
mkdir -p /etc/containerd 2>/dev/null || true
mount --bind "$WORK/etc-containerd" /etc/containerd
cmp -s /etc/resolv.conf "$WORK/etc/resolv.conf" || fail "/etc/resolv.conf is not the private one"

# ---------------------------------------------------------------------------------------------
# The upstream of Proxy mode: its own CA, certificate and users (the module's come from the
# orchestrator, per scenario).
# ---------------------------------------------------------------------------------------------
PKI=$WORK/pki
mkdir -p "$PKI"
new_ca() { # new_ca NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null
}
new_leaf() { # new_leaf NAME CA SAN
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial -days 2 \
    -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
}
new_ca upstream-ca e2e-upstream-ca
new_leaf upstream upstream-ca "IP:${UPSTREAM%:*}"
password() { openssl rand -hex 8; } # 16 characters, as the orchestrator's passwords
SVC_PASSWORD=$(password)
PUSHER_PASSWORD=$(password)
htpasswd -B -b -c "$PKI/upstream-htpasswd" svc "$SVC_PASSWORD" 2>/dev/null
htpasswd -B -b "$PKI/upstream-htpasswd" pusher "$PUSHER_PASSWORD" 2>/dev/null

# The cluster the orchestrator is simulated on: two masters on loopback addresses.
cat >"$WORK/facts.yaml" <<EOF
clusterType: Static
bootstrapped: true
managedKubernetes: false
nodes:
  - {name: master-0, role: master, ip: ${MASTERS[0]}, cri: Containerd}
  - {name: master-1, role: master, ip: ${MASTERS[1]}, cri: Containerd}
EOF
settings() { # settings MODE: the ModuleConfig for Direct (never contacted), Local or Proxy (of the upstream here)
  printf 'apiVersion: deckhouse.io/v1alpha1\nkind: ModuleConfig\nmetadata:\n  name: deckhouse\n'
  printf 'spec:\n  version: 1\n  enabled: true\n  settings:\n    registry:\n      mode: %s\n' "$1"
  if [[ $1 == Direct ]]; then
    printf '      direct:\n        imagesRepo: registry.example.com/deckhouse/ee\n'
  fi
  if [[ $1 == Proxy ]]; then
    printf '      proxy:\n        imagesRepo: %s/dkp/ee\n        scheme: HTTPS\n' "$UPSTREAM"
    printf '        username: svc\n        password: "%s"\n        ttl: 72h\n        ca: |\n' "$SVC_PASSWORD"
    sed 's/^/          /' "$PKI/upstream-ca.crt"
  fi
}
settings Direct >"$WORK/direct.yaml"
settings Local >"$WORK/local.yaml"
settings Proxy >"$WORK/proxy.yaml"

# What the orchestrator gave master I in this scenario (after `simulate --write-nodes $NODES`).
master_config() { echo "$NODES/master-$1/etc/kubernetes/registry/config.yaml"; }
master_root() { # the store of master I, as its configuration names it
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["root"])' "$(master_config "$1")"
}
module_password() { # the password of the module's user NAME in the final state
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["users"][sys.argv[2]]["password"])' \
    "$NODES/state.json" "$1"
}

# ---------------------------------------------------------------------------------------------
# Servers.
# ---------------------------------------------------------------------------------------------
# start_registryd NAME ADDR ARGS…: registryd on ADDR (TLS); waits for its start-up line.
start_registryd() {
  local name=$1 addr=$2
  shift 2
  "$REGISTRYD" --listen "$addr" --tls-cert "$PKI/$name.crt" --tls-key "$PKI/$name.key" "$@" \
    2>"$RUN/$name.log" &
  wait_started "$name" "$addr"
}
# start_master I: master I's registryd exactly as the orchestrator configured it.
start_master() {
  local name=master-${MASTERS[$1]}
  "$REGISTRYD" --config "$(master_config "$1")" 2>"$RUN/$name.log" &
  wait_started "$name" "${MASTERS[$1]}:5001"
}
# wait_started NAME ADDR: records the registryd just started as NAME; waits for its start-up line.
wait_started() {
  local name=$1 addr=$2
  PIDS+=($!)
  eval "PID_${name//[^a-zA-Z0-9]/_}=$!"
  for _ in $(seq 600); do # up to 30 s on a loaded machine
    grep -qs " on https://$addr serving " "$RUN/$name.log" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  fail "registryd $name did not start on $addr"
}

start_nginx() { # the rendered load balancer, as the node runs it
  local conf=$RUN/node/etc/kubernetes/registry-proxy/nginx.conf
  [[ -f $conf ]] || fail "render wrote no nginx.conf"
  "$NGINX" -c "$conf" -g 'daemon off;' 2>"$RUN/nginx.log" &
  PIDS+=($!)
  for _ in $(seq 600); do
    (exec 3<>/dev/tcp/127.0.0.1/5001) 2>/dev/null && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  fail "nginx did not listen on 127.0.0.1:5001"
}

# push REGISTRY REPO TAG TEXT CA: builds a one-layer image with crane and pushes it; prints its
# manifest digest, computed here from the manifest bytes.
push() {
  local registry=$1 repo=$2 tag=$3 text=$4 ca=$5 dir
  dir=$(mktemp -d "$RUN/layer.XXXXXX")
  mkdir -p "$dir/etc" && printf '%s\n' "$text" >"$dir/etc/motd"
  tar -C "$dir" -cf "$dir.tar" etc
  SSL_CERT_FILE=$ca "$CRANE" append -f "$dir.tar" -t "$registry/$repo:$tag" >/dev/null 2>&1
  SSL_CERT_FILE=$ca "$CRANE" manifest "$registry/$repo:$tag" >"$RUN/manifest-$tag.json"
  echo "sha256:$(sha256sum <"$RUN/manifest-$tag.json" | cut -d' ' -f1)"
}
blobs_of() { # blobs_of TAG: the config and layer digests of a pushed manifest
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' \
    "$RUN/manifest-$1.json"
}
has_blob() { # has_blob STORE DIGEST: the store holds the blob, and its bytes hash to DIGEST
  local f=$1/blobs/sha256/${2#sha256:}
  [[ -f $f && sha256:$(sha256sum <"$f" | cut -d' ' -f1) == "$2" ]]
}
served_by() { # served_by I KIND DIGEST: master I's log shows KIND/DIGEST served (200) to `ro`
  grep -q " GET /v2/system/deckhouse/e2e/$2/$3 200 .* user=ro$" "$RUN/master-${MASTERS[$1]}.log"
}
# check_pulled MODE TAG DIGEST ONLY: the manifest and every blob of TAG were served by a master
# (by master ONLY alone when ONLY is set, the other's log not naming them); in Proxy mode the
# store of the master that served each one now holds it, verified. containerd fetches each piece
# on a connection of its own pool, and least_conn may put them on different masters.
check_pulled() {
  local mode=$1 tag=$2 digest=$3 only=${4:-} item kind d i found
  for item in "manifests/$digest" $(blobs_of "$tag" | sed 's|^|blobs/|'); do
    kind=${item%%/*} d=${item#*/}
    found=""
    for i in 0 1; do
      served_by "$i" "$kind" "$d" || continue
      [[ -z $only || $i == "$only" ]] || fail "master $i served $kind/$d while it was down"
      if [[ $mode == Proxy ]] && ! has_blob "$(master_root "$i")" "$d"; then
        fail "master $i served $kind/$d but its cache does not hold it"
      fi
      found=1
    done
    [[ -n $found ]] || fail "no master's log shows $kind/$d of $tag served to ro"
  done
}

# ---------------------------------------------------------------------------------------------
# containerd.
# ---------------------------------------------------------------------------------------------
# main_config GEN: the node's own main config.toml (not rendered by this project): everything
# under the scenario's folder, the native snapshotter (no overlayfs needed), nothing on the host.
main_config() {
  local c=$RUN/containerd
  if [[ $1 == v1 ]]; then
    cat <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$c/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$VIRTUAL/system/deckhouse/pause:e2e"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
EOF
  else
    cat <<EOF
version = 3
root = "$c/root"
state = "$c/state"
imports = ["/etc/containerd/deckhouse.d/*.toml"]
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$c/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "native"
EOF
  fi
}

# start_containerd GEN BIN: renders for GEN, writes /etc/containerd, starts containerd.
start_containerd() {
  local gen=$1 bin=$2
  mkdir -p "$RUN/containerd"
  main_config "$gen" >"$RUN/main.toml"
  if [[ $gen == v1 ]]; then
    # containerd 1.x: `imports` would replace the CRI plugin's whole table, so the part is merged.
    "$REGISTRYCTL" containerd merge "$RUN/main.toml" "$RUN/node/etc/containerd/deckhouse.d/registry.toml" \
      -o "$RUN/node/etc/containerd/config.toml"
  else
    cp "$RUN/main.toml" "$RUN/node/etc/containerd/config.toml"
  fi
  umount /etc/containerd
  mount --bind "$RUN/node/etc/containerd" /etc/containerd
  "$bin" --config /etc/containerd/config.toml --log-level info >"$RUN/containerd.log" 2>&1 &
  PIDS+=($!)
  SOCK=$RUN/containerd/containerd.sock
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$SOCK" "$SOCK" \
    >"$RUN/crictl.yaml"
  for _ in $(seq 600); do
    crictl --timeout 2s images >/dev/null 2>&1 && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "containerd's CRI image service did not come up"
}
crictl() { "$CRICTL" --config "$RUN/crictl.yaml" "$@"; }

# pulled_digest IMAGE: the manifest digest containerd recorded for IMAGE (CRI's repoDigests).
pulled_digest() {
  crictl inspecti -o json "$1" |
    python3 -c 'import json,sys; d=json.load(sys.stdin)["status"]["repoDigests"]; print("\n".join(r.split("@",1)[1] for r in d))'
}

# pull_and_check IMAGE DIGEST: a CRI pull, and the digest it recorded.
pull_and_check() {
  crictl pull "$1" >"$RUN/pull.out" 2>&1 || { cat "$RUN/pull.out" >&2; fail "crictl pull $1 failed"; }
  local got
  got=$(pulled_digest "$1")
  [[ $got == "$2" ]] || fail "containerd recorded $got for $1, pushed $2"
  # The same record in containerd's own image store (the k8s.io namespace CRI uses).
  "$CTR" --address "$SOCK" -n k8s.io images ls >"$RUN/ctr-images.out" 2>>"$RUN/ctr.log"
  grep -q "^$1 .* $2 " "$RUN/ctr-images.out" ||
    fail "ctr images ls does not list $1 at $2"
}

# ---------------------------------------------------------------------------------------------
# One scenario: MODE (Local|Proxy) × containerd GEN (v1|v2) with its binaries.
# ---------------------------------------------------------------------------------------------
scenario() {
  local mode=$1 gen=$2 bin=$3 label=$4
  CTR=$5
  SCENARIO="$mode, containerd $label"
  RUN=$WORK/$mode-$gen
  mkdir -p "$RUN"
  local started=$SECONDS
  local lower=${mode,,}
  NODES=$RUN/nodes
  "$REGISTRYCTL" simulate --from "$WORK/direct.yaml" --to "$WORK/$lower.yaml" --cluster "$WORK/facts.yaml" \
    --seed "$RANDOM" --write-nodes "$NODES" >"$RUN/simulate.out" 2>&1 ||
    fail "registryctl simulate did not finish the switch: $(tail -5 "$RUN/simulate.out")"
  local module_ca=$NODES/master-0/etc/kubernetes/registry/pki/ca.crt
  local render_args=(--containerd "$gen" --dialect upstream)
  [[ $gen == v1 ]] && render_args+=(--containerd-version 1.6)
  "$REGISTRYCTL" render --desired "$WORK/$lower.yaml" --cluster "$NODES/cluster.yaml" "${render_args[@]}" \
    --out "$RUN/node" >"$RUN/render.out" || fail "registryctl render failed: $(cat "$RUN/render.out")"
  local hosts=$RUN/node/etc/containerd/registry.d/$VIRTUAL/hosts.toml
  [[ -f $hosts ]] || fail "render wrote no $VIRTUAL/hosts.toml"

  local m0=${MASTERS[0]}:5001 m1=${MASTERS[1]}:5001 v1 v2 d
  if [[ $mode == Local ]]; then
    # Images are pushed to the first master; the second fills itself from it as a peer.
    # Images are pushed (as `rw`) to the first master; the second, its peer, fills itself from it.
    start_master 0
    SSL_CERT_FILE=$module_ca "$CRANE" auth login "$m0" -u rw -p "$(module_password rw)" >/dev/null 2>&1
    v1=$(push "$m0" system/deckhouse/e2e v1 "e2e $SCENARIO v1" "$module_ca")
    v2=$(push "$m0" system/deckhouse/e2e v2 "e2e $SCENARIO v2" "$module_ca")
    start_master 1
    for _ in $(seq 600); do
      grep -qs "peer https://$m0/system/deckhouse: " "$RUN/master-${MASTERS[1]}.log" && break
      sleep 0.05
    done
    for d in "$v2" $(blobs_of v2); do
      has_blob "$(master_root 1)" "$d" || fail "the second master did not fill itself from its peer ($d)"
    done
  else
    start_registryd upstream "$UPSTREAM" --root "$RUN/store-upstream" --namespace dkp/ee \
      --htpasswd "$PKI/upstream-htpasswd" --writers pusher
    SSL_CERT_FILE=$PKI/upstream-ca.crt "$CRANE" auth login "$UPSTREAM" -u pusher -p "$PUSHER_PASSWORD" >/dev/null 2>&1
    v1=$(push "$UPSTREAM" dkp/ee/e2e v1 "e2e $SCENARIO v1" "$PKI/upstream-ca.crt")
    v2=$(push "$UPSTREAM" dkp/ee/e2e v2 "e2e $SCENARIO v2" "$PKI/upstream-ca.crt")
    local i
    for i in 0 1; do
      start_master "$i"
      ! has_blob "$(master_root "$i")" "$v1" || fail "master $i holds the image before any pull"
    done
  fi
  start_nginx
  start_containerd "$gen" "$bin"

  # 1. Both masters up: the pull goes through the mirror, nginx and one of the masters.
  pull_and_check "$VIRTUAL/system/deckhouse/e2e:v1" "$v1"
  check_pulled "$mode" v1 "$v1"

  # 2. The first master down (its listener gone), v2 (never pulled) still pulls, through nginx
  #    to the second master.
  local var=PID_master_${MASTERS[0]//./_}
  kill "${!var}"
  wait "${!var}" 2>/dev/null || true
  if (exec 3<>"/dev/tcp/${MASTERS[0]}/5001") 2>/dev/null; then fail "${MASTERS[0]}:5001 still accepts"; fi
  pull_and_check "$VIRTUAL/system/deckhouse/e2e:v2" "$v2"
  check_pulled "$mode" v2 "$v2" 1
  # Nothing ever left the loopback: containerd never asked for the virtual host itself.
  if grep -qi 'no such host\|lookup registry.d8-system.svc' "$RUN/containerd.log"; then
    fail "containerd tried to resolve the virtual host (a mirror failed)"
  fi
  stop_all
  umount /etc/containerd
  mount --bind "$WORK/etc-containerd" /etc/containerd
  printf 'containerd-e2e: %s: pulled through nginx, one master down too (%ss)\n' "$SCENARIO" \
    $((SECONDS - started)) >&2
}

for mode in Local Proxy; do
  scenario "$mode" v1 /usr/bin/containerd "$(/usr/bin/containerd --version | awk '{print $3}')" /usr/bin/ctr
  scenario "$mode" v2 "$E2E_CONTAINERD2/containerd" "$CONTAINERD2_VERSION" "$E2E_CONTAINERD2/ctr"
done
SCENARIO=""
