//go:build tools

// Package kind records the CoreDNS server the kind node image builds.
package kind

import (
	_ "github.com/coredns/coredns"
)
