# tikvsql build and check targets. Every target works on a fresh machine with Go installed;
# tools are pinned and run with `go run`, nothing is installed globally.

GO          ?= go
PKGS        ?= ./...
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.7.0

export GONOSUMDB ?= github.com/pingcap,github.com/tikv

.PHONY: all demo test lint vet staticcheck check-deps cover fuzz bench ci tidy-check integration-ci

all: test

## demo: the quickstart example on the in-process cluster (memory://), or on the
## cluster named by TIKV_PD_ADDRS when it is set.
demo:
	$(GO) run ./examples/quickstart

## test: every test that needs no external server, with the race detector.
test:
	$(GO) test -race -count=1 $(PKGS)

## lint: go vet, gofmt and staticcheck (pinned).
lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

## check-deps: imports must point down the layer table (docs/design.md §2).
check-deps:
	@scripts/check-deps.sh

## cover: statement coverage per package group, gated by scripts/cover-groups.txt.
cover:
	@scripts/cover.sh

## fuzz: every fuzz target for FUZZTIME each.
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench: every benchmark, with allocation counts.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $(PKGS)

## tidy-check: go.mod and go.sum are tidy.
tidy-check:
	@cp go.mod /tmp/tikvsql-go.mod.bak; cp go.sum /tmp/tikvsql-go.sum.bak; \
	$(GO) mod tidy; ok=1; \
	cmp -s go.mod /tmp/tikvsql-go.mod.bak && cmp -s go.sum /tmp/tikvsql-go.sum.bak || ok=0; \
	cp /tmp/tikvsql-go.mod.bak go.mod; cp /tmp/tikvsql-go.sum.bak go.sum; \
	[ $$ok = 1 ] || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

## ci: what .ci/run checks on every submission, ending with the local-cluster suite.
ci: lint check-deps tidy-check test cover integration-ci

## integration-ci: start the local cluster, run the integration suite, always stop it.
integration-ci:
	$(MAKE) cluster
	$(MAKE) integration; status=$$?; $(MAKE) cluster-down; exit $$status

# The local PD + TiKV-compatible cluster (make cluster / cluster-down / integration) lives in
# its own module; its targets join `ci` when present.
-include tools/devcluster/cluster.mk
