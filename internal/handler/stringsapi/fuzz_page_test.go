package stringsapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/tolk-project/tolk/internal/kit/httpx"
)

var linkRE = regexp.MustCompile(`^<https://id\.example\.com/v2/authorizations\?page=(\d+)&per_page=(\d+)>; rel="(first|prev|next|last)"$`)

// FuzzPagination: page and per_page of GET /v2/authorizations from any
// query string. Accepted values are the integers 1..maxPage given once
// (per_page then capped at MaxPerPage), anything else a 400 *InputError
// naming the parameter; the offset cannot overflow; and the Link and
// Pagination headers for any total are well-formed and consistent: first
// and last always, prev only after page 1, next only before the last page,
// every linked page between 1 and last.
func FuzzPagination(f *testing.F) {
	for _, s := range []string{
		"", "page=2&per_page=10", "page=0", "page=-1", "page=1000001", "page=1000000&per_page=100",
		"page=1&page=2", "per_page=abc", "per_page=101", "page=%2B3", "page=+3", "page=03", "page=9223372036854775808",
		"page=1e3", "page=", "page=1;per_page=2", "page=%zz",
	} {
		f.Add(s, uint32(0))
		f.Add(s, uint32(1234))
	}
	h := &Handler{Issuer: "https://id.example.com/"}
	f.Fuzz(func(t *testing.T, rawQuery string, total uint32) {
		q, _ := url.ParseQuery(rawQuery)
		vals := map[string]int{}
		for _, name := range []string{"page", "per_page"} {
			def := map[string]int{"page": 1, "per_page": DefaultPerPage}[name]
			n, err := positive(q, name, def)
			if err != nil {
				var in *httpx.InputError
				if !errors.As(err, &in) || in.Status != http.StatusBadRequest || in.Field != name {
					t.Fatalf("%s from %q: error %v", name, rawQuery, err)
				}
				if vs, ok := q[name]; ok && len(vs) == 1 {
					if a, aerr := strconv.Atoi(vs[0]); aerr == nil && a >= 1 && a <= maxPage {
						t.Fatalf("%s=%q refused", name, vs[0])
					}
				}
				return
			}
			vs, given := q[name]
			switch {
			case !given && n != def:
				t.Fatalf("%s absent from %q gave %d", name, rawQuery, n)
			case given && (len(vs) != 1 || strconv.Itoa(n) != strconv.Itoa(mustAtoi(t, vs[0]))):
				t.Fatalf("%s=%q gave %d", name, vs, n)
			case n < 1 || n > maxPage:
				t.Fatalf("%s = %d out of range", name, n)
			}
			vals[name] = n
		}
		page, perPage := vals["page"], min(vals["per_page"], MaxPerPage)
		if off := (page - 1) * perPage; off < 0 || off/perPage != page-1 {
			t.Fatalf("offset overflow: page %d per_page %d", page, perPage)
		}
		tot := int(total % (maxPage * MaxPerPage))
		w := httptest.NewRecorder()
		h.paginate(w, page, perPage, tot)
		last := max(1, (tot+perPage-1)/perPage)
		rels := map[string]int{}
		for _, l := range splitLinks(w.Header().Get("Link")) {
			m := linkRE.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link entry %q", l)
			}
			p, _ := strconv.Atoi(m[1])
			if pp, _ := strconv.Atoi(m[2]); pp != perPage || p < 1 || p > last {
				t.Fatalf("Link entry %q (last %d)", l, last)
			}
			if _, dup := rels[m[3]]; dup {
				t.Fatalf("rel %s twice", m[3])
			}
			rels[m[3]] = p
		}
		if rels["first"] != 1 || rels["last"] != last {
			t.Fatalf("first/last %v, want 1/%d", rels, last)
		}
		if _, ok := rels["prev"]; ok != (page > 1) {
			t.Fatalf("prev %v on page %d", rels, page)
		}
		if n, ok := rels["next"]; ok != (page < last) || ok && n != page+1 {
			t.Fatalf("next %v on page %d of %d", rels, page, last)
		}
		var pg struct {
			Total   int  `json:"total_count"`
			Current int  `json:"current_page"`
			PerPage int  `json:"current_per_page"`
			Prev    *int `json:"previous_page"`
			Next    *int `json:"next_page"`
		}
		if err := json.Unmarshal([]byte(w.Header().Get("Pagination")), &pg); err != nil {
			t.Fatalf("Pagination %q: %v", w.Header().Get("Pagination"), err)
		}
		if pg.Total != tot || pg.Current != page || pg.PerPage != perPage || (pg.Prev != nil) != (page > 1) || (pg.Next != nil) != (page < last) {
			t.Fatalf("Pagination %q for page %d per_page %d total %d", w.Header().Get("Pagination"), page, perPage, tot)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("accepted %q, which is not an integer", s)
	}
	return n
}

func splitLinks(h string) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(h); i++ {
		if h[i] == ',' && h[i+1] == ' ' {
			out = append(out, h[start:i])
			start = i + 2
		}
	}
	return append(out, h[start:])
}
