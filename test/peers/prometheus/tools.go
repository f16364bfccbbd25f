//go:build tools

// Pins Prometheus 3 (module versions v0.3xx are the 3.x releases); build.sh builds it with `go build`.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
