# The two entry points of the README:
#   make demo   the main job: registryctl on the bundled example configs
#   make test   every check CI runs: formatting, lints, Rust tests, Go tests, fuzz smoke runs
# Both install what they need (cargo-fuzz, Go modules) on a fresh machine.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
FUZZ_SECONDS ?= 20
CARGO_FUZZ_VERSION := 0.13.2
GO_MODULES := $(shell find . -name go.mod -not -path './target/*' -not -path './fuzz/*' -not -path '*/node_modules/*' -exec dirname {} \; | sort)
TEST_LOG := target/test-output.log

.PHONY: demo test deps fmt-check clippy fuzz-smoke go-test c-test go-binding-test python-test rust-test registryd-test

demo:
	./scripts/demo.sh

test: deps fmt-check clippy fuzz-smoke go-test c-test go-binding-test python-test rust-test registryd-test

deps:
	@command -v cargo-fuzz >/dev/null && cargo fuzz --version | grep -q "$(CARGO_FUZZ_VERSION)" \
	  || $(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	@for m in $(GO_MODULES); do echo "go mod download in $$m"; (cd "$$m" && go mod download); done

fmt-check:
	$(CARGO) fmt --all -- --check
	@for m in $(GO_MODULES); do out=$$(cd "$$m" && gofmt -l .); \
	  if [[ -n "$$out" ]]; then echo "gofmt needed in $$m: $$out"; exit 1; fi; done

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain take them.
fuzz-smoke:
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

# The last line is the plain "N passed, N failed" total over every cargo test binary.
rust-test:
	@mkdir -p target
	$(CARGO) test --workspace 2>&1 | tee $(TEST_LOG)
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	  END { printf "%d passed, %d failed\n", p, f }' $(TEST_LOG)
