# The two entry points of the README:
#   make demo   the main job: registryctl on the bundled example configs
#   make test   every check CI runs, fast ones first: formatting, lints and docs, the Rust tests,
#               then the C ABI, the Go packages, the Python package and the fuzz smoke runs
# Both install what they need (cargo-fuzz, cbindgen, valgrind, Go modules) on a fresh machine.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
FUZZ_SECONDS ?= 20
CARGO_FUZZ_VERSION := 0.13.2
GO_MODULES := $(shell find . -name go.mod -not -path './target/*' -not -path './fuzz/*' -not -path '*/node_modules/*' -exec dirname {} \; | sort)
TEST_LOG := target/test-output.log
# Everything the tests put in a temporary folder goes here (TMPDIR is honoured by Rust's
# temp_dir, mktemp, Go and Python), and `make test` removes it at the end, also on failure.
TEST_TMP := $(CURDIR)/target/test-tmp

.PHONY: demo test test-steps deps fmt-check clippy fuzz-smoke go-test c-test go-binding-test python-test nginx-test rust-test registryd-test containerd-e2e

demo:
	./scripts/demo.sh

test:
	@rm -rf "$(TEST_TMP)" && mkdir -p "$(TEST_TMP)"
	@status=0; TMPDIR="$(TEST_TMP)" $(MAKE) --no-print-directory test-steps || status=$$?; \
	  rm -rf "$(TEST_TMP)" || echo "could not remove all of $(TEST_TMP)" >&2; \
	  if [[ $$status -ne 0 ]]; then echo "make test: FAILED (see above)"; else echo "make test: all checks passed"; fi; \
	  exit $$status

# Fast checks first, then the Rust tests, then the slow binding and fuzz steps.
test-steps: deps fmt-check clippy rust-test nginx-test registryd-test containerd-e2e c-test go-binding-test go-test python-test fuzz-smoke

deps:
	@command -v cargo-fuzz >/dev/null && [[ "$$(cargo fuzz --version)" == *"$(CARGO_FUZZ_VERSION)"* ]] \
	  || $(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	@for m in $(GO_MODULES); do echo "go mod download in $$m"; (cd "$$m" && go mod download); done
	@# skopeo and umoci read the store after bundle imports (registry-core/tests/store_bundles.rs);
	@# skopeo and curl are the clients of the orchestrator's bundles under registryd
	@# (examples/registryd/tests/orchestrator_bundles.rs).
	@command -v skopeo >/dev/null && command -v umoci >/dev/null && command -v curl >/dev/null || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends skopeo umoci curl; }

fmt-check:
	$(CARGO) fmt --all -- --check
	@for m in $(GO_MODULES); do out=$$(cd "$$m" && gofmt -l .); \
	  if [[ -n "$$out" ]]; then echo "gofmt needed in $$m: $$out"; exit 1; fi; done

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --workspace --no-deps --quiet

# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
fuzz-smoke:
	@# cargo fuzz has no --locked: refuse a Cargo.lock that is out of date before it builds.
	cd fuzz && $(CARGO) metadata --locked --format-version 1 >/dev/null
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build
	@cd fuzz && for t in $$(cargo fuzz list); do \
	  mkdir -p corpus/$$t; \
	  if [[ -d seeds/$$t ]]; then cp -n seeds/$$t/* corpus/$$t/ 2>/dev/null || true; fi; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -timeout=10 -rss_limit_mb=2048 2>&1 | tail -n 2; \
	done

# Go modules that need nothing built first (bindings/go and its example link the C library: see
# go-binding-test).
go-test:
	@for m in $(filter-out ./bindings/go ./examples/go/render-import,$(GO_MODULES)); do echo "go vet + go test in $$m"; \
	  (cd "$$m" && go vet ./... && go test ./...); done

# The C ABI: header regenerated and diffed, static + shared library, C tests under Valgrind and ASan.
c-test:
	bindings/c/test.sh

# The Go package over the C library: go vet, go test -race, the example in examples/go.
go-binding-test:
	bindings/go/test.sh

# The Python package: its own lints, a fresh venv, wheel build, pytest, stubtest, mypy --strict.
python-test:
	bindings/python/test.sh

# registryd against the OCI conformance suite (plain HTTP; TLS + htpasswd) and real clients.
registryd-test:
	examples/registryd/test.sh

# A real containerd (Debian's 1.6, and 2.4.2 built from the Go module proxy) pulls through the
# rendered Local and Proxy configuration, real nginx with the rendered load balancer and two
# registryd masters, one of them down too; in private mount, network and PID namespaces. After
# nginx-test (nginx) and registryd-test (crane); installs Debian's containerd if missing.
containerd-e2e:
	examples/registryd/containerd-e2e.sh

# The rendered node load balancer under real nginx (nginx -t, and a proxy over two loopback
# backends). Installs Debian's nginx-light and libnginx-mod-stream if nginx or its stream module
# is missing (and stops the nginx service the package starts under systemd); REQUIRE_NGINX=1 makes the test fail instead of skipping when nginx is absent.
nginx-test:
	@if [[ ! -x /usr/sbin/nginx || ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]]; then \
	  sudo=""; [[ $$(id -u) -eq 0 ]] || sudo="sudo"; \
	  echo "== installing nginx-light libnginx-mod-stream"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq nginx-light libnginx-mod-stream; \
	  if command -v systemctl >/dev/null; then $$sudo systemctl disable --now nginx 2>/dev/null || true; fi; \
	fi
	REQUIRE_NGINX=1 $(CARGO) test --locked -p registry-core --test nginx_real

# Every test binary runs even after one fails (--no-fail-fast). The last lines are the failed
# tests, if any, and the plain "N passed, N failed" total over every cargo test binary, printed
# whether or not everything passed; the step fails if cargo test did.
rust-test:
	@mkdir -p target
	@status=0; REGISTRY_REQUIRE_OCI_TOOLS=1 $(CARGO) test --locked --workspace --no-fail-fast 2>&1 | tee $(TEST_LOG) || status=$$?; \
	  grep -E '^test .* \.\.\. FAILED$$' $(TEST_LOG) || true; \
	  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	    END { printf "%d passed, %d failed\n", p, f }' $(TEST_LOG); \
	  if [[ $$status -ne 0 ]] && ! grep -q '^test result: FAILED' $(TEST_LOG); then \
	    echo "cargo test failed before running some tests (a build error?): see $(TEST_LOG)"; fi; \
	  exit $$status
