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
