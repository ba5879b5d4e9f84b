//go:build tools

// Package tools pins the helm command built by ../build.sh (the Helm chart test).
package tools

import _ "helm.sh/helm/v4/cmd/helm"
