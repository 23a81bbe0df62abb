package database

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// TestBatcherCommitsEachUnitOnce: many concurrent units commit together;
// a failing one rolls back alone; each caller learns its own outcome.
func TestBatcherCommitsEachUnitOnce(t *testing.T) {
	db, err := Open(Config{DSN: filepath.Join(t.TempDir(), "b.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Close(db) })
	if err := db.Exec(`CREATE TABLE units (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`).Error; err != nil {
		t.Fatal(err)
	}
	b := NewBatcher(db, 16)
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
		case i%10 == 0 && err != nil:
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
	if err := b.Do(context.Background(), func(*gorm.DB) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Run stopped: %v, want ErrClosed", err)
	}
}
