# pointfs — the commands a developer needs. `make` builds bin/pointfs.
GO       ?= go
MNT      ?= /mnt/point
GOFILES  := $(shell find . -name '*.go' -not -path './bin/*')

.PHONY: all build run test bench lint fuzz clean

all: build

build: bin/pointfs

bin/pointfs: $(GOFILES) go.mod go.sum
	$(GO) build -o bin/pointfs ./cmd/pointfs

# Mount with the embedded devnet (nothing to configure) and show a status.
run: build
	mkdir -p $(MNT)
	bin/pointfs mount $(MNT)
	@echo "mounted on $(MNT): cp files in, getfattr -d -m point FILE, then bin/pointfs unmount $(MNT)"

# The whole suite, as CI runs it. Readers share reference-counted chunk
# buffers (upload/read.go), and directory status reads a cache that every
# transaction updates (upload/brief.go): the tests of those run under the
# race detector too.
test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	$(GO) test -count=1 -race -run 'TestConcurrentReadsShareBuffers|TestFlight|TestReadCache|TestBrief' ./upload

# Benchmarks: Go benchmarks of the hot paths, then the end-to-end scripts
# that compare pointfs with the native disk in the same run.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./meta/... ./upload/... ./provider/...
	bash bench/upload.sh
	@if [ -f bench/mount.sh ]; then bash bench/mount.sh; fi
	bash bench/compare.sh
	bash bench/recover.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) mod tidy -diff

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReadMsg -fuzztime 60s ./provider/wire

clean:
	rm -rf bin
