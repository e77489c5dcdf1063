//go:build tools

// Package lab records the etcd command the lab builds.
package lab

import _ "go.etcd.io/etcd/server/v3"
