# shellcheck shell=bash
# Sourced by test.sh and containerd-e2e.sh (after they set REPO and log): the Go commands they
# build, each once, into target/registryd-tools/bin, keyed on its version.
TOOLS=$REPO/target/registryd-tools
# shellcheck disable=SC2034 # used by the scripts that source this file
CRANE_VERSION=v0.22.1 # the go-containerregistry version conformance/store-layout uses

# go_tool NAME PACKAGE@VERSION: builds the command if needed and prints its path.
go_tool() {
  local bin=$TOOLS/bin/$1-${2##*@}
  if [[ ! -x $bin ]]; then
    log "building $1 ($2)"
    mkdir -p "$TOOLS/bin/tmp-$1"
    GOBIN=$TOOLS/bin/tmp-$1 go install "$2"
    mv "$TOOLS/bin/tmp-$1/$1" "$bin"
    rmdir "$TOOLS/bin/tmp-$1"
  fi
  echo "$bin"
}
