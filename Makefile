# recstream: the two set-up commands of the README, and helpers.
#   make demo   build (release) and run the demo on the embedded broker
#   make test   the whole test suite (what CI runs)
# Both install the Debian packages they need when missing (apt-get; run as root or with sudo).

DEB_PACKAGES := librdkafka-dev librocksdb-dev pkg-config kcat chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift
SCHEMATHESIS_VERSION := 4.32.5

.PHONY: deps test-deps build release demo test bench clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The HTTP API fuzzer the test suite runs against Schemas/openapi.yaml (from PyPI).
test-deps: deps
	@command -v schemathesis >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product recstream

demo: release
	.build/release/recstream demo

# Builds everything (the integration tests run the recstream binary), then runs every test.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: release
	.build/release/recstream bench --output docs/benchmarks.md

clean:
	rm -rf .build
