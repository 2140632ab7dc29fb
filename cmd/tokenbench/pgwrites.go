package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// pgWrites is what a phase cost PostgreSQL's disk, per completed request,
// to compare with Keycloak's sizing of 1,400 write IOPS per 100
// logins/refreshes per second (14 per request).
//
// Two sources: the WAL itself, read with pg_walinspect between the LSNs at
// the phase's start and end (exact and available at once: the bytes every
// write made durable, and the COMMIT records), and the cumulative statistics
// views pg_stat_wal (WAL write() and fsync() calls: the I/O operations) and
// pg_stat_database (xact_commit of the server's database). Backends flush
// those views at most once a second and an idle one only after 10 s
// (PGSTAT_IDLE_INTERVAL), so the end snapshot of the views is taken later,
// after phases that do not write (see bench.pgStatsEnd).
type pgWrites struct {
	Requests int `json:"requests"`
	// From the WAL (pg_walinspect), cluster-wide; only the server writes.
	WALBytesPerRequest   float64          `json:"wal_bytes_per_request"`
	WALRecordsPerRequest float64          `json:"wal_records_per_request"`
	FPIBytesPerRequest   float64          `json:"wal_fpi_bytes_per_request"` // full-page images: the first change of a page after a checkpoint
	CommitsPerRequest    float64          `json:"commits_per_request"`       // Transaction/COMMIT records
	WALRecordsByResource map[string]int64 `json:"wal_records_by_resource,omitempty"`
	// From the statistics views (deltas), when the late snapshot was taken.
	StatCommitsPerRequest   float64 `json:"stat_xact_commit_per_request,omitempty"`
	StatWALBytesPerRequest  float64 `json:"stat_wal_bytes_per_request,omitempty"`
	StatWALWritesPerRequest float64 `json:"stat_wal_write_per_request,omitempty"`
	StatWALSyncsPerRequest  float64 `json:"stat_wal_sync_per_request,omitempty"`
	// Data pages written by the checkpointer, bgwriter and backends.
	StatBuffersWrittenPerRequest float64 `json:"stat_buffers_written_per_request,omitempty"`
}

// pgCounters is one reading of the counters pgWrites is computed from.
type pgCounters struct {
	lsn                         string
	xactCommit                  int64
	walBytes, walWrite, walSync int64
	buffersWritten              int64
}

// pgProbe reads the counters through the maintenance database, so its own
// queries are not counted against the server's database.
type pgProbe struct {
	conn *pgx.Conn
	db   string // the server's database
}

func newPGProbe(ctx context.Context, adminDSN, db string) (*pgProbe, error) {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("tokenbench: postgres probe: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_walinspect`); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("tokenbench: postgres probe: pg_walinspect: %w", err)
	}
	return &pgProbe{conn: conn, db: db}, nil
}

func (p *pgProbe) close() {
	if p != nil {
		_ = p.conn.Close(context.Background())
	}
}

func (p *pgProbe) read(ctx context.Context) (pgCounters, error) {
	var c pgCounters
	err := p.conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = $1),
		w.wal_bytes::bigint, w.wal_write, w.wal_sync,
		b.buffers_checkpoint + b.buffers_clean + b.buffers_backend
		FROM pg_stat_wal w, pg_stat_bgwriter b`, p.db).
		Scan(&c.lsn, &c.xactCommit, &c.walBytes, &c.walWrite, &c.walSync, &c.buffersWritten)
	if err != nil {
		return c, fmt.Errorf("tokenbench: postgres probe: %w", err)
	}
	return c, nil
}

// walDelta fills the WAL figures of w from the records between two LSNs.
func (p *pgProbe) walDelta(ctx context.Context, from, to pgCounters, n int) (*pgWrites, error) {
	w := &pgWrites{Requests: n, WALRecordsByResource: map[string]int64{}}
	// pg_walinspect refuses a window that starts at the flushed end of
	// the WAL: a phase that wrote nothing has no records to read.
	var empty bool
	if err := p.conn.QueryRow(ctx, `SELECT $2::pg_lsn <= $1::pg_lsn`, from.lsn, to.lsn).Scan(&empty); err != nil {
		return nil, fmt.Errorf("tokenbench: postgres probe: %w", err)
	}
	if n == 0 || empty {
		return w, nil
	}
	rows, err := p.conn.Query(ctx, `SELECT "resource_manager/record_type", count, record_size + fpi_size, fpi_size
		FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn, true) WHERE count > 0`, from.lsn, to.lsn)
	if err != nil {
		return nil, fmt.Errorf("tokenbench: postgres probe: pg_get_wal_stats: %w", err)
	}
	defer rows.Close()
	var records, bytes, fpi, commits int64
	for rows.Next() {
		var kind string
		var count, size, fpiSize int64
		if err := rows.Scan(&kind, &count, &size, &fpiSize); err != nil {
			return nil, fmt.Errorf("tokenbench: postgres probe: %w", err)
		}
		records += count
		bytes += size
		fpi += fpiSize
		if kind == "Transaction/COMMIT" {
			commits += count
		}
		w.WALRecordsByResource[kind] = count
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tokenbench: postgres probe: %w", err)
	}
	// Record sizes leave out page-boundary headers and padding; the LSN
	// distance is what was written.
	var lsnBytes int64
	if err := p.conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::bigint`, from.lsn, to.lsn).Scan(&lsnBytes); err == nil && lsnBytes > 0 {
		bytes = lsnBytes
	}
	per := func(v int64) float64 { return float64(v) / float64(n) }
	w.WALBytesPerRequest, w.WALRecordsPerRequest, w.FPIBytesPerRequest, w.CommitsPerRequest = per(bytes), per(records), per(fpi), per(commits)
	return w, nil
}

// statDelta fills the statistics-view figures of w.
func statDelta(w *pgWrites, from, to pgCounters) {
	if w == nil || w.Requests == 0 {
		return
	}
	per := func(v int64) float64 { return float64(v) / float64(w.Requests) }
	w.StatCommitsPerRequest = per(to.xactCommit - from.xactCommit)
	w.StatWALBytesPerRequest = per(to.walBytes - from.walBytes)
	w.StatWALWritesPerRequest = per(to.walWrite - from.walWrite)
	w.StatWALSyncsPerRequest = per(to.walSync - from.walSync)
	w.StatBuffersWrittenPerRequest = per(to.buffersWritten - from.buffersWritten)
}
