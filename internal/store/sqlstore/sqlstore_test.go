package sqlstore

import "testing"

func TestQ(t *testing.T) {
	for _, c := range []struct{ neutral, sqlite, postgres string }{
		{`SELECT a FROM t WHERE b = ? AND c < ?`, `SELECT a FROM t WHERE b = ? AND c < ?`, `SELECT a FROM t WHERE b = $1 AND c < $2`},
		{`SELECT a FROM t ORDER BY a, id COLLATE "C" LIMIT ?`, `SELECT a FROM t ORDER BY a, id LIMIT ?`, `SELECT a FROM t ORDER BY a, id COLLATE "C" LIMIT $1`},
		{`SELECT h FROM t WHERE u = ? ORDER BY h COLLATE "C" FOR UPDATE`, `SELECT h FROM t WHERE u = ? ORDER BY h`, `SELECT h FROM t WHERE u = $1 ORDER BY h COLLATE "C" FOR UPDATE`},
		{`SELECT '?', "a?" FROM t WHERE x = ?`, `SELECT '?', "a?" FROM t WHERE x = ?`, `SELECT '?', "a?" FROM t WHERE x = $1`},
	} {
		q := Q(c.neutral)
		if got := q.In(SQLite); got != c.sqlite {
			t.Errorf("Q(%q) for SQLite = %q, want %q", c.neutral, got, c.sqlite)
		}
		if got := q.In(PostgreSQL); got != c.postgres {
			t.Errorf("Q(%q) for PostgreSQL = %q, want %q", c.neutral, got, c.postgres)
		}
	}
}
