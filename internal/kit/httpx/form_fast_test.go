package httpx_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

// chunkReader gives data at most chunk bytes a read, and fails with
// errBroken once failAt bytes are read (failAt < 0: never). pos is how far
// it was read.
type chunkReader struct {
	data   []byte
	chunk  int
	failAt int
	pos    int
}

var errBroken = errors.New("connection broken")

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.failAt >= 0 && c.pos >= c.failAt {
		return 0, errBroken
	}
	if c.pos == len(c.data) {
		return 0, io.EOF
	}
	n := min(len(p), c.chunk, len(c.data)-c.pos)
	if c.failAt >= 0 {
		n = min(n, c.failAt-c.pos)
	}
	copy(p, c.data[c.pos:c.pos+n])
	c.pos += n
	return n, nil
}

var formMethods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodGet, http.MethodDelete}

type formCase struct {
	method, ctype, query string
	body                 []byte
	chunk, failAt        int
	unknownLength        bool
}

func (c formCase) request() (*http.Request, *chunkReader) {
	r := httptest.NewRequest(c.method, "/oauth/token", nil)
	r.URL.RawQuery = c.query
	r.Header["Content-Type"] = []string{c.ctype}
	body := &chunkReader{data: c.body, chunk: c.chunk, failAt: c.failAt}
	r.Body = io.NopCloser(body)
	r.ContentLength = int64(len(c.body))
	if c.unknownLength {
		r.ContentLength = -1
	}
	return r, body
}

// checkSame runs ParseForm and the standard library's r.ParseForm on two
// copies of one request and fails unless they agree: the error (status
// and message), PostForm (keys, values and their order), how much of the
// body was read, and r.Form once r.ParseForm fills it (the fast path
// leaves it for r.FormValue to fill).
func checkSame(t *testing.T, c formCase) {
	t.Helper()
	fast, fastBody := c.request()
	std, stdBody := c.request()
	errFast := httpx.ParseForm(httptest.NewRecorder(), fast)
	errStd := httpx.ParseFormStd(httptest.NewRecorder(), std)
	var inFast, inStd *httpx.InputError
	switch {
	case errFast == nil && errStd == nil:
	case errors.As(errFast, &inFast) && errors.As(errStd, &inStd):
		if *inFast != *inStd {
			t.Fatalf("%+v: error %+v, standard library %+v", c, inFast, inStd)
		}
	default:
		t.Fatalf("%+v: error %v, standard library %v", c, errFast, errStd)
	}
	if !reflect.DeepEqual(fast.PostForm, std.PostForm) {
		t.Fatalf("%+v: PostForm %q, standard library %q", c, fast.PostForm, std.PostForm)
	}
	if fastBody.pos != stdBody.pos {
		t.Fatalf("%+v: read %d bytes of the body, standard library %d", c, fastBody.pos, stdBody.pos)
	}
	e1, e2 := fast.ParseForm(), std.ParseForm()
	if (e1 == nil) != (e2 == nil) || !reflect.DeepEqual(fast.Form, std.Form) {
		t.Fatalf("%+v: then Form %q (%v), standard library %q (%v)", c, fast.Form, e1, std.Form, e2)
	}
}

// FuzzParseFormMatchesStdlib: ParseForm's own parser gives what the
// standard library gives (r.ParseForm behind MaxBytesReader, as ParseForm
// was before it) for any method, content type, body, query string, body
// length known or not, reads of any size and a body that fails part-way.
func FuzzParseFormMatchesStdlib(f *testing.F) {
	for _, s := range []struct {
		body, query string
	}{
		{"grant_type=client_credentials&scope=read", ""},
		{"grant_type=client_credentials&scope=read+write&scope=x", ""},
		{"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fa%2Fcb&code_verifier=v", ""},
		{"a=1&a=2&b=&=c&&d", ""},
		{"a=%zz", ""}, {"a%zz=1", ""}, {"a;b=c", ""}, {"a=1;b", ""},
		{"token=x", "token=y"}, {"token=x", "a=%zz"}, {"token=x", "a;b"},
		{"", ""}, {"=", ""}, {"&", ""}, {"a", ""}, {"é=ü&%C3%A9=%FF", ""},
		{strings.Repeat("a=1&", 40), ""},
	} {
		f.Add(uint8(0), "application/x-www-form-urlencoded", []byte(s.body), s.query, uint8(0), int16(-1), false)
	}
	f.Add(uint8(1), "application/x-www-form-urlencoded; charset=UTF-8", []byte("a=1"), "", uint8(1), int16(-1), true)
	f.Add(uint8(3), "application/x-www-form-urlencoded", []byte("a=1"), "", uint8(2), int16(-1), false)
	f.Add(uint8(0), "application/x-www-form-urlencoded", []byte("grant_type=client_credentials"), "", uint8(3), int16(5), false)
	f.Add(uint8(0), "application/x-www-form-urlencoded", []byte("a=1"), "", uint8(0), int16(3), true)
	f.Add(uint8(0), "multipart/form-data; boundary=x", []byte("--x--\r\n"), "", uint8(0), int16(-1), false)
	f.Fuzz(func(t *testing.T, method uint8, ctype string, body []byte, query string, chunk uint8, failAt int16, unknownLength bool) {
		checkSame(t, formCase{
			method: formMethods[int(method)%len(formMethods)], ctype: ctype, query: query, body: body,
			chunk: int(chunk)%64 + 1, failAt: int(failAt), unknownLength: unknownLength,
		})
	})
}

// TestParseFormLargeBodiesMatchStdlib: at and past MaxBody, with the
// length known or not, read whole or in pieces, both give the same.
func TestParseFormLargeBodiesMatchStdlib(t *testing.T) {
	exact := "a=" + strings.Repeat("x", httpx.MaxBody-2)
	for _, body := range []string{exact, exact + "y", exact + strings.Repeat("y", 5000), "a=%41&" + exact[6:]} {
		for _, unknown := range []bool{false, true} {
			for _, chunk := range []int{1 << 20, 4096, 777} {
				checkSame(t, formCase{method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
					body: []byte(body), chunk: chunk, failAt: -1, unknownLength: unknown})
			}
		}
	}
	// A body over MaxBody is refused with 413 on either path.
	r, _ := formCase{method: http.MethodPost, ctype: "application/x-www-form-urlencoded", body: []byte(exact + "y"), chunk: 1 << 20, failAt: -1}.request()
	var in *httpx.InputError
	if err := httpx.ParseForm(httptest.NewRecorder(), r); !errors.As(err, &in) || in.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("MaxBody+1: %v", err)
	}
}

// TestParseFormTooLargeClosesConnection: over a real connection, a body
// past MaxBody is answered 413 and the server closes the connection
// after it (MaxBytesReader's signal to net/http), which the fast path
// keeps by replaying what it read through MaxBytesReader.
func TestParseFormTooLargeClosesConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in *httpx.InputError
		if err := httpx.ParseForm(w, r); errors.As(err, &in) {
			w.WriteHeader(in.Status)
			return
		}
		_, _ = io.WriteString(w, r.PostForm.Get("a"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		body      string
		status    int
		wantClose bool
	}{
		{"a=" + strings.Repeat("x", httpx.MaxBody-2), http.StatusOK, false},
		{"a=" + strings.Repeat("x", httpx.MaxBody-1), http.StatusRequestEntityTooLarge, true},
	} {
		resp, err := srv.Client().Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Close != tc.wantClose {
			t.Fatalf("body of %d bytes: %d, close %v; want %d, close %v", len(tc.body), resp.StatusCode, resp.Close, tc.status, tc.wantClose)
		}
		if tc.status == http.StatusOK && len(got) != httpx.MaxBody-2 {
			t.Fatalf("value of %d bytes, want %d", len(got), httpx.MaxBody-2)
		}
	}
}

// TestParseFormAllocations pins what a token request's form costs: the
// body's string, the map (two) and the values' array; r.ParseForm took
// 13 (issue 20 point 5, docs/performance.md).
func TestParseFormAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops buffers")
	}
	const body = "grant_type=client_credentials&scope=read"
	rd := strings.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	r.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
	w := httptest.NewRecorder()
	rc := io.NopCloser(rd)
	got := testing.AllocsPerRun(100, func() {
		rd.Reset(body)
		r.Body, r.PostForm, r.Form = rc, nil, nil
		if err := httpx.ParseForm(w, r); err != nil || r.PostForm.Get("scope") != "read" {
			t.Fatalf("%v %q", err, r.PostForm)
		}
	})
	if got > 4 {
		t.Fatalf("%v allocations, want at most 4", got)
	}
}
