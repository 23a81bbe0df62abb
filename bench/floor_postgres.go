package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/shopbus/shopbus/database"
)

// pgFloorResults are the storage floor on PostgreSQL: the same rows as
// the SQLite floor, on one connection, sent two ways. Both are measured
// -floor-repeat times, alternated, so a noisy minute hits both.
type pgFloorResults struct {
	// Server is where it ran (user, host and database, no password);
	// Throwaway says it was the bench's own cluster (-postgres), whose CPU
	// time the runs then also count.
	Server            string `json:"server"`
	Throwaway         bool   `json:"throwaway_cluster"`
	Version           string `json:"server_version"`
	Fsync             string `json:"fsync"`
	SynchronousCommit string `json:"synchronous_commit"`
	FullPageWrites    string `json:"full_page_writes"`
	// RoundTrip sends each prepared statement and waits for its answer
	// before the next, as shopbus's writer does; Pipelined sends a commit's
	// statements in three pgx batches (see pipelineCommit).
	RoundTrip pgFloorVariant `json:"round_trip"`
	Pipelined pgFloorVariant `json:"pipelined"`
}

type pgFloorVariant struct {
	Median pgFloorRun   `json:"median"`
	Runs   []pgFloorRun `json:"runs"`
}

// pgFloorRun is one run of one variant. Its floorResults' CPU figure is
// the bench process's (the client's); ServerCPUPerOrderUS is PostgreSQL's
// own, absent unless the server is the bench's cluster and its processes
// are visible from here.
type pgFloorRun struct {
	floorResults
	ServerCPUPerOrderUS float64 `json:"server_cpu_per_order_us,omitempty"`
	WALBytesPerOrder    float64 `json:"wal_bytes_per_order"`
	RoundTripsPerCommit int     `json:"round_trips_per_commit"`
}

// pgFloorPerCommit is how many orders share one commit on PostgreSQL:
// shopbus caps its group commits there at 64 units
// (database.postgresMaxBatch), so more would flatter the floor.
const pgFloorPerCommit = 64

// pgFloorStatements are floorStatements for PostgreSQL: numbered
// placeholders, and the event insert returns its seq (pgx has no
// LastInsertId). Prepared under the names pgStmt gives.
func pgFloorStatements() []string {
	out := make([]string, len(floorStatements))
	for i, q := range floorStatements {
		out[i] = numberPlaceholders(q)
	}
	out[1] += " RETURNING seq"
	return out
}

// numberPlaceholders turns each ? into $1, $2, ... in order. The floor's
// statements hold no ? inside a string literal, so no SQL is parsed.
func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	return b.String()
}

func pgStmt(i int) string { return "floor_" + strconv.Itoa(i) }

// measurePostgresFloors runs both variants o.floorRepeat times, each in a
// fresh database on the server at o.postgresDSN, dropped afterwards.
// local says the server is the bench's throwaway cluster.
func measurePostgresFloors(ctx context.Context, o *options, root string, local bool) (*pgFloorResults, error) {
	res := &pgFloorResults{Server: database.Config{Driver: database.Postgres, DSN: o.postgresDSN}.Where(), Throwaway: local}
	if err := res.readSettings(ctx, o.postgresDSN); err != nil {
		return nil, err
	}
	for i := range o.floorRepeat {
		for _, pipelined := range []bool{false, true} {
			v, name := &res.RoundTrip, "round trip per statement"
			if pipelined {
				v, name = &res.Pipelined, "pipelined"
			}
			logf("PostgreSQL storage floor %d/%d, %s: %d orders, %d per commit", i+1, o.floorRepeat, name, o.floorPGOrders, pgFloorPerCommit)
			db := fmt.Sprintf("bench_floor_%d_%t", i, pipelined)
			r, err := measurePostgresFloor(ctx, root, o.postgresDSN, db, o.floorPGOrders, pipelined, local)
			if err != nil {
				return nil, fmt.Errorf("postgres floor (%s): %w", name, err)
			}
			logf("  %.0f orders/s, CPU per order %s", r.OrdersPerS, pgFloorCPU(*r))
			v.Runs = append(v.Runs, *r)
		}
	}
	res.RoundTrip.Median = medianPGFloor(res.RoundTrip.Runs)
	res.Pipelined.Median = medianPGFloor(res.Pipelined.Runs)
	return res, nil
}

// readSettings records the server's version and durability settings: the
// floor means little if fsync or synchronous_commit were off.
func (res *pgFloorResults) readSettings(ctx context.Context, adminDSN string) error {
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return err
	}
	defer admin.Close()
	err = admin.QueryRowContext(ctx, `SELECT current_setting('server_version'), current_setting('fsync'),
		current_setting('synchronous_commit'), current_setting('full_page_writes')`).Scan(&res.Version, &res.Fsync, &res.SynchronousCommit, &res.FullPageWrites)
	if err != nil {
		return fmt.Errorf("postgres floor: settings: %w", err)
	}
	return nil
}

func medianPGFloor(runs []pgFloorRun) pgFloorRun {
	if len(runs) == 0 {
		return pgFloorRun{}
	}
	fs := make([]floorResults, len(runs))
	for i, r := range runs {
		fs[i] = r.floorResults
	}
	m := runs[0]
	m.floorResults = *medianFloor(fs)
	m.ServerCPUPerOrderUS = medianOf(runs, func(r pgFloorRun) float64 { return r.ServerCPUPerOrderUS })
	m.WALBytesPerOrder = medianOf(runs, func(r pgFloorRun) float64 { return r.WALBytesPerOrder })
	return m
}

// measurePostgresFloor writes orders orders' journeys into database name,
// created fresh on the server adminDSN reaches and migrated as shopbus
// migrates it, pgFloorPerCommit per commit, on one connection of the pool
// shopbus itself opens (so the same session settings), and times it.
func measurePostgresFloor(ctx context.Context, root, adminDSN, name string, orders int, pipelined, local bool) (*pgFloorRun, error) {
	path, ev, err := floorEvent(root)
	if err != nil {
		return nil, err
	}
	p := cutPayloads(ev)
	dsn, err := freshDatabase(ctx, adminDSN, name)
	if err != nil {
		return nil, err
	}
	defer dropDatabase(adminDSN, name)
	conn, closeConn, err := floorConn(ctx, database.Config{Driver: database.Postgres, DSN: dsn})
	if err != nil {
		return nil, err
	}
	defer closeConn()
	var res *pgFloorRun
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("not a pgx connection but %T", dc)
		}
		var rerr error
		res, rerr = runPGFloor(ctx, c.Conn(), p, orders, pipelined, local)
		return rerr
	})
	if err != nil {
		return nil, err
	}
	res.EventBytes, res.EventFile = len(ev), path
	_ = conn.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&res.DatabaseBytes)
	return res, nil
}

// dropDatabase removes a floor's database, so runs against a server of
// one's own (-postgres-dsn) leave nothing behind.
func dropDatabase(adminDSN, name string) {
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
}

// runPGFloor prepares the statements on c and writes the orders; the
// bench process does nothing else meanwhile, so its CPU time is the
// client's share of the floor.
func runPGFloor(ctx context.Context, c *pgx.Conn, p floorPayloads, orders int, pipelined, local bool) (*pgFloorRun, error) {
	for i, q := range pgFloorStatements() {
		if _, err := c.Prepare(ctx, pgStmt(i), q); err != nil {
			return nil, fmt.Errorf("prepare %d: %w", i, err)
		}
	}
	if _, err := c.Exec(ctx, numberPlaceholders(floorStock), time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	server := func() (time.Duration, bool) { return 0, false }
	if local {
		server = serverCPUOf(ctx, c)
	}
	wal0, err := walPosition(ctx, c)
	if err != nil {
		return nil, err
	}
	srv0, seen := server()
	cpu0, start := selfCPU(), time.Now()
	commits := 0
	for first := 0; first < orders; first += pgFloorPerCommit {
		batch := make([]*pgOrder, 0, pgFloorPerCommit)
		for n := first; n < min(first+pgFloorPerCommit, orders); n++ {
			batch = append(batch, newPGOrder(n))
		}
		if err := pgCommit(ctx, c, p, batch, pipelined); err != nil {
			return nil, fmt.Errorf("orders %d to %d: %w", first, first+len(batch)-1, err)
		}
		commits++
	}
	wall, cpu := time.Since(start), selfCPU()-cpu0
	srv1, seenAfter := server()
	wal1, err := walPosition(ctx, c)
	if err != nil {
		return nil, err
	}
	res := &pgFloorRun{floorResults: floorResults{Orders: orders, PerCommit: pgFloorPerCommit, Statements: floorRowsPerOrder,
		Seconds: wall.Seconds(), OrdersPerS: float64(orders) / wall.Seconds(), CPUPerOrderUS: float64(cpu.Microseconds()) / float64(orders),
		CommitsPerS: float64(commits) / wall.Seconds()},
		WALBytesPerOrder: float64(wal1-wal0) / float64(orders), RoundTripsPerCommit: 2 + 3}
	if !pipelined {
		res.RoundTripsPerCommit = 2 + pgFloorPerCommit*floorRowsPerOrder
	}
	if seen && seenAfter {
		res.ServerCPUPerOrderUS = float64((srv1 - srv0).Microseconds()) / float64(orders)
	}
	return res, nil
}

// pgCommit writes batch's orders in one transaction. BEGIN and COMMIT are
// a round trip each in both variants.
func pgCommit(ctx context.Context, c *pgx.Conn, p floorPayloads, batch []*pgOrder, pipelined bool) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	if pipelined {
		err = pipelineCommit(ctx, tx, p, batch)
	} else {
		err = roundTripCommit(ctx, tx, p, batch)
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// roundTripCommit runs each order's statements one after another, each
// waiting for its answer: what shopbus's writer does on PostgreSQL.
func roundTripCommit(ctx context.Context, tx pgx.Tx, p floorPayloads, batch []*pgOrder) error {
	for _, o := range batch {
		for stage := range pgStages {
			for _, s := range o.steps(p, stage) {
				if err := s.run(ctx, tx); err != nil {
					return fmt.Errorf("%s: %w", o.id, err)
				}
			}
		}
	}
	return nil
}

// pipelineCommit sends the commit's statements as three pgx batches (each
// one round trip), stage by stage for all the orders at once: a stage
// needs what the one before returned (the event's seq and the customer's
// id, then the email job's id), so the values flow as in the round-trip
// variant and the statements are the same. What differs is only their
// order inside the transaction (every order's stage 1, then every order's
// stage 2, ...): the rows written are the same.
func pipelineCommit(ctx context.Context, tx pgx.Tx, p floorPayloads, batch []*pgOrder) error {
	for stage := range pgStages {
		b := &pgx.Batch{}
		for _, o := range batch {
			for _, s := range o.steps(p, stage) {
				s.queue(b)
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("stage %d: %w", stage+1, err)
		}
	}
	return nil
}

// pgOrder is one order of the PostgreSQL floor: its keys, and what its
// statements return that later ones need.
type pgOrder struct {
	id, evID, mail     string
	now                time.Time
	seq, customer, job int64
}

func newPGOrder(n int) *pgOrder {
	o := &pgOrder{now: time.Now().UTC()}
	o.id, o.evID, o.mail = floorKeys(n)
	return o
}

// pgStages is how many stages an order's statements fall in (see steps).
const pgStages = 3

// pgStep is one statement of an order: which of pgFloorStatements, its
// arguments, and where the value it returns goes (RETURNING), or that it
// must change exactly one row (the stock).
type pgStep struct {
	stmt int
	args []any
	into *int64
	one  bool
}

var errNoStock = errors.New("no stock reserved")

// steps are order o's statements of stage 0, 1 or 2, the same as the
// SQLite floor's floorOrder: stage 0 needs nothing, stage 1 the event's
// seq and the customer's id, stage 2 the email job's id.
func (o *pgOrder) steps(p floorPayloads, stage int) []pgStep {
	now := o.now
	switch stage {
	case 0:
		return []pgStep{
			{stmt: 0, args: []any{o.id, o.mail, p.detail, now, now}},
			{stmt: 1, args: []any{o.evID, o.id, p.event, now}, into: &o.seq},
			{stmt: 4, args: []any{now}, one: true},
			{stmt: 5, args: []any{o.id, now}},
			{stmt: 6, args: []any{o.id, now, now}},
			{stmt: 7, args: []any{o.id, now, now}},
			{stmt: 8, args: []any{o.mail, now, now}, into: &o.customer},
		}
	case 1:
		var s []pgStep
		for _, d := range floorRoutes(p) {
			s = append(s, pgStep{stmt: 2, args: []any{o.seq, o.evID, o.id, d[0], d[1], d[2], now, now, now, now}})
		}
		return append(s,
			pgStep{stmt: 3, args: []any{now, o.seq}},
			pgStep{stmt: 9, args: []any{o.id, o.customer, p.items, p.address, now}},
			pgStep{stmt: 10, args: []any{o.evID, o.id, o.mail, p.detail, floorMessageID(o.evID, o.id, o.mail), now, now, now}, into: &o.job})
	default:
		return []pgStep{{stmt: 11, args: []any{now, now, o.job}}}
	}
}

// run executes the step and waits for its answer.
func (s pgStep) run(ctx context.Context, tx pgx.Tx) error {
	if s.into != nil {
		return tx.QueryRow(ctx, pgStmt(s.stmt), s.args...).Scan(s.into)
	}
	ct, err := tx.Exec(ctx, pgStmt(s.stmt), s.args...)
	if err == nil && s.one && ct.RowsAffected() != 1 {
		err = errNoStock
	}
	return err
}

// queue adds the step to b; its answer is read when b's results are.
func (s pgStep) queue(b *pgx.Batch) {
	q := b.Queue(pgStmt(s.stmt), s.args...)
	switch {
	case s.into != nil:
		into := s.into
		q.QueryRow(func(r pgx.Row) error { return r.Scan(into) })
	case s.one:
		q.Exec(func(ct pgconn.CommandTag) error {
			if ct.RowsAffected() != 1 {
				return errNoStock
			}
			return nil
		})
	}
}

// walPosition is the server's WAL insert position, in bytes.
func walPosition(ctx context.Context, c *pgx.Conn) (int64, error) {
	var n int64
	if err := c.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&n); err != nil {
		return 0, fmt.Errorf("wal position: %w", err)
	}
	return n, nil
}

// serverCPUOf returns a reading of the CPU time of the server c is
// connected to: its postmaster (the parent of c's backend), every live
// child of it, and the children it has reaped (cutime, cstime), so
// backends, the WAL writer, the checkpointer and autovacuum workers that
// came and went all count. The reading says false when the server's
// processes are not visible here.
func serverCPUOf(ctx context.Context, c *pgx.Conn) func() (time.Duration, bool) {
	none := func() (time.Duration, bool) { return 0, false }
	var backend int
	if err := c.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return none
	}
	b, ok := readStat(backend)
	if !ok || b.comm != "postgres" {
		return none
	}
	pm, ok := readStat(b.ppid)
	if !ok || pm.comm != "postgres" {
		return none
	}
	postmaster := b.ppid
	return func() (time.Duration, bool) {
		pm, ok := readStat(postmaster)
		if !ok {
			return 0, false
		}
		ticks := pm.utime + pm.stime + pm.cutime + pm.cstime
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return 0, false
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if st, ok := readStat(pid); ok && st.ppid == postmaster {
				ticks += st.utime + st.stime
			}
		}
		return time.Duration(ticks) * 10 * time.Millisecond, true // clock ticks of 1/100 s on Linux
	}
}

// procStat is what the floor reads of /proc/<pid>/stat.
type procStat struct {
	comm                         string
	ppid                         int
	utime, stime, cutime, cstime int64
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields count on from after it (state is field 3).
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	st := procStat{comm: s[open+1 : end]}
	st.ppid, _ = strconv.Atoi(f[1])
	st.utime, _ = strconv.ParseInt(f[11], 10, 64)
	st.stime, _ = strconv.ParseInt(f[12], 10, 64)
	st.cutime, _ = strconv.ParseInt(f[13], 10, 64)
	st.cstime, _ = strconv.ParseInt(f[14], 10, 64)
	return st, true
}
