#!/usr/bin/env bash
# Builds the real peers the tests talk to (Jaeger all-in-one, an OpenTelemetry Collector, Prometheus 3)
# from their Go modules, into a cache folder that later runs reuse:
#
#   bash test/peers/build.sh            # prints the folder holding jaeger, otelcol, prometheus
#
# The folder is keyed by a hash of the modules' go.mod/go.sum and main.go (test/helpers/peers.ts
# computes the same key), so a changed module builds anew and a stale binary is never used; the
# folders of other keys stay (other checkouts may use them) and can be deleted by hand.
# CARDLINK_PEERS_CACHE moves the cache (default /var/cache/cardlink-otel-peers); GOCACHE and
# GOMODCACHE live under it so a second build on the same machine is quick.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CARDLINK_PEERS_CACHE:-/var/cache/cardlink-otel-peers}
command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
export GOPATH="$cache/gopath" GOCACHE="$cache/gocache" GOMODCACHE="$cache/gomod" GOFLAGS=-trimpath GOTOOLCHAIN=local CGO_ENABLED=0

# Keep this list in step with KEY_FILES in test/helpers/peers.ts.
key=$(cd "$here" && cat jaeger/go.mod jaeger/go.sum otelcol/go.mod otelcol/go.sum otelcol/main.go \
  prometheus/go.mod prometheus/go.sum | sha256sum | cut -c1-16)
bin="$cache/bin-$key"
built() { [ -x "$bin/jaeger" ] && [ -x "$bin/otelcol" ] && [ -x "$bin/prometheus" ]; }
if built; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
# One build at a time on a machine (several checkouts may share the cache).
exec 9>"$cache/.lock"
flock 9
if built; then echo "$bin"; exit 0; fi
tmp=$(mktemp -d "$cache/build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# One at a time: each build already uses every core.
(cd "$here/jaeger" && go build -o "$tmp/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
echo "built jaeger ($((SECONDS - start)) s)" >&2
(cd "$here/otelcol" && go build -o "$tmp/otelcol" .)
echo "built otelcol ($((SECONDS - start)) s)" >&2
(cd "$here/prometheus" && go build -o "$tmp/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
echo "built prometheus ($((SECONDS - start)) s)" >&2
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
echo "$bin"
