//go:build tools

// Pins the Jaeger all-in-one program; build.sh builds it with `go build`.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
