// Package manifests holds deployable YAML and dashboards; its test checks
// that the dashboard only queries metrics wake exports.
package manifests
