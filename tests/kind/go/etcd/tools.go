//go:build tools

// Package kind records the etcd server (the version kubeadm deploys) the kind node image builds.
package kind

import (
	_ "go.etcd.io/etcd/server/v3"
)
