# make test   installs what is missing, checks formatting, vets, lints and
#             runs every test with the race detector against local emulators
# make demo   runs examples/quickstart against a DynamoDB Local it starts
#             (installs DynamoDB Local only)
# make bench  runs the benchmarks against DynamoDB Local (BENCHFLAGS='-count 6'
#             for benchstat); BenchmarkFloor compares the store with a bare
#             SDK loop, BenchmarkPutCost prices PutItem options on the server
# make bench-peers  compares eventstore with two npm DynamoDB event stores on
#             one DynamoDB Local; writes benchmarks/peers/RESULTS.md
#             (PEERSFLAGS='-runs 5 -scale 2' to change the runs)
# make lint   gofmt check, go vet, staticcheck
# make fuzz   runs every fuzz target for FUZZTIME (default 15s) each; part of test
# make bench-live  runs the live latency benchmarks briefly (20 commits); part of test
# make test-long  runs the benchmarks at DynamoDB's limits (limits simulator at
#             1/10 scale) at full length, 3 runs each: write ceiling, 60 s of
#             overload, live Tail at 80 % load (docs/capacity.md); and the
#             projection crash test at 20,000 commits instead of 3,000

GO ?= go
export PATH := $(CURDIR)/.tools/bin:$(PATH)

PEERS := benchmarks/peers
BENCHFLAGS ?= -benchtime 2s

.PHONY: test test-long fuzz demo bench bench-smoke bench-live bench-peers lint tools

tools:
	bash scripts/install-tools.sh

lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	cd $(PEERS) && $(GO) vet ./... && staticcheck ./...
	cd otel && $(GO) vet ./... && staticcheck ./...

test: lint
	$(GO) test -race -count=1 -timeout 30m ./...
	cd $(PEERS) && $(GO) test -race -count=1 ./...
	cd otel && $(GO) test -race -count=1 ./...
	$(MAKE) fuzz
	$(MAKE) bench-smoke
	$(MAKE) bench-live

# bench-smoke runs every benchmark once (CI), so that none rots unnoticed.
bench-smoke: tools
	$(GO) test -short -run '^$$' -bench . -benchtime 1x -timeout 10m ./benchmarks/

# bench-live runs the live latency benchmarks briefly (CI): 20 commits each.
bench-live: tools
	$(GO) test -short -run '^$$' -bench '^BenchmarkLive(Tail|Relay)$$' -benchtime 20x -timeout 5m ./benchmarks/

# test-long runs the benchmarks and tests at the limits at full length:
# each benchmark iteration is one run (20 s; 60 s for BenchmarkOverload),
# 3 runs, medians reported; TestOverload and TestThirdLiveConsumerThrottled
# for 60 s.
test-long: tools
	EVENTSTORE_TEST_LONG=1 $(GO) test -count=1 -timeout 30m -run 'TestCrashTakeover' -v ./projection/
	$(GO) test -count=1 -run 'TestOverload|TestThirdLiveConsumerThrottled' -limits.seconds 60 -timeout 30m ./benchmarks/
	$(GO) test -run '^$$' -bench 'WriteCeiling|Overload|LiveAtLoad' -benchtime 3x -timeout 60m ./benchmarks/

# fuzz runs each fuzz target of the module (func Fuzz* in a _test.go file)
# for FUZZTIME, one go test invocation per target (-fuzz takes one at a
# time), starting from its checked-in seed corpus in testdata/fuzz.
FUZZTIME ?= 15s
fuzz:
	@set -e; for file in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path './.tools/*')); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "$(GO) test -run '^$$' -fuzz '^$$target$$' -fuzztime $(FUZZTIME) ./$$(dirname $$file)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$file); \
		done; \
	done

# demo needs DynamoDB Local only: not the SNS emulator or staticcheck.
demo:
	bash scripts/install-tools.sh dynamodb
	bash scripts/with-dynamodb.sh $(GO) run ./examples/quickstart

bench: tools
	$(GO) test -run '^$$' -bench . $(BENCHFLAGS) -timeout 60m ./benchmarks/

# bench-peers is a Go module of its own (benchmarks/peers/go.mod), so that
# the library's module carries no Node tooling.
bench-peers: tools $(PEERS)/node_modules/.package-lock.json
	@for f in $(PEERS)/*.js; do node --check $$f || exit 1; done
	cd $(PEERS) && $(GO) run . -dir . -out RESULTS.md $(PEERSFLAGS)

$(PEERS)/node_modules/.package-lock.json: $(PEERS)/package.json $(PEERS)/package-lock.json
	npm ci --prefix $(PEERS) --ignore-scripts --no-audit --no-fund --loglevel=error
