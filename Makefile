# kubectl-feastflow — the front door. Target names are a promise to users and scripts.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := build

export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/feastflow/kubectl-feastflow
LDFLAGS := -s -w -X $(PKG)/pkg/plugin.version=$(VERSION) -X $(PKG)/pkg/plugin.commit=$(COMMIT) -X $(PKG)/pkg/plugin.date=$(DATE)

CACHE_BIN := $(CURDIR)/.cache/bin
TOOLS_BIN := $(CURDIR)/.cache/tools
CLUSTER_STATE ?= $(CURDIR)/.cluster

.PHONY: build
build: ## build bin/kubectl-feastflow
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-feastflow ./cmd/kubectl-feastflow

.PHONY: cluster-bins
cluster-bins: ## build the control-plane binaries into .cache/bin when missing or re-pinned
	hack/build-cluster-bins.sh $(CACHE_BIN)

.PHONY: cluster-up
cluster-up: cluster-bins ## start the local cluster (admin kubeconfig at .cluster/kubeconfig)
	go run ./hack/localcluster up --bin $(CACHE_BIN) --state $(CLUSTER_STATE)

.PHONY: cluster-down
cluster-down: ## stop the local cluster's processes (idempotent)
	go run ./hack/localcluster down --state $(CLUSTER_STATE)

.PHONY: cluster-status
cluster-status: ## show the local cluster's processes and health
	go run ./hack/localcluster status --state $(CLUSTER_STATE)

.PHONY: test
test: build cluster-bins ## unit tests and the e2e suite against a local cluster
	go test -race ./pkg/... ./cmd/... ./internal/... ./bench/...
	FEASTFLOW_BIN=$(CACHE_BIN) FEASTFLOW_PLUGIN=$(CURDIR)/bin/kubectl-feastflow go test -count=1 -timeout 40m ./test/e2e/...

.PHONY: test-unit
test-unit: ## unit tests only
	go test -race ./pkg/... ./cmd/... ./internal/... ./bench/...

.PHONY: lint
lint: ## golangci-lint (pinned), go mod tidy check
	hack/lint.sh

.PHONY: demo
demo: build cluster-up ## build, start the cluster, apply FeastFlow and walk through the verbs
	hack/demo.sh

.PHONY: dist
dist: ## goreleaser snapshot, validate the krew manifest, install it with a real krew
	hack/dist.sh

.PHONY: docs
docs: ## regenerate the command reference docs/commands from the commands' help (make test checks it)
	go run ./hack/gendocs docs/commands

.PHONY: krew-e2e
krew-e2e: ## install, upgrade, uninstall from a local krew index (KREW_E2E_TARGETS=host: this platform only, fast)
	hack/krew-e2e.sh

.PHONY: bench
bench: bench-cluster bench-startup bench-switch bench-rollout bench-diagnose bench-drain bench-statefulset ## every benchmark

bench-%: build cluster-bins
	bench/$*.sh

.PHONY: clean
clean:
	rm -rf bin dist
