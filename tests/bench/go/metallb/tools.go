//go:build tools

// Package bench records the MetalLB commands the benchmarks measure ferrolb against. Nothing of
// MetalLB is part of ferrolb: `make bench` builds these from the Go module proxy.
package bench

import (
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
)
