package sqlstore

import (
	"context"
	"strings"

	"github.com/tolk-project/tolk/internal/store"
)

// The users page's search: the folded keys hold user names and emails in
// lower case, so one LIKE per key matches ignoring case alike on both
// engines; the pattern's own % and _ are escaped.
const searchUsersWhere = ` FROM users WHERE org_uid = ? AND (user_name_key LIKE ? ESCAPE '\' OR email_key LIKE ? ESCAPE '\')`

var (
	searchUsersSQL     = Q(`SELECT ` + UserColumns + searchUsersWhere + ` ORDER BY created_at, uid COLLATE "C" LIMIT ? OFFSET ?`)
	countUsersWhereSQL = Q(`SELECT count(*)` + searchUsersWhere)
)

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SearchUsers implements store.UserSearch.
func (s *Store) SearchUsers(ctx context.Context, orgUID, query string, offset, limit int) ([]store.User, int, error) {
	pat := "%" + likeEscaper.Replace(FoldKey(query)) + "%"
	var n int
	if err := s.db.QueryRow(ctx, countUsersWhereSQL, orgUID, pat, pat).Scan(&n); err != nil {
		return nil, 0, s.Wrap("count users", err)
	}
	rows, err := s.db.Query(ctx, searchUsersSQL, orgUID, pat, pat, limit, max(offset, 0))
	us, err := scanAll(rows, err, s.scanUser)
	return us, n, s.Wrap("search users", err)
}
