//go:build tools

// Package tools pins actionlint, the linter of the GitHub Actions workflows, for `make setup`.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
