package database

import "gorm.io/gorm"

// SkipLocked ends a raw SQL SELECT that claims rows for this process. On
// PostgreSQL it is FOR UPDATE SKIP LOCKED: the rows stay locked until the
// transaction ends, and rows another transaction holds are passed over
// rather than waited for, so instances sharing the server claim disjoint
// work. SQLite has no row locks and needs none, as its one writer
// serialises every claim, so there it is empty.
//
// Queries built with GORM get the same from clause.Locking, which GORM's
// SQLite dialect leaves out by itself.
func SkipLocked(db *gorm.DB) string {
	if db.Dialector.Name() == Postgres {
		return "FOR UPDATE SKIP LOCKED"
	}
	return ""
}
