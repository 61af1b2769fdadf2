package sqlite

import "context"

// WriterPragma and ReaderPragma read a pragma's value on the writer and on
// a reader connection, for tests. name is a constant of the test, not input.
func (s *Store) WriterPragma(ctx context.Context, name string) (v string, err error) {
	err = s.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

func (s *Store) ReaderPragma(ctx context.Context, name string) (v string, err error) {
	err = s.r.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}
