# Performance measurements (docs/performance.md). Every run is bounded in
# time and sends traffic only to 127.0.0.1.
BENCH_FLAGS ?= -d 6s -warmup 500ms
# Admin DSN of a PostgreSQL server that may CREATE DATABASE; the bench
# creates a fresh database and drops it afterwards. Empty: SQLite only.
BENCH_PG ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

# A binary that says which commit it was built from (`tolk version`):
# -buildvcs=true records the revision even where GOFLAGS turns it off, and
# the version is stamped at link time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
.PHONY: build
build:
	go build -buildvcs=true -trimpath -ldflags "-X github.com/tolk-project/tolk/internal/cli.Version=$(VERSION)" -o tolk ./cmd/tolk

# Release artifacts in dist/ (docs/operations.md "Installing from the
# package"): a static binary (no cgo) per Linux architecture, stamped like
# `make build`, without DWARF (-s -w: a third smaller; panics still name
# functions and lines), and a Debian package of each, built by nfpm from
# packaging/nfpm.yaml. nfpm is a Go tool of its own module (tools/go.mod),
# so its dependencies stay out of tolk's go.mod; it fetches nothing but Go
# modules. A Debian version must start with a digit and has no '-' without
# a revision: v1.2.3-4-gabc becomes 1.2.3+4+gabc, an untagged commit
# 0~gitYYYYMMDDHHMMSS+abc (sorting before any release). File times are the
# commit's (SOURCE_DATE_EPOCH), so a rebuild gives the same package.
DIST_ARCHS ?= amd64 arm64
DEB_VERSION ?= $(shell v='$(VERSION)'; case "$$v" in (v[0-9]*) echo "$${v#v}" | tr - +;; (*) echo "0~git$$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0)+$$v" | tr - +;; esac)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
NFPM = go tool -modfile=tools/go.mod nfpm
.PHONY: dist
dist:
	rm -rf dist && mkdir dist
	for a in $(DIST_ARCHS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a go build -buildvcs=true -trimpath -ldflags "-s -w -X github.com/tolk-project/tolk/internal/cli.Version=$(VERSION)" -o dist/tolk-linux-$$a ./cmd/tolk || exit 1; \
	done
	sed -f packaging/tolk.yaml.sed tolk.example.yaml >dist/tolk.yaml
	for a in $(DIST_ARCHS); do \
		ARCH=$$a DEB_VERSION='$(DEB_VERSION)' SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target dist/ || exit 1; \
	done
	cd dist && sha256sum tolk-linux-* *.deb >SHA256SUMS

.PHONY: bench bench-go
bench:
	go run ./cmd/tolkbench $(BENCH_FLAGS) -soak 60s
	@if [ -n "$(BENCH_PG)" ] && go run ./cmd/tolkbench -pg '$(BENCH_PG)' -only none -idle 0 -d 100ms -warmup 0 >/dev/null 2>&1; then \
		go run ./cmd/tolkbench $(BENCH_FLAGS) -pg '$(BENCH_PG)'; \
	else echo "PostgreSQL not reachable at BENCH_PG: skipped"; fi

# Go benchmarks of the hot functions, in a form benchstat compares:
#   make bench-go > new.txt; benchstat old.txt new.txt
bench-go:
	go test -run '^$$' -bench 'RedactQuery|AccessLog' -benchmem -count 5 ./internal/kit/httpx/
	go test -run '^$$' -bench 'BareHandler|ClientCredentials|Introspection|MiddlewareChain|AuthVerifyHandler' -benchmem -count 5 ./internal/server/
	go test -run '^$$' -bench 'CreateAccessToken' -benchmem -count 5 ./internal/store/sqlite/
	go test -run '^$$' -bench . -benchmem -count 5 ./internal/core/platform/
	go test -run '^$$' -bench . -benchmem -count 5 ./internal/handler/forwardauth/
