# The targets CI and developers run. `make test` is the one command that
# must pass before anything lands.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test check-mod fmt-check vet race test-386 lint bench cover demo generate fuzz fuzz-faces rules rules3 prometheus3 conformance bench-peers bench-load screenshots

test: check-mod fmt-check vet race test-386

# The library promises zero third-party dependencies: the root go.mod has no
# require lines (benchmarks/ and conformance/ are modules of their own).
check-mod:
	@if grep -qE '^[[:space:]]*require' go.mod; then echo "go.mod has a require line"; exit 1; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 ./...

# A 32-bit build catches 64-bit atomic alignment and int size assumptions.
test-386:
	GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 ./...

# staticcheck, fetched through the module proxy.
lint:
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 .

cover:
	$(GO) test -count=1 -coverprofile=cover.out .
	$(GO) tool cover -func=cover.out | tail -1

demo:
	$(GO) run ./examples/demo -addr 127.0.0.1:8080

# docs/dashboard.png and docs/dashboard-phone.png: the demo on loopback
# under a few minutes of curl traffic, by headless Chromium (apt-get install
# chromium). docs/screenshots.sh sample renders a hand-built snapshot.
screenshots:
	docs/screenshots.sh

generate:
	$(GO) generate ./...

# The fuzz targets, one after the other: the state decoder (raw and
# structure-aware), the session cookie parser against net/http's,
# content negotiation, and the traceparent parser against the W3C grammar.
# FUZZTIME=10m for a longer run.
FUZZTIME ?= 2m
FUZZ_TARGETS = FuzzDecodeState FuzzStateFields FuzzCookieValue FuzzNegotiate FuzzTraceparent
fuzz:
	for f in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) . || exit 1; done

# The fuzz target that feeds hostile routes and labels through both
# Prometheus faces and Prometheus' decoders (conformance/ is its own module).
fuzz-faces:
	cd conformance && $(GO) test -run '^$$' -fuzz FuzzFaces -fuzztime $(FUZZTIME) .

# The rules and alerts of deploy/: valid, and their unit tests pass
# (promtool: apt-get install prometheus).
rules:
	promtool check rules deploy/prometheus/vitals.rules.yml
	promtool test rules deploy/prometheus/vitals.rules_test.yml

# Prometheus 3.16 and its promtool, built from source (about 26 minutes)
# into PROM3, a cache outside the repository that conformance/ and rules3
# read (VITALS_PROMETHEUS3 names it to the tests).
PROM3 ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vitals/prom3/bin
PROM3_VERSION ?= v0.316.0
prometheus3:
	mkdir -p $(PROM3)
	GOBIN=$(PROM3) $(GO) install github.com/prometheus/prometheus/cmd/prometheus@$(PROM3_VERSION)
	GOBIN=$(PROM3) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROM3_VERSION)

# The rules and their tests with promtool 3.16.
rules3:
	cd deploy/prometheus && $(PROM3)/promtool check rules vitals.rules.yml && $(PROM3)/promtool test rules vitals.rules_test.yml

# Routers, Prometheus' decoders, and a real Prometheus scraping a test server
# (skipped without the prometheus binary unless VITALS_REQUIRE_PROMETHEUS=1).
conformance:
	cd conformance && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 30m ./...

# The side-by-side comparison with promhttp, VictoriaMetrics/metrics and
# otelhttp (benchmarks/ is its own module); writes benchmarks/results.txt.
bench-peers:
	benchmarks/peers.sh

# Requests per second of the demo with and without the middleware, under
# hey (apt-get install hey), and a check that every request was counted.
bench-load:
	benchmarks/load.sh
