//go:build tools

// Package tools pins the Go-built chart tools (helm) so that go.mod records their versions.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
