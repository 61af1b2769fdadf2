package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BrowserTimeout bounds everything a test does with the browser that
// NewBrowser gives it, from the start of Chromium to the last action.
const BrowserTimeout = 60 * time.Second

// StepTimeout bounds one Do, so a step that waits in vain still leaves time
// to describe the page it was stuck on.
const StepTimeout = 15 * time.Second

// ChromiumPath returns the Chromium to run: $TOLK_CHROMIUM if set, else
// "chromium" or "chromium-browser" found on $PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("TOLK_CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", errors.New("TOLK_CHROMIUM=" + p + " is not an executable: " + err.Error())
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if found, err := exec.LookPath(name); err == nil {
			return found, nil
		}
	}
	return "", errors.New("no Chromium found: TOLK_CHROMIUM is unset and neither chromium nor chromium-browser is on $PATH")
}

// NewBrowser starts a fresh headless Chromium (its own profile under
// t.TempDir) and returns a chromedp context for one tab in it. The context
// ends after BrowserTimeout, or earlier if the test's deadline comes first;
// the browser is closed, and waited for, when the test ends.
//
// Without Chromium the test is skipped, or fails when CI=true.
func NewBrowser(t testing.TB) context.Context {
	t.Helper()
	path, err := ChromiumPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test: %v; install it with `apt-get install chromium` or point TOLK_CHROMIUM at it", err)
		}
		t.Skipf("browser test skipped: %v (install it with `apt-get install chromium` or set TOLK_CHROMIUM)", err)
	}

	// t.TempDir registers its removal now, so it runs after the cleanup
	// below has closed the browser and the profile is no longer in use.
	profile := filepath.Join(t.TempDir(), "chromium-profile")

	var output syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&output),
	)

	timeout := BrowserTimeout
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			// Leave a little time to report and clean up.
			timeout = min(timeout, time.Until(deadline)-5*time.Second)
		}
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium output (D-Bus noise left out):\n%s", withoutDBus(output.String()))
		}
	})
	t.Cleanup(func() {
		cancelTab()   // closes the tab and the browser
		cancelAlloc() // waits for the browser process to exit
		cancelTimeout()
	})

	// Start the browser now, so a broken installation fails here with its
	// own output and not in the middle of the test's first action.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return tabCtx
}

// Do runs the actions in the browser, bounded by StepTimeout. If one fails
// it fails the test, naming the step and showing the page the browser is on.
func Do(t testing.TB, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", step, err, DescribePage(ctx))
	}
}

// DescribePage tells where the browser is and what the page says, for
// failure messages.
func DescribePage(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(cannot read the page: " + err.Error() + ")"
	}
	text, err := innerText(ctx, "body")
	if err != nil {
		return "the browser is at " + loc + " (cannot read its text: " + err.Error() + ")"
	}
	return "the browser is at " + loc + ", which shows:\n" + text
}

// TextOf returns the visible text (innerText) of the first element that
// matches the CSS selector, waiting up to StepTimeout for one to exist.
//
// It reads the text in one script evaluation rather than with chromedp.Text,
// which finds a node and then asks for its text by node id: a DOM update in
// between (Chromium renumbers nodes after a redirect chain settles) fails
// that second call with "No node with given id found", a flake CI met.
func TextOf(t testing.TB, ctx context.Context, css string) string {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	for {
		text, err := innerText(stepCtx, css)
		if err == nil {
			return text
		}
		select {
		case <-stepCtx.Done():
			t.Fatalf("read the text of %s: %v\n%s", css, err, DescribePage(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errNoElement says the selector matched nothing (yet).
var errNoElement = errors.New("no element matches")

func innerText(ctx context.Context, css string) (string, error) {
	sel, err := json.Marshal(css)
	if err != nil {
		return "", err
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](
		`(() => { const e = document.querySelector(`+string(sel)+`); return e ? e.innerText : null })()`))
	if err != nil {
		return "", err
	}
	if text == nil {
		return "", errNoElement
	}
	return *text, nil
}

// Labelled selects the form control whose <label for> has the given text
// (after whitespace normalisation), as a user would find it. Unlike a CSS
// #id selector it fails when the label is missing or not tied to the control.
func Labelled(label string) chromedp.Search {
	l := xpathLiteral(label)
	return chromedp.Search(`//*[(self::input or self::select or self::textarea) and @id=//label[normalize-space()=` + l + `]/@for]`)
}

// Button selects the <button> with the given text.
func Button(text string) chromedp.Search {
	return chromedp.Search(`//button[normalize-space()=` + xpathLiteral(text) + `]`)
}

// Text selects an element whose own normalised text is the given one.
func Text(text string) chromedp.Search {
	return chromedp.Search(`//body//*[normalize-space(text())=` + xpathLiteral(text) + `]`)
}

// xpathLiteral quotes s as an XPath 1.0 string literal, which has no
// escapes: a string with both quote kinds becomes a concat().
func xpathLiteral(s string) string {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'"
	case !strings.Contains(s, `"`):
		return `"` + s + `"`
	}
	parts := strings.Split(s, "'")
	for i, p := range parts {
		parts[i] = "'" + p + "'"
	}
	return "concat(" + strings.Join(parts, `, "'", `) + ")"
}

// withoutDBus drops the lines in which Chromium complains that it has no
// D-Bus, as in containers, where it never has one.
func withoutDBus(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// syncBuffer collects the browser's output, written from chromedp's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
