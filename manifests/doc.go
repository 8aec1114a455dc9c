// Package manifests holds what is deployed next to wake rather than built:
// the wake.dev/v1 CRDs (crds/), the Kubernetes install (install/: the
// namespace, RBAC, the controller and gateway) and the Grafana dashboard
// (dashboards/). It has no Go code of its own; its tests keep the YAML
// honest: the CRD schemas agree with api/v1's types both ways and pass the
// API server's own CRD validation, objects wake accepts the CRDs accept
// (and refuse what wake refuses), every install object decodes strictly
// into its Kubernetes type with least-privilege RBAC, and the dashboard
// queries only metrics wake exports.
package manifests
