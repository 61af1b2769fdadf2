// Package e2e holds end-to-end tests: they start a complete tolk server
// (internal/testutil/tolktest) and drive it the way users do, through a
// real headless Chromium (chromedp) and the HTTP API.
//
// The browser tests need Chromium. They look for it in $TOLK_CHROMIUM,
// then for "chromium" and "chromium-browser" on $PATH. Without it they are
// skipped, except when CI=true, where a missing browser fails the run
// (install it with `apt-get install chromium`).
package e2e
