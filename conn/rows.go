package conn

import (
	"database/sql/driver"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/stmt"
)

var (
	_ driver.Rows                           = (*Rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*Rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*Rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*Rows)(nil)
	_ driver.RowsColumnTypeLength           = (*Rows)(nil)
)

// Rows is a result set: either rows already read (point reads, counts, constants) or a
// streaming scan that reads one batch ahead under the query's context.
type Rows struct {
	cols   []stmt.Column
	cancel func()

	// materialized rows
	data [][]driver.Value
	pos  int

	// streaming scan
	plan     *stmt.Plan
	it       pairIter
	skipped  int
	returned int
	err      error
	closed   bool
}

// Columns implements driver.Rows.
func (r *Rows) Columns() []string {
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i] = c.Name
	}
	return names
}

// Close releases the scan and its context.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.it != nil {
		r.it.Close()
	}
	r.cancel()
	return nil
}

// Next implements driver.Rows.
func (r *Rows) Next(dest []driver.Value) error {
	if r.closed {
		return io.EOF
	}
	if r.it == nil {
		if r.pos >= len(r.data) {
			return io.EOF
		}
		copy(dest, r.data[r.pos])
		r.pos++
		return nil
	}
	if r.err != nil {
		return r.err
	}
	p := r.plan
	for {
		if p.Limit > 0 && r.returned == p.Limit {
			if p.LimitIsGuard && r.it.Next() {
				r.err = fmt.Errorf("%w: more than %d rows; add a LIMIT or raise the maxScan DSN parameter", kv.ErrScanLimitExceeded, p.Limit)
				return r.err
			}
			return io.EOF
		}
		if !r.it.Next() {
			if err := r.it.Err(); err != nil {
				r.err = err
				return err
			}
			return io.EOF
		}
		if r.skipped < p.Offset {
			r.skipped++
			continue
		}
		r.returned++
		// The iterator may reuse its buffers: copy what escapes into dest.
		p.Row(kv.KeyValue{Key: clone(r.it.Key()), Value: clone(r.it.Value())}, dest)
		return nil
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (r *Rows) ColumnTypeScanType(i int) reflect.Type { return r.cols[i].Type.ScanType() }

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName.
func (r *Rows) ColumnTypeDatabaseTypeName(i int) string { return r.cols[i].Type.DatabaseTypeName() }

// ColumnTypeNullable implements driver.RowsColumnTypeNullable.
func (r *Rows) ColumnTypeNullable(i int) (nullable, ok bool) { return r.cols[i].Nullable, true }

// ColumnTypeLength implements driver.RowsColumnTypeLength: byte and text columns are
// variable length without a bound.
func (r *Rows) ColumnTypeLength(i int) (int64, bool) {
	switch r.cols[i].Type {
	case stmt.TypeBytes, stmt.TypeText:
		return math.MaxInt64, true
	}
	return 0, false
}
