//go:build tools

// Package monitoring records the promtool the tests check ferrolb's alerting rules with.
package monitoring

import _ "github.com/prometheus/prometheus/cmd/promtool"
