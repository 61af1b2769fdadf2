// Package docs holds tolk's documentation that programs read: the OpenAPI
// document of every HTTP endpoint, embedded so that tests (and tools)
// check the very file readers get, without a path relative to the caller.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the OpenAPI 3.1 document of tolk's HTTP
// surface (internal/server's TestOpenAPI* hold it to the server).
//
//go:embed openapi.yaml
var OpenAPI []byte
