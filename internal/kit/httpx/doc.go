// Package httpx holds tolk's HTTP plumbing shared by every dialect: the
// middleware chain (request ids, panic recovery, access logs with secrets
// redacted, security headers, metrics), client-address resolution behind
// trusted proxies, and strict request-body decoding.
package httpx
