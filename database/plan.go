package database

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/fault"
)

// AppliedStep is a migration the database records as applied.
type AppliedStep struct {
	ID        string
	AppliedAt time.Time
}

// Plan is where a database's schema stands against the steps a binary
// knows.
type Plan struct {
	// Applied are the steps the database records, oldest first.
	Applied []AppliedStep
	// Pending are the known steps not applied yet, in the order they apply.
	Pending []string
	// Unknown are applied steps the binary does not know: the database was
	// migrated by a newer shopbus.
	Unknown []string
}

// Version is a schema's version as this program numbers it: the count of
// its steps. A database's is the count it has applied.
func (p Plan) Version() int { return len(p.Applied) }

// ErrSchemaNewer means the database was migrated by a newer shopbus than
// the one running; opening it could corrupt what that version wrote.
var ErrSchemaNewer = fault.New(fault.Invalid, "the database's schema is newer than this shopbus knows")

// Inspect compares the steps the database records with steps, and applies
// nothing.
func Inspect(ctx context.Context, db *gorm.DB, steps []Migration) (Plan, error) {
	db = db.WithContext(ctx)
	var p Plan
	if db.Migrator().HasTable("schema_migrations") {
		if err := db.Model(&appliedMigration{}).Order("applied_at, id").Find(&p.Applied).Error; err != nil {
			return Plan{}, fmt.Errorf("migrate: read the applied steps: %w", err)
		}
	}
	known, applied := map[string]bool{}, map[string]bool{}
	for _, m := range steps {
		known[m.ID] = true
	}
	for _, a := range p.Applied {
		applied[a.ID] = true
		if !known[a.ID] {
			p.Unknown = append(p.Unknown, a.ID)
		}
	}
	for _, m := range steps {
		if !applied[m.ID] {
			p.Pending = append(p.Pending, m.ID)
		}
	}
	return p, nil
}

// Newer returns ErrSchemaNewer, naming both schema versions, when the
// database holds steps the binary does not know; known is how many steps
// the binary knows.
func (p Plan) Newer(known int) error {
	if len(p.Unknown) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the database is at schema version %d, this shopbus knows version %d "+
		"(%d step(s) it has never heard of, the first %s); run the newer shopbus that migrated it, "+
		"or restore a backup taken before the upgrade", ErrSchemaNewer, p.Version(), known, len(p.Unknown), p.Unknown[0])
}
