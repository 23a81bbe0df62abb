# shopbus builds with Go 1.27.3; the go command fetches it from the module
# proxy when the machine has an older Go.
export GOTOOLCHAIN := go1.27.3

GO      ?= go
BIN     := bin/shopbus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commitID=$(COMMIT)
# Packages whose tests exercise concurrency: run under the race detector.
RACE_PKGS := . ./bus/... ./modules/... ./web/...

# The host's platform, for release file names.
GOOS    := $(shell $(GO) env GOOS)
GOARCH  := $(shell $(GO) env GOARCH)

.PHONY: build release run test suite test-postgres vet fmt-check fuzz vulncheck bench bench-quick bench-hostile bench-floor bench-journey bench-match clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

# A versioned binary for this machine's platform and its SHA-256, in dist/:
# shopbus-VERSION-OS-ARCH and shopbus-VERSION-OS-ARCH.sha256, which
# `sha256sum -c` checks. -trimpath keeps the build machine's paths out.
# SQLite is C (cgo): build on the platform you ship to.
release:
	@mkdir -p dist
	$(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o dist/shopbus-$(VERSION)-$(GOOS)-$(GOARCH) .
	cd dist && sha256sum shopbus-$(VERSION)-$(GOOS)-$(GOARCH) > shopbus-$(VERSION)-$(GOOS)-$(GOARCH).sha256
	@cat dist/shopbus-$(VERSION)-$(GOOS)-$(GOARCH).sha256
	@./dist/shopbus-$(VERSION)-$(GOOS)-$(GOARCH) version

run: build
	./$(BIN) serve --config config.yaml

# Every test: vet and gofmt, the whole suite, then the concurrent packages
# again under the race detector.
test: vet fmt-check suite

suite:
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short $(RACE_PKGS)

# The same suite against PostgreSQL: each test gets a fresh database on the
# server SHOPBUS_TEST_POSTGRES_DSN names (its user may CREATE DATABASE).
# Without it, a throwaway cluster is started for the run and removed after
# (.ci/postgres; it needs Debian's postgresql package).
test-postgres:
	@if [ -n "$$SHOPBUS_TEST_POSTGRES_DSN" ]; then \
		$(MAKE) --no-print-directory suite; \
	else \
		dir=$$(mktemp -d) && trap '.ci/postgres stop "$$dir"' EXIT && \
		dsn=$$(.ci/postgres start "$$dir") && \
		SHOPBUS_TEST_POSTGRES_DSN=$$dsn $(MAKE) --no-print-directory suite; \
	fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# A short, bounded run of each fuzz target (CI runs this too).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCompileMatch$$' -fuzztime $(FUZZTIME) ./bus/pattern/
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./bus/transform/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValidate$$' -fuzztime $(FUZZTIME) ./modules/checkout/

# govulncheck against an offline copy of the Go vulnerability database.
vulncheck:
	bash .ci/vulncheck

# The whole journey against the machine's ceiling (bench/README.md): builds
# shopbus and a bare Echo baseline, drives them with wrk and an open-loop
# load generator, writes bench/results/latest.json. BENCHFLAGS passes flags,
# e.g. BENCHFLAGS='-journey-rates 500 -journey-duration 10s'.
bench:
	$(GO) run ./bench $(BENCHFLAGS)

# A short run of the same (about 2 minutes; `make bench` takes 15 to 22).
bench-quick:
	$(GO) run ./bench -quick $(BENCHFLAGS)

# The attacks of issue 17 (slow bodies, a 20,000-connection flood) against
# a fresh shopbus each, with a well-behaved client ordering meanwhile:
# its p99, /healthz's p99 and RSS before, during and 30 s after (about 4
# minutes; bench/hostile). BENCHFLAGS passes flags, e.g. '-only flood'.
bench-hostile:
	$(GO) run ./bench/hostile $(BENCHFLAGS)

# The storage floor alone (bench/README.md): what writing one order's
# rows costs this machine, with nothing of shopbus around it.
bench-floor:
	$(GO) run ./bench -only floor $(BENCHFLAGS)

# CPU time and SQL statements per complete order inside one process, HTTP
# aside (speed_test.go): figures that hold on a busy machine.
bench-journey:
	$(GO) test -run '^$$' -bench BenchmarkJourney -benchtime 4000x -count 3 .

# The pattern matcher's micro-benchmark.
bench-match:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./bus/pattern/

clean:
	rm -rf bin dist
