//go:build tools

// Package krew records the krew release the tests install kubectl-ferrolb with, and the
// validator krew's plugin index runs on every manifest.
package krew

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
