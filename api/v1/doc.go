// Package v1 owns wake's resource types (Function, Revision), their
// defaults, their validation, and the decoding of manifests into them:
// wake.dev/v1 and Knative serving.knative.dev/v1 manifests, YAML or JSON,
// strictly, with every problem reported at once with its field path and line.
package v1
