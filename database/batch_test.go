package database_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

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

// TestBatcherRetriesADeadlock: two instances' batches lock the same two
// rows in opposite order; PostgreSQL kills one as a deadlock. The losing
// batch is run again and both units commit, as if there had been no
// conflict.
func TestBatcherRetriesADeadlock(t *testing.T) {
	if !dbtest.Postgres() {
		t.Skip("PostgreSQL only: SQLite's one writer cannot deadlock")
	}
	db := dbtest.Open(t, []database.Migration{{ID: "accounts-0001", SQL: []string{
		`CREATE TABLE accounts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO accounts (name, n) VALUES ('a', 0), ('b', 0)`,
	}}})
	// Two batchers on one database: two instances, each its own transactions.
	var batchers [2]*database.Batcher
	for i := range batchers {
		batchers[i] = database.NewBatcher(db, 4)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- batchers[i].Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	// Each unit takes its first row, waits until the other took its own,
	// then asks for the other's: a deadlock, on the first attempt only.
	var holding sync.WaitGroup
	holding.Add(2)
	var firstTry [2]sync.Once
	unit := func(i int, first, second string) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error {
			if err := tx.Exec(`UPDATE accounts SET n = n + 1 WHERE name = ?`, first).Error; err != nil {
				return err
			}
			firstTry[i].Do(func() { holding.Done(); holding.Wait() })
			return tx.Exec(`UPDATE accounts SET n = n + 1 WHERE name = ?`, second).Error
		}
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = batchers[0].Do(context.Background(), unit(0, "a", "b")) })
	wg.Go(func() { errs[1] = batchers[1].Do(context.Background(), unit(1, "b", "a")) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("unit %d: %v, want it committed after the deadlock", i, err)
		}
	}
	var total int64
	if err := db.Raw(`SELECT SUM(n) FROM accounts`).Scan(&total).Error; err != nil {
		t.Fatal(err)
	}
	if total != 4 {
		t.Errorf("the two units made %d increments, want 4 (each once)", total)
	}
}

// TestPriorityUnitsGoFirst: when both lanes have units waiting, the
// Priority lane's go into the batch before Do's.
func TestPriorityUnitsGoFirst(t *testing.T) {
	db := dbtest.Open(t, []database.Migration{{ID: "lanes-0001", SQL: []string{
		`CREATE TABLE lanes (seq $AUTOID, lane TEXT NOT NULL)`,
	}}})
	insert := func(lane string) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error { return tx.Exec(`INSERT INTO lanes (lane) VALUES (?)`, lane).Error }
	}
	synctest.Test(t, func(t *testing.T) {
		b := database.NewBatcher(db, 4)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = b.Do(context.Background(), insert("normal")) })
			wg.Go(func() { _ = b.Priority().Do(context.Background(), insert("priority")) })
		}
		synctest.Wait() // all eight wait for Run to take them
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		wg.Wait()
		cancel()
		<-done
	})
	var lanes []string
	if err := db.Raw(`SELECT lane FROM lanes ORDER BY seq`).Scan(&lanes).Error; err != nil {
		t.Fatal(err)
	}
	// The first batch holds the first unit taken (from either lane), then
	// the priority units: at most one "normal" among the first four.
	normal := 0
	for _, l := range lanes[:min(4, len(lanes))] {
		if l == "normal" {
			normal++
		}
	}
	if len(lanes) != 8 || normal > 1 {
		t.Errorf("commit order %v: want the priority units in the first batch", lanes)
	}
}

// TestBatcherSavepointsOnlyAfterAFailure: a batch whose units all succeed
// runs without a savepoint (a statement each, a round trip on
// PostgreSQL). When a unit fails, its batch runs again with a savepoint
// per unit: the failed unit rolls back alone, the others commit once. The
// batches after it open savepoints from the start, for a while.
func TestBatcherSavepointsOnlyAfterAFailure(t *testing.T) {
	db := dbtest.Open(t, []database.Migration{{ID: "units-0001", SQL: []string{
		`CREATE TABLE units (id $AUTOID, name TEXT NOT NULL UNIQUE)`,
	}}})
	var savepoints atomic.Int64
	err := db.Callback().Raw().After("gorm:raw").Register("test:savepoints", func(tx *gorm.DB) {
		if strings.HasPrefix(tx.Statement.SQL.String(), "SAVEPOINT") {
			savepoints.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	insert := func(name string, fail bool) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error {
			calls.Add(1)
			if err := tx.Exec(`INSERT INTO units (name) VALUES (?)`, name).Error; err != nil {
				return err
			}
			if fail {
				return errors.New("refused") // written, then rolled back
			}
			return nil
		}
	}
	synctest.Test(t, func(t *testing.T) {
		b := database.NewBatcher(db, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		defer func() { cancel(); <-done }()
		// batch commits units as one batch: they queue while a unit holds
		// the batcher, which lets go once they all wait.
		batch := func(units ...func(tx *gorm.DB) error) []error {
			release := make(chan struct{})
			go func() { _ = b.Do(ctx, func(*gorm.DB) error { <-release; return nil }) }()
			synctest.Wait()
			errs := make([]error, len(units))
			var wg sync.WaitGroup
			for i, u := range units {
				wg.Go(func() { errs[i] = b.Do(ctx, u) })
			}
			synctest.Wait()
			close(release)
			wg.Wait()
			return errs
		}

		errs := batch(insert("a1", false), insert("a2", false), insert("a3", false))
		if err := errors.Join(errs...); err != nil || savepoints.Load() != 0 || calls.Load() != 3 {
			t.Fatalf("units that succeed: errors %v, %d savepoints, %d calls; want none, 0, 3", err, savepoints.Load(), calls.Load())
		}

		errs = batch(insert("b1", false), insert("b2", true), insert("b3", false))
		if errs[0] != nil || errs[1] == nil || errs[2] != nil {
			t.Fatalf("errors %v, want only the second unit's", errs)
		}
		// The units before the failed one (in the batch's order), the failed
		// one, then all three again.
		if n := calls.Load() - 3; savepoints.Load() != 3 || n < 1+3 || n > 3+3 {
			t.Errorf("a unit failed: %d savepoints and %d calls, want 3 and 4 to 6 (the batch ran again, a savepoint per unit)",
				savepoints.Load(), n)
		}
		var names []string
		if err := db.Raw(`SELECT name FROM units ORDER BY name`).Scan(&names).Error; err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, " ") != "a1 a2 a3 b1 b3" {
			t.Errorf("committed %v, want every unit but the failed one, once", names)
		}

		before := savepoints.Load()
		if errs := batch(insert("c1", false), insert("c2", false)); errors.Join(errs...) != nil || savepoints.Load() != before+2 {
			t.Errorf("the batch after a failure: errors %v, %d savepoints, want a savepoint per unit", errs, savepoints.Load()-before)
		}

		// 64 batches later (guardAfterFailure), savepoints are gone again.
		for i := range 64 {
			if err := b.Do(ctx, insert(fmt.Sprintf("d%d", i), false)); err != nil {
				t.Fatal(err)
			}
		}
		before = savepoints.Load()
		if errs := batch(insert("e1", false), insert("e2", false)); errors.Join(errs...) != nil || savepoints.Load() != before {
			t.Errorf("64 batches after the failure: errors %v, %d savepoints, want none", errs, savepoints.Load()-before)
		}
	})
}
