//go:build tools

// Package lab records the Kubernetes commands the lab builds, so `go mod tidy` keeps their
// dependencies in go.sum.
package lab

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
