#!/usr/bin/env bash
# Everything the C ABI needs in CI, from a clean checkout, from any folder:
#   1. cbindgen 0.29.4 (installed if missing) regenerates include/deckhouse_registry.h; any
#      difference from the checked-in header fails (`test.sh --regen` rewrites it instead);
#   2. builds libdeckhouse_registry.a and .so (release);
#   3. compiles the header as C99, C11 and C++ (warnings are errors);
#   4. runs tests/capi_test.c against the static library under Valgrind (any error or leak
#      fails) and against the shared library under AddressSanitizer + LeakSanitizer.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" == /* ]] || target="$root/$target" # cargo runs in $root below
lib="$target/release"
cbindgen_version=0.29.4
cc="${CC:-gcc}"
cxx="${CXX:-g++}"

if ! command -v cbindgen >/dev/null || [[ "$(cbindgen --version)" != "cbindgen $cbindgen_version" ]]; then
  echo "== installing cbindgen $cbindgen_version"
  cargo install --locked cbindgen --version "$cbindgen_version"
fi

if ! command -v valgrind >/dev/null; then
  echo "== installing valgrind"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq valgrind
fi

echo "== header: regenerate and compare"
header="$here/include/deckhouse_registry.h"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$here" && cbindgen --quiet --config cbindgen.toml --crate deckhouse-registry-ffi --output "$work/raw.h" .)
# parse_deps makes cbindgen visit the core's associated constants (excluded in cbindgen.toml),
# and it leaves a blank line for each: squeeze them.
cat -s "$work/raw.h" >"$work/generated.h"
if [[ "${1:-}" == "--regen" ]]; then
  cp "$work/generated.h" "$header"
  cp "$work/generated.h" "$root/bindings/go/include/deckhouse_registry.h"
  echo "wrote $header and its copy in bindings/go/include"
elif ! diff -u "$header" "$work/generated.h"; then
  echo "include/deckhouse_registry.h is out of date: run bindings/c/test.sh --regen and commit it" >&2
  exit 1
else
  echo "header up to date"
fi

echo "== header: bindings/go/include holds the same header"
if ! cmp "$here/include/deckhouse_registry.h" "$root/bindings/go/include/deckhouse_registry.h"; then
  echo "bindings/go/include/deckhouse_registry.h differs: copy bindings/c/include/deckhouse_registry.h over it" >&2
  exit 1
fi

# catch_unwind (the panic boundary of every entry point) needs unwinding panics.
if grep -nE '^\s*panic\s*=\s*"abort"' "$root/Cargo.toml"; then
  echo "a profile in Cargo.toml sets panic = \"abort\": the C ABI could not turn panics into DR_STATUS_PANIC" >&2
  exit 1
fi

echo "== build libdeckhouse_registry.a and .so"
(cd "$root" && cargo build --release --locked -p deckhouse-registry-c)
ls -l "$lib/libdeckhouse_registry.a" "$lib/libdeckhouse_registry.so"

# What a static Rust library needs from the system on Linux (rustc --print native-static-libs).
native_libs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
flags=(-Wall -Wextra -Werror -g -I "$here/include")

echo "== header compiles as C99, C11 and C++"
printf '#include "deckhouse_registry.h"\nint main(void){return dr_abi_version()==DR_ABI_VERSION?0:1;}\n' >"$work/h.c"
"$cc" -std=c99 -pedantic "${flags[@]}" -fsyntax-only "$work/h.c"
"$cc" -std=c11 -pedantic "${flags[@]}" -fsyntax-only "$work/h.c"
"$cxx" -std=c++17 -x c++ "${flags[@]}" -fsyntax-only "$work/h.c"

echo "== C tests against the static library, under Valgrind"
"$cc" -std=c11 "${flags[@]}" "$here/tests/capi_test.c" "$lib/libdeckhouse_registry.a" "${native_libs[@]}" -o "$work/capi_test"
mkdir -p "$work/valgrind"
status=0
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
  --suppressions="$here/tests/valgrind.supp" --log-file="$work/valgrind.log" \
  "$work/capi_test" "$root" "$work/valgrind" || status=$?
if [[ $status -ne 0 ]]; then cat "$work/valgrind.log"; fi
grep -E "definitely lost|indirectly lost|possibly lost|ERROR SUMMARY|All heap blocks" "$work/valgrind.log" \
  | sed 's/^==[0-9]*== /valgrind: /'
[[ $status -eq 0 ]] || exit $status

echo "== C tests against the shared library, under AddressSanitizer"
"$cc" -std=c11 "${flags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer "$here/tests/capi_test.c" \
  -L "$lib" -ldeckhouse_registry -Wl,-rpath,"$lib" -o "$work/capi_test_asan"
mkdir -p "$work/asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 \
  "$work/capi_test_asan" "$root" "$work/asan"
echo "== README snippet"
awk '/^```c$/{on=1;next} /^```$/{on=0} on' "$here/README.md" >"$work/readme.c"
"$cc" -std=c11 "${flags[@]}" "$work/readme.c" "$lib/libdeckhouse_registry.a" "${native_libs[@]}" -o "$work/readme"
(cd "$work" && ./readme)
echo "== README snippet against the shared library, as the README says (LD_LIBRARY_PATH, no rpath)"
"$cc" -std=c11 "${flags[@]}" "$work/readme.c" -L "$lib" -ldeckhouse_registry -o "$work/readme-so"
if (cd "$work" && ./readme-so >/dev/null 2>&1); then
  echo "readme-so ran without the library on the loader path: it is not using the .so" >&2
  exit 1
fi
rm -rf "$work/readme-store"
(cd "$work" && LD_LIBRARY_PATH="$lib" ./readme-so)
# Captured first: `ldd | grep -q` under pipefail fails whenever grep exits before ldd is done.
linked=$(LD_LIBRARY_PATH="$lib" ldd "$work/readme-so")
grep -qF "libdeckhouse_registry.so => $lib/" <<<"$linked" || { echo "$linked"; exit 1; }
echo "C ABI: header, build, Valgrind and ASan runs passed"
