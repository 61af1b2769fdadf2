package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// linkRE finds the target of an inline Markdown link or image,
// [text](target "title"), and of a reference definition, [ref]: target.
var linkRE = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)`)

// inlineCodeRE is a code span; links inside one are text, not links.
var inlineCodeRE = regexp.MustCompile("`+[^`]*`+")

// links returns the link targets of a Markdown file with their line
// numbers, leaving out fenced code blocks and code spans.
func links(t *testing.T, path string) map[int][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int][]string{}
	fence := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		line = inlineCodeRE.ReplaceAllString(line, "``")
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			out[n] = append(out[n], m[1]+m[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLinksStayInRepository: every relative link of README.md and
// docs/*.md names a file or directory of this repository (the repository
// stands alone: a link to ../shared or any path outside it fails, as does
// one to a file that is not there). Links with a scheme (https:, mailto:)
// and links within the page (#…) are not checked.
func TestLinksStayInRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	scheme := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	checked := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		for line, targets := range links(t, file) {
			for _, target := range targets {
				if scheme.MatchString(target) || strings.HasPrefix(target, "#") {
					continue
				}
				p, _, _ := strings.Cut(target, "#")
				p, _, _ = strings.Cut(p, "?")
				var abs string
				if strings.HasPrefix(p, "/") {
					abs = filepath.Join(root, filepath.FromSlash(p)) // from the repository's root, as forges read it
				} else {
					abs = filepath.Join(filepath.Dir(file), filepath.FromSlash(p))
				}
				inside, err := filepath.Rel(root, abs)
				if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
					t.Errorf("%s:%d: link %q leaves the repository", rel, line, target)
					continue
				}
				if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s:%d: link %q names no file of the repository", rel, line, target)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found: the parser finds none, so the test proves nothing")
	}
}

// TestLinkParser: the parser sees the links Markdown makes and nothing
// inside code.
func TestLinkParser(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "x.md")
	text := "See [a](docs/a.md#top) and ![img](b.png \"title\").\n" +
		"`[not](code.md)` here\n" +
		"```\n[not](fenced.md)\n```\n" +
		"[ref]: ref.md\n" +
		"[web](https://example.com/x)\n"
	if err := os.WriteFile(md, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := links(t, md)
	want := map[int][]string{1: {"docs/a.md#top", "b.png"}, 6: {"ref.md"}, 7: {"https://example.com/x"}}
	for n, w := range want {
		if strings.Join(got[n], " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want %q", n, got[n], w)
		}
	}
	for n := range got {
		if want[n] == nil {
			t.Errorf("line %d: unexpected links %q", n, got[n])
		}
	}
}

// TestReadmeIndexesDocs: README.md links every document of docs/ (its
// Documentation list), so that a new document cannot be left unfound.
func TestReadmeIndexesDocs(t *testing.T) {
	linked := map[string]bool{}
	for _, targets := range links(t, filepath.Join("..", "README.md")) {
		for _, target := range targets {
			p, _, _ := strings.Cut(target, "#")
			linked[filepath.Clean(filepath.FromSlash(p))] = true
		}
	}
	for _, pattern := range []string{"*.md", "*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !linked[filepath.Join("docs", f)] {
				t.Errorf("README.md does not link docs/%s: add it to the Documentation list", f)
			}
		}
	}
}

// anchor is the fragment GitHub gives a heading: lower case, punctuation
// dropped, spaces as hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestOperationsContents: the Contents list of docs/operations.md names
// every "## " section of the file, in order, and nothing else, so that
// the sections several people add stay findable.
func TestOperationsContents(t *testing.T) {
	b, err := os.ReadFile("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var sections, contents []string
	inContents, fenced := false, false
	entry := regexp.MustCompile(`^- \[[^\]]+\]\(#([^)]+)\)`)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced {
			continue
		}
		if h, ok := strings.CutPrefix(line, "## "); ok {
			inContents = h == "Contents"
			if !inContents {
				sections = append(sections, anchor(h))
			}
			continue
		}
		if m := entry.FindStringSubmatch(line); inContents && m != nil {
			contents = append(contents, m[1])
		}
	}
	if len(sections) < 4 {
		t.Fatalf("only %d sections found", len(sections))
	}
	if strings.Join(contents, " ") != strings.Join(sections, " ") {
		t.Errorf("docs/operations.md: Contents lists\n\t%v\nbut the sections are\n\t%v", contents, sections)
	}
}
