//go:build tools

// Package kind records the crictl the kind node image builds.
package kind

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
