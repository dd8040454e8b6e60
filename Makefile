# switchback — every task a developer or CI runs. `make help` lists them.
#
# The two commands a new user needs:
#   make demo   the main job, locally, no AWS needed
#   make test   every test, including the integration tests against real MariaDB servers
#
# Both install what they need when it is missing: Go modules, mariadb-server from apt, and
# dynalite (a DynamoDB-compatible server for the state-store tests) from npm.

GO      ?= go
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)
PKGS    := ./...
# Integration tests start real MariaDB servers; CI=true turns a missing server into a failure.
TEST_TIMEOUT ?= 9m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: deps deps-go deps-mariadb deps-node
deps: deps-go deps-mariadb deps-node ## install everything the tests and the demo need

deps-go:
	@$(GO) mod download

deps-mariadb:
	@if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then :; else \
		echo "==> mariadb-server is missing: installing it from apt (about 15 s)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mariadb-server >/dev/null && \
		echo "==> mariadb-server installed: $$(/usr/sbin/mariadbd --version)"; \
	fi

# What `make bench` needs besides Go modules: MariaDB and dynalite (its sections run real servers
# and the real function binaries against local fakes), and percona-toolkit, whose pt-heartbeat is
# the lag measurement switchback's probe is compared with.
.PHONY: deps-bench
deps-bench: deps-mariadb deps-node
	@if command -v pt-heartbeat >/dev/null 2>&1; then :; else \
		echo "==> percona-toolkit is missing: installing it from apt (for pt-heartbeat)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq percona-toolkit >/dev/null && \
		echo "==> percona-toolkit installed: $$(pt-heartbeat --version)"; \
	fi

# dynalite, pinned in tools/dynalite/package-lock.json. --ignore-scripts: its LevelDB
# dependency ships prebuilt binaries (and dynalite keeps tables in memory anyway).
DYNALITE := tools/dynalite/node_modules/.bin/dynalite
deps-node:
	@if [ -x $(DYNALITE) ]; then :; else \
		echo "==> dynalite is missing: installing it from npm (a few seconds)"; \
		npm ci --prefix tools/dynalite --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && \
		echo "==> dynalite installed: $$(node -p 'require("./tools/dynalite/node_modules/dynalite/package.json").version')"; \
	fi

# The Lambda functions, each built for linux/arm64 into build/<name>/bootstrap.
FUNCTIONS := capture reconcile configure monitor teardown preflight rollback verify

.PHONY: build build-functions
build: deps-go build-functions ## the CLI into bin/, every Lambda function into build/<name>/bootstrap (linux/arm64)
	$(GO) build -o bin/switchback ./cmd/switchback

build-functions: deps-go
	@for fn in $(FUNCTIONS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o build/$$fn/bootstrap ./functions/$$fn || exit 1; \
		echo "build/$$fn/bootstrap  $$(du -h build/$$fn/bootstrap | cut -f1)"; \
	done

# The CDK stack, synthesized offline (no AWS credentials, no CDK CLI) into
# cdk.out/*.template.json from cdk.json's context. cdk-nag errors fail it.
.PHONY: synth
synth: build-functions ## synthesize the CDK stack into cdk.out/ (offline)
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(GO) run ./infra

.PHONY: lint
lint: deps-go ## go vet and gofmt
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags 'integration soak' ./...
	@out=$$(gofmt -l .); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: test test-unit test-integration
test: deps lint ## every test: unit and integration against real MariaDB servers
	$(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-unit: deps-go ## unit tests only (plain go test ./...)
	$(GO) test -count=1 $(PKGS)

test-integration: deps ## all tests, integration included, without lint
	$(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# bench: the micro-benchmarks (event decoding, status parsing, statement building), then the
# end-to-end benchmarks against real MariaDB servers (tools/bench: configure latency, rollback
# write downtime, lag accuracy, monitor cost, footprint), each next to its bare-SQL floor.
# Rewrites BENCHMARKS.md; takes about 15 minutes on 2 cores. bench-quick is a smoke run of
# the same (a couple of minutes) that prints the table and writes nothing.
.PHONY: bench bench-quick
bench: deps-go deps-mariadb deps-bench ## all benchmarks; rewrites BENCHMARKS.md (about 15 min)
	$(GO) test -run '^$$' -bench . -benchmem ./shared/...
	$(GO) run ./tools/bench -o BENCHMARKS.md

bench-quick: deps-go deps-mariadb deps-bench ## smoke run of the end-to-end benchmarks (writes nothing)
	$(GO) run ./tools/bench -quick

# soak: the long fault runs behind RELIABILITY.md (a fast subset of each runs in make test).
# Each part is its own target; SOAK_TIMEOUT bounds each go test run.
SOAK_TIMEOUT ?= 60m
.PHONY: soak soak-kill soak-faults soak-events soak-fuzz
soak: soak-kill soak-faults soak-events soak-fuzz ## long fault runs: killed cutovers, hung/restarted servers, event chaos, fuzzing (RELIABILITY.md)

# soak-kill: the real CLI killed (SIGKILL) at kill points chosen at random until
# SOAK_KILL_CUTOVERS (default 100) cutovers were killed, on one pair rolled back and
# forth under an application write load, each run again to completion (SOAK_SEED repeats
# a run); then the rollback and configure bootstraps killed at every kill point, each on a
# fresh deployment. One line per run, one figures line each (reliability/kill.md).
soak-kill: deps ## kill switchback at every kill point: >= 100 killed cutovers under load, then the bootstraps
	$(GO) test -tags 'integration soak' -count=1 -p 1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoakKill' ./cmd/switchback/ ./functions/

# soak-faults: server faults on real servers (reliability/faults.md): production hung (SIGSTOP)
# or restarted (crash, clean) at every cutover point, restarted after every configure step, the
# rollback target restarted while it replicates, the replication connection cut, status on a hung
# server; each repeated SOAK_FAULT_ROUNDS times (default 3). One go test run per family, each
# bounded by SOAK_TIMEOUT; every run logs a FAULT TALLY.
SOAK_FAULT_TESTS := ProductionHung ProductionHungBeyondAbort FenceInFlight ProductionRestartedDuringCutover \
	ProductionRestartedDuringConfigure RollbackTargetRestart ReplicationConnectionCut StatusOnHungServer
soak-faults: deps ## hung and restarted servers, a cut replication connection: every cutover point x each fault, repeated
	@for t in $(SOAK_FAULT_TESTS); do \
		echo "==> TestSoakFaults$$t"; \
		$(GO) test -tags 'integration soak' -count=1 -v -timeout $(SOAK_TIMEOUT) -run "^TestSoakFaults$$t\$$" ./shared/replication/ || exit 1; \
	done

# soak-events: SOAK_EVENTS_SEQUENCES (default 120) randomized event sequences from
# SOAK_EVENTS_SEED (random when unset; printed, to rerun a failure) and the races, through the
# real capture/reconcile/configure bootstraps (reliability/events.md). Ends with a figures line.
soak-events: deps
	@log=$$(mktemp); \
	$(GO) test -tags 'integration soak' -run '^TestSoakEvents$$' -count=1 -v -timeout $(SOAK_TIMEOUT) ./functions/ >$$log 2>&1; \
	status=$$?; \
	if [ $$status -eq 0 ]; then grep -E '^(soak-events|ok )' $$log; else cat $$log; fi; \
	rm -f $$log; exit $$status

# soak-fuzz: every input decoder's fuzz target for FUZZTIME each (default 60s), one
# `go test -fuzz` run per package and target (reliability/input-and-secrets.md). Seed
# corpora are committed under each package's testdata/fuzz/<target>/; new crashers land
# there too, and then fail `make test` until fixed.
FUZZ_TARGETS := \
	./shared/rdsevent:FuzzDecode \
	./shared/rdsevent:FuzzDecodeEnvelope \
	./shared/rdsevent:FuzzParseMessage \
	./shared/orchestrate:FuzzDecodeRollbackRequest \
	./shared/orchestrate:FuzzDecodeVerifyRequest \
	./shared/orchestrate:FuzzDecodeTeardownRequest \
	./shared/orchestrate:FuzzConfigureRequest \
	./shared/orchestrate:FuzzCapture \
	./shared/preflight:FuzzHandle \
	./cmd/switchback:FuzzExplainEvent
soak-fuzz: deps-go ## fuzz every input decoder (event, payloads, explain-event) for FUZZTIME each (default 60s)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "==> $$fn ($$pkg) for $${FUZZTIME:-60s}"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${FUZZTIME:-60s} -timeout $(SOAK_TIMEOUT) $$pkg || exit 1; \
	done

.PHONY: fuzz
fuzz: deps-go ## fuzz the RDS event decoder for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $${FUZZTIME:-30s} ./shared/rdsevent/

.PHONY: demo
demo: deps build ## the main job, locally: see README
	@./bin/switchback demo

.PHONY: clean
clean: ## remove build output
	rm -rf bin build cdk.out
