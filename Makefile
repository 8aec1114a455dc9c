# wake's two commands: `make run` and `make test`. Everything else is a
# step of those, or a longer run of its own.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# bin/wake is stripped (-s -w: no symbol table or DWARF, 105 MB down to
# 73 MB; panics still print file:line). Stripping is the linker's work, so
# it costs no compile. STRIP= keeps the symbols, for a debugger.
# BUILDFLAGS=-trimpath makes the build reproducible, as make image's is,
# but it is not the default: a -trimpath build shares no compiled package
# with go vet, go test or a plain go build, and compiles all ~900 again
# (7 minutes on 2 busy cores) the first time.
STRIP ?= -s -w
BUILDFLAGS ?=
LDFLAGS := $(STRIP) -X main.version=$(VERSION)
FUZZTIME ?= 30000x

.PHONY: all build run test vet fmt-check unit fuzz chaos clean

all: build

## build: the wake binary in bin/ and the example function next to its manifest
build:
	$(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o bin/wake ./cmd/wake
	$(GO) build -o examples/hello/hello ./examples/hello

## run: start wake serve on 127.0.0.1:8080 (admin :8081) with examples/hello applied
run: build
	./bin/wake serve --state-dir .wake -f examples/hello/hello.yaml

## test: vet, formatting, every test with the race detector, and a short fuzz of each parser.
## The console's browser test installs Debian's chromium (hack/install-chromium.sh)
## and must pass where it could; so must the container tests, as root, with
## runc and the CNI plugins from Debian (hack/install-containers.sh). The tests on a real Kubernetes control plane run too, and must pass, when
## hack/kube-testenv.sh can build it (up to 28 minutes on a fresh machine, the kubelet and containerd of its real node included,
## 0.1 s when cached); where it cannot, they skip.
test: vet fmt-check unit fuzz knativecmp

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	@if bin=$$(hack/kube-testenv.sh); then echo "kube-testenv: $$bin"; export WAKE_KUBE_REQUIRED=1; \
	else echo "kube-testenv: could not build the control plane; the Kubernetes tests skip"; fi; \
	if hack/install-chromium.sh; then export WAKE_BROWSER_REQUIRED=1; \
	else echo "install-chromium: no Chromium; the console's browser test skips"; fi; \
	if hack/install-containers.sh; then export WAKE_CONTAINERS_REQUIRED=1; \
	else echo "install-containers: no runc or CNI plugins (or not root); the container tests skip"; fi; \
	echo '$(GO) test -race -count=1 -timeout 20m ./...'; $(GO) test -race -count=1 -timeout 20m ./...

## knativecmp: wake's autoscaler against Knative serving's own KPA, in a
## module of its own so the wake binary never links Knative
.PHONY: knativecmp
knativecmp:
	cd autoscaler/knativecmp && $(GO) vet ./... && $(GO) test -race -count=1 ./...

## kube-testenv: build etcd, kube-apiserver, kube-controller-manager,
## kube-scheduler, kubectl, kubelet and kwok into ~/.cache/wake/kube-testenv/bin
## for internal/kubetest and, as root, install containerd, runc and the CNI
## plugins for its real node (up to 28 minutes cold; see the script)
.PHONY: kube-testenv test-kube
kube-testenv:
	hack/kube-testenv.sh

## test-kube: only the tests that run on the real control plane (every
## package whose tests import internal/kubetest), failing where it is missing
test-kube: kube-testenv
	WAKE_KUBE_REQUIRED=1 $(GO) test -race -count=1 -timeout 20m \
		$$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | \
			awk '/github.com\/wakefn\/wake\/internal\/kubetest( |$$)/ {print $$1}')

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./api/v1
	$(GO) test -run '^$$' -fuzz '^FuzzResolve$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./router
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./h1
	$(GO) test -run '^$$' -fuzz '^FuzzResponse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./h1
	$(GO) test -run '^$$' -fuzz '^FuzzAdmin$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./controlplane

## chaos: the e2e fault tests under load, longer and harder than make test runs
## them (a few minutes); each prints a row `chaos: FAULT sent=N answered=N ... lost=0`
chaos:
	$(GO) test -race -count=1 -timeout 30m -run 'Chaos|Overload' -v ./e2e/ -chaos.long

## bench-micro: the Go micro-benchmarks of the hot path (route lookup at
## 10,000 functions, weighted choice, the activator's instance choice, wake,
## the HTTP/1.1 parser), 3 runs each for benchstat
.PHONY: bench-micro
bench-micro:
	$(GO) test -run '^$$' -bench . -benchtime 1s -count 3 ./router ./activator ./autoscaler ./h1

## k6: the scale-out acceptance test, 200 rps GET/POST for 2 minutes from
## zero instances (p95 < 300ms, failures < 3%); installs k6 if missing
.PHONY: k6
k6:
	e2e/k6/run.sh

## image: wake's own OCI image, built without a Docker daemon (hack/image):
## a static binary on an empty base, running as the non-root user 65532, as
## bin/wake-image.tar (docker load, ctr import); PUSH=REGISTRY/wake:TAG also
## pushes it, e.g. make image PUSH=127.0.0.1:5000/wake:dev
.PHONY: image
image:
	$(GO) run ./hack/image -o bin/wake-image.tar -version $(VERSION) $(if $(PUSH),-push $(PUSH))

clean:
	rm -rf bin examples/hello/hello

## bench: the benchmark harness in bench/ (see docs/benchmarks.md), then
## bench-micro. The harness runs the warm path against the function directly
## and through nginx, cold start, burst, parallel scale and ramp from zero,
## and density; tables on stdout, results in bench/results/ (about 6
## minutes; BENCHFLAGS=-quick for under 2, BENCHFLAGS='-scenarios warm,cold'
## for a selection). Installs nginx if missing.
.PHONY: bench bench-harness
bench: bench-harness bench-micro

bench-harness:
	hack/install-nginx.sh
	$(GO) run ./bench $(BENCHFLAGS)
