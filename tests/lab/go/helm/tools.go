//go:build tools

// Package lab records the helm command the lab builds.
package lab

import _ "helm.sh/helm/v3/cmd/helm"
