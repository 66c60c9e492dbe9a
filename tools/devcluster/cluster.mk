# Make targets for the local PD + TiKV-compatible development cluster.
# Included from the root Makefile with `-include tools/devcluster/cluster.mk`;
# also usable alone: make -f tools/devcluster/cluster.mk cluster
#
#   make cluster        build and start PD + stores + the newest-API PD shim in
#                       the background; writes .cluster/pd-addrs (the
#                       TIKV_PD_ADDRS value) and .cluster/pd-shim-addrs
#   make integration    client-go conformance check + `go test -race` over the
#                       main module with TIKV_PD_ADDRS exported
#   make cluster-down   stop it (safe when nothing runs)
#   make cluster-workload  mixed 64-goroutine workload (WORKLOAD_DURATION=2m)

DEVCLUSTER_DIR   := tools/devcluster
DEVCLUSTER_BIN   := $(CURDIR)/$(DEVCLUSTER_DIR)/bin
CLUSTER_STATE    ?= $(CURDIR)/.cluster
CLUSTER_STORES   ?= 3
# API v2 keyspace created at start-up (empty = none); tests read it from
# TIKV_KEYSPACE, which the integration target exports.
CLUSTER_KEYSPACE ?= tikvsql
CLUSTER_ARGS     ?=
WORKLOAD_DURATION ?= 2m
# TiDB v8.5.6 refuses to start under Go 1.26 (pkg/util/hack checks the Go
# version because it reads map internals); the stores and the tests linking
# TiDB are built as if by go1.25. See tools/devcluster/README.md.
DEVCLUSTER_LDFLAGS := -X runtime.buildVersion=go1.25.99
DEVCLUSTER_GO    ?= nice go

.PHONY: cluster cluster-build cluster-down integration cluster-conformance cluster-workload

cluster-build:
	cd $(DEVCLUSTER_DIR)/pd && $(DEVCLUSTER_GO) build -o $(DEVCLUSTER_BIN)/devcluster-pd .
	cd $(DEVCLUSTER_DIR)/store && $(DEVCLUSTER_GO) build -ldflags='$(DEVCLUSTER_LDFLAGS)' -o $(DEVCLUSTER_BIN)/devcluster-store .
	cd $(DEVCLUSTER_DIR)/store && $(DEVCLUSTER_GO) build -o $(DEVCLUSTER_BIN)/devcluster-workload ./workload
	cd $(DEVCLUSTER_DIR)/pdshim && $(DEVCLUSTER_GO) build -o $(DEVCLUSTER_BIN)/devcluster-pdshim .

cluster: cluster-build
	$(DEVCLUSTER_DIR)/devcluster.sh start --state $(CLUSTER_STATE) --stores $(CLUSTER_STORES) \
		$(if $(CLUSTER_KEYSPACE),--keyspace $(CLUSTER_KEYSPACE)) $(CLUSTER_ARGS)

cluster-down:
	$(DEVCLUSTER_DIR)/devcluster.sh stop --state $(CLUSTER_STATE)

# cluster-conformance runs the official client-go against the cluster.
cluster-conformance:
	@test -s $(CLUSTER_STATE)/pd-addrs || { echo "no cluster running: make cluster" >&2; exit 1; }
	cd $(DEVCLUSTER_DIR)/store && $(DEVCLUSTER_GO) test -ldflags='$(DEVCLUSTER_LDFLAGS)' -race -count=1 -v . ./rawkv
	cd $(DEVCLUSTER_DIR)/store && TIKV_PD_ADDRS=$$(cat $(CLUSTER_STATE)/pd-addrs) \
		TIKV_KEYSPACE=$$(cat $(CLUSTER_STATE)/keyspace 2>/dev/null) \
		$(DEVCLUSTER_GO) test -count=1 -v ./conformance
	cd $(DEVCLUSTER_DIR)/pdshim && TIKV_PD_ADDRS=$$(cat $(CLUSTER_STATE)/pd-addrs) \
		$(DEVCLUSTER_GO) test -count=1 -v .
	@echo "conformance again, through the newest-API PD shim:"
	cd $(DEVCLUSTER_DIR)/store && TIKV_PD_ADDRS=$$(cat $(CLUSTER_STATE)/pd-shim-addrs) \
		TIKV_KEYSPACE=$$(cat $(CLUSTER_STATE)/keyspace 2>/dev/null) \
		$(DEVCLUSTER_GO) test -count=1 ./conformance

integration: cluster-conformance
	TIKV_PD_ADDRS=$$(cat $(CLUSTER_STATE)/pd-addrs) TIKV_KEYSPACE=$$(cat $(CLUSTER_STATE)/keyspace 2>/dev/null) \
		$(DEVCLUSTER_GO) test -race -count=1 ./...

cluster-workload:
	@test -s $(CLUSTER_STATE)/pd-addrs || { echo "no cluster running: make cluster" >&2; exit 1; }
	$(DEVCLUSTER_BIN)/devcluster-workload -pd $$(cat $(CLUSTER_STATE)/pd-addrs) \
		-duration $(WORKLOAD_DURATION) -pids $(CLUSTER_STATE)/pd.pid,$(CLUSTER_STATE)/store.pid
