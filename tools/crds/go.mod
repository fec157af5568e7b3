// CustomResourceDefinitions of the APIs the chart's optional objects use (ServiceMonitor,
// PrometheusRule, ClusterIssuer, HTTPRoute), installed into the test control plane by the chart
// tests. Only the YAML inside these modules is used; nothing is built from them, so this module
// is not tidied (tidy would drop requirements no Go code imports).
module github.com/flightdeck/flightdeck/tools/crds

go 1.26.0

require (
	github.com/cert-manager/cert-manager v1.21.2
	github.com/prometheus-operator/prometheus-operator v0.85.0
	sigs.k8s.io/gateway-api v1.6.3
)
