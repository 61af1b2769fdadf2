package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tolk-project/tolk/internal/store"
)

// runUserSearch: SearchUsers pages an organization's users oldest first,
// matching user name or email ignoring case, with LIKE's wildcards taken
// literally, and counts every match.
func runUserSearch(t *testing.T, open Opener) {
	parallel(t, "Search", open, func(t *testing.T, ctx context.Context, s store.Store) {
		o, other := mustOrg(t, s), mustOrg(t, s)
		names := []string{"Alice", "bob", "Carol_1", "carolX", "dave"}
		for i, n := range names {
			u := newUser(o, n)
			u.CreatedAt = base().Add(time.Duration(i) * time.Minute)
			if n == "dave" {
				u.Email = "d.MAIL@corp.example"
			}
			mustUser(t, s, u)
		}
		mustUser(t, s, newUser(other, "alicia"))
		names2 := func(us []store.User) []string {
			var out []string
			for _, u := range us {
				out = append(out, u.UserName)
			}
			return out
		}
		for _, c := range []struct {
			q             string
			offset, limit int
			want          []string
			total         int
		}{
			{"", 0, 10, []string{"Alice", "bob", "Carol_1", "carolX", "dave"}, 5},
			{"", 1, 2, []string{"bob", "Carol_1"}, 5},
			{"", 4, 2, []string{"dave"}, 5},
			{"", 5, 2, nil, 5},
			{"ALI", 0, 10, []string{"Alice"}, 1},
			{"carol", 0, 10, []string{"Carol_1", "carolX"}, 2},
			{"l_", 0, 10, []string{"Carol_1"}, 1}, // _ is not a wildcard
			{"%", 0, 10, nil, 0},
			{"mail@CORP", 0, 10, []string{"dave"}, 1}, // email, any case
			{"example.com", 0, 2, []string{"Alice", "bob"}, 4},
		} {
			got, n, err := s.SearchUsers(ctx, o.UID, c.q, c.offset, c.limit)
			if err != nil || n != c.total || !equalStrings(names2(got), c.want) {
				t.Errorf("SearchUsers(%q, %d, %d) = %v, %d, %v; want %v, %d", c.q, c.offset, c.limit, names2(got), n, err, c.want, c.total)
			}
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
