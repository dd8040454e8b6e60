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
FUNCTIONS := capture reconcile configure monitor teardown preflight rollback

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
	@out=$$(gofmt -l .); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: test test-unit test-integration
test: deps lint ## every test: unit and integration against real MariaDB servers
	$(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-unit: deps-go ## unit tests only (plain go test ./...)
	$(GO) test -count=1 $(PKGS)

test-integration: deps ## all tests, integration included, without lint
	$(GO) test -tags integration -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

.PHONY: bench
bench: deps-go ## benchmarks: event decoding, status parsing, statement building
	$(GO) test -run '^$$' -bench . -benchmem ./shared/...

.PHONY: fuzz
fuzz: deps-go ## fuzz the RDS event decoder for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-30s} ./shared/rdsevent/

.PHONY: demo
demo: deps build ## the main job, locally: see README
	@./bin/switchback demo

.PHONY: clean
clean: ## remove build output
	rm -rf bin build cdk.out
