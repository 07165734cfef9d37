# make test   installs what is missing, checks formatting, vets, lints and
#             runs every test with the race detector against local emulators
# make demo   runs examples/quickstart against a DynamoDB Local it starts
# make bench  runs the benchmarks against DynamoDB Local
# make lint   gofmt check, go vet, staticcheck

GO ?= go
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: test demo bench lint tools

tools:
	bash scripts/install-tools.sh

lint: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

test: lint
	$(GO) test -race -count=1 -timeout 30m ./...

demo: tools
	bash scripts/with-dynamodb.sh $(GO) run ./examples/quickstart

bench: tools
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 60m ./benchmarks/...
