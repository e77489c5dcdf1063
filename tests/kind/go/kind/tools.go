//go:build tools

// Package kind records the kind command the kind node image builds.
package kind

import (
	_ "sigs.k8s.io/kind"
)
