package oauth

// BasicAuth is basicAuth, for the tests that compare it with r.BasicAuth.
var BasicAuth = basicAuth
