package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestBatcherCommitsEachUnitOnce: many concurrent units commit together;
// a failing one rolls back alone; each caller learns its own outcome. On
// PostgreSQL a failed statement aborts the whole transaction unless the
// unit's savepoint is rolled back: the units after a duplicate prove it is.
func TestBatcherCommitsEachUnitOnce(t *testing.T) {
	db := dbtest.Open(t, []database.Migration{{ID: "units-0001", SQL: []string{
		`CREATE TABLE units (id $AUTOID, name TEXT NOT NULL UNIQUE)`,
	}}})
	b := database.NewBatcher(db, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("u%d", i)
			if i%10 == 0 {
				name = "dup" // the first wins, the rest fail alone
			}
			errs[i] = b.Do(context.Background(), func(tx *gorm.DB) error {
				if err := tx.Exec(`INSERT INTO units (name) VALUES (?)`, name).Error; err != nil {
					return err
				}
				if i == 7 {
					return errors.New("refused") // written, then rolled back
				}
				return nil
			})
		})
	}
	wg.Wait()
	var failed, dup int
	for i, err := range errs {
		switch {
		case i == 7 && err == nil:
			t.Error("unit 7 returned no error")
		case i%10 == 0 && errors.Is(err, gorm.ErrDuplicatedKey):
			dup++
		case err != nil && i != 7:
			t.Errorf("unit %d: %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	var rows int64
	db.Table("units").Count(&rows)
	if want := int64(n - failed); rows != want || dup != n/10-1 {
		t.Errorf("%d rows, want %d; %d duplicate failures, want %d", rows, want, dup, n/10-1)
	}
	var seven int64
	db.Table("units").Where("name = 'u7'").Count(&seven)
	if seven != 0 {
		t.Error("the failed unit's write committed")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background(), func(*gorm.DB) error { return nil }); !errors.Is(err, database.ErrClosed) {
		t.Errorf("Do after Run stopped: %v, want ErrClosed", err)
	}
}
