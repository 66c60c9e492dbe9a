package stmt

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// memExec is an Executor over a map, recording the calls it receives.
type memExec struct {
	data  map[string][]byte
	ttl   map[string]time.Duration
	calls []string
	fail  error
}

func newMemExec(pairs ...string) *memExec {
	m := &memExec{data: map[string][]byte{}, ttl: map[string]time.Duration{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		m.data[pairs[i]] = []byte(pairs[i+1])
	}
	return m
}

func (m *memExec) record(s string) error { m.calls = append(m.calls, s); return m.fail }

func (m *memExec) BatchGet(_ context.Context, keys []kv.Key, keysOnly, forUpdate bool) ([]kv.KeyValue, error) {
	if err := m.record("BatchGet"); err != nil {
		return nil, err
	}
	var out []kv.KeyValue
	for i := len(keys) - 1; i >= 0; i-- { // any order: reversed on purpose
		if v, ok := m.data[string(keys[i])]; ok {
			out = append(out, kv.KeyValue{Key: keys[i], Value: v})
		}
	}
	return out, nil
}

func (m *memExec) Scan(_ context.Context, req ScanRequest) ([]kv.KeyValue, error) {
	if err := m.record("Scan"); err != nil {
		return nil, err
	}
	var keys []string
	for k := range m.data {
		if req.Range.Contains([]byte(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if req.Reverse {
		slices.Reverse(keys)
	}
	if req.Limit > 0 && len(keys) > req.Limit {
		keys = keys[:req.Limit]
	}
	out := make([]kv.KeyValue, len(keys))
	for i, k := range keys {
		out[i] = kv.KeyValue{Key: kv.Key(k), Value: m.data[k]}
		if req.KeysOnly {
			out[i].Value = nil
		}
	}
	return out, nil
}

func (m *memExec) Put(_ context.Context, pairs []kv.KeyValue, mode PutMode, ttl time.Duration) (int64, error) {
	if err := m.record("Put " + mode.String()); err != nil {
		return 0, err
	}
	if mode == PutIfAbsent {
		for _, p := range pairs {
			if _, ok := m.data[string(p.Key)]; ok {
				return 0, &kv.KeyExistsError{Key: p.Key}
			}
		}
	}
	n := int64(0)
	for _, p := range pairs {
		if _, ok := m.data[string(p.Key)]; ok && mode == PutIgnoreExist {
			continue
		}
		m.data[string(p.Key)] = p.Value
		m.ttl[string(p.Key)] = ttl
		n++
	}
	return n, nil
}

func (m *memExec) UpdateIfExists(_ context.Context, key kv.Key, value []byte) (bool, error) {
	if err := m.record("UpdateIfExists"); err != nil {
		return false, err
	}
	if _, ok := m.data[string(key)]; !ok {
		return false, nil
	}
	m.data[string(key)] = value
	return true, nil
}

func (m *memExec) CompareAndSwap(_ context.Context, key kv.Key, expected []byte, expectAbsent bool, value []byte) (bool, []byte, error) {
	if err := m.record("CompareAndSwap"); err != nil {
		return false, nil, err
	}
	prev, ok := m.data[string(key)]
	if (expectAbsent && ok) || (!expectAbsent && (!ok || !bytes.Equal(prev, expected))) {
		return false, prev, nil
	}
	m.data[string(key)] = value
	return true, prev, nil
}

func (m *memExec) Delete(_ context.Context, keys []kv.Key) (int64, error) {
	if err := m.record("Delete"); err != nil {
		return 0, err
	}
	for _, k := range keys {
		delete(m.data, string(k))
	}
	return int64(len(keys)), nil
}

func (m *memExec) DeleteRange(_ context.Context, r kv.KeyRange) error {
	if err := m.record("DeleteRange"); err != nil {
		return err
	}
	for k := range m.data {
		if r.Contains([]byte(k)) {
			delete(m.data, k)
		}
	}
	return nil
}

func (m *memExec) Checksum(_ context.Context, r kv.KeyRange) (Checksum, error) {
	if err := m.record("Checksum"); err != nil {
		return Checksum{}, err
	}
	return Checksum{CRC64Xor: 7, TotalKVs: uint64(len(m.data)), TotalBytes: 9}, nil
}

func (m *memExec) TTL(_ context.Context, key kv.Key) (time.Duration, bool, error) {
	if err := m.record("TTL"); err != nil {
		return 0, false, err
	}
	_, ok := m.data[string(key)]
	return m.ttl[string(key)], ok, nil
}

func (m *memExec) Lock(_ context.Context, keys []kv.Key, wait LockWait) error {
	return m.record("Lock")
}
func (m *memExec) Begin(_ context.Context, opts TxnOptions) error { return m.record("Begin") }
func (m *memExec) Commit(context.Context) error                   { return m.record("Commit") }
func (m *memExec) Rollback(context.Context) error                 { return m.record("Rollback") }
func (m *memExec) Version(context.Context) (string, error) {
	return "8.5.0-mock", m.record("Version")
}

// run parses, binds and executes text with args on m.
func run(t *testing.T, m *memExec, text string, args ...any) (*Result, error) {
	t.Helper()
	st, err := Parse(text, Options{})
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	p, err := st.Bind(nv, BindOptions{MaxScan: 5})
	if err != nil {
		return nil, err
	}
	return p.Exec(context.Background(), m)
}

// rowsText renders rows as "k=v" or single values joined by ";".
func rowsText(r *Result) string {
	var out []string
	for _, row := range r.Rows {
		var cells []string
		for _, c := range row {
			switch v := c.(type) {
			case []byte:
				cells = append(cells, string(v))
			case nil:
				cells = append(cells, "NULL")
			case string:
				cells = append(cells, v)
			case int64:
				cells = append(cells, itoa(v))
			case bool:
				if v {
					cells = append(cells, "true")
				} else {
					cells = append(cells, "false")
				}
			}
		}
		out = append(out, strings.Join(cells, "="))
	}
	return strings.Join(out, ";")
}

func itoa(n int64) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestExecReads(t *testing.T) {
	tests := []struct {
		text string
		args []any
		want string
	}{
		{"GET 'a'", nil, "a=1"},
		{"GET 'zz'", nil, ""},
		{"BATCH GET 'c', 'zz', 'a', 'c'", nil, "c=3;a=1;c=3"},
		{"SCAN 'b' 'd'", nil, "b=2;c=3"},
		{"SCAN NULL NULL LIMIT 2 REVERSE", nil, "e=5;d=4"},
		{"SCAN 'b' NULL LIMIT ? KEYS ONLY", []any{int64(2)}, "b;c"},
		{"SCAN PREFIX 'd'", nil, "d=4"},
		{"SCAN 'd' 'a'", nil, ""},
		{"SELECT * FROM kv WHERE k = ?", []any{"b"}, "b=2"},
		{"SELECT v FROM kv WHERE k IN ('e', 'a', 'x', 'a')", nil, "1;5"},
		{"SELECT v, k FROM kv WHERE k IN ('e', 'a') ORDER BY k DESC", nil, "5=e;1=a"},
		{"SELECT k FROM kv WHERE k IN ('a', 'b', 'c', 'd') LIMIT 2 OFFSET 1", nil, "b;c"},
		{"SELECT k FROM kv WHERE k IN ('a', 'b') LIMIT 5 OFFSET 9", nil, ""},
		{"SELECT k FROM kv WHERE k > 'a' AND k <= 'c'", nil, "b;c"},
		{"SELECT k FROM kv WHERE k >= 'b' AND k < 'd' ORDER BY k DESC", nil, "c;b"},
		{"SELECT k FROM kv WHERE k BETWEEN 'b' AND 'd' LIMIT 1, 1", nil, "c"},
		{"SELECT k FROM kv WHERE k BETWEEN 'd' AND 'b'", nil, ""},
		{"SELECT k FROM kv WHERE k < ''", nil, ""},
		{"SELECT k FROM kv WHERE k = 'a' AND k = 'b'", nil, ""},
		{"SELECT k FROM kv WHERE k IN ('a', 'b', 'c') AND k IN ('b', 'c', 'x') AND k > 'b'", nil, "c"},
		{"SELECT k FROM kv WHERE k > 'c' AND k < 'b'", nil, ""},
		{"SELECT k FROM kv WHERE k LIKE 'c%'", nil, "c"},
		{"SELECT k FROM kv WHERE k LIKE ?", []any{"d"}, "d"},
		{"SELECT k FROM kv WHERE k LIKE '%' LIMIT 1", nil, "a"},
		{"SELECT k FROM kv LIMIT 0", nil, ""},
		{"SELECT count(*) FROM kv WHERE k > 'b'", nil, "3"},
		{"SELECT count(*) FROM kv WHERE k IN ('a', 'q')", nil, "1"},
		{"SELECT count(*) FROM kv WHERE k = 'a' AND k = 'b'", nil, "0"},
		{"SELECT 1", nil, "1"},
		{"SELECT version()", nil, "8.5.0-mock"},
		{"CHECKSUM NULL NULL", nil, "7=5=9"},
		{"TTL 'a'", nil, "a=NULL"},
		{"TTL 'nope'", nil, ""},
		{"CAS 'a' '1' 'one'", nil, "true=1"},
		{"CAS 'a' 'x' 'one'", nil, "false=1"},
		{"CAS 'new' NULL 'n'", nil, "true=NULL"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			m := newMemExec("a", "1", "b", "2", "c", "3", "d", "4", "e", "5")
			res, err := run(t, m, tt.text, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsText(res); got != tt.want {
				t.Fatalf("rows = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExecGuard(t *testing.T) {
	m := newMemExec("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6")
	for _, q := range []string{"SELECT * FROM kv", "SCAN NULL NULL", "SELECT count(*) FROM kv"} {
		if _, err := run(t, m, q); !errors.Is(err, kv.ErrScanLimitExceeded) {
			t.Fatalf("%s: err = %v, want ErrScanLimitExceeded", q, err)
		}
	}
	res, err := run(t, m, "SELECT k FROM kv LIMIT 6")
	if err != nil || len(res.Rows) != 6 {
		t.Fatalf("explicit LIMIT beyond maxScan: %v %v", res, err)
	}
}

func TestExecWrites(t *testing.T) {
	tests := []struct {
		text     string
		args     []any
		affected int64
		after    string // SCAN of everything afterwards
		calls    string
	}{
		{"PUT 'x' 'y' TTL 5", nil, 1, "a=1;b=2;x=y", "Put blind"},
		{"BATCH PUT ('a', 'n'), ('a', 'm'), ('z', 'q')", nil, 2, "a=m;b=2;z=q", "Put blind"},
		{"INSERT INTO kv (k, v) VALUES ('c', '3')", nil, 1, "a=1;b=2;c=3", "Put if-absent"},
		{"INSERT INTO kv (v, k) VALUES ('3', 'c')", nil, 1, "a=1;b=2;c=3", "Put if-absent"},
		{"INSERT IGNORE INTO kv (k, v) VALUES ('a', 'x'), ('c', '3'), ('c', '4')", nil, 1, "a=1;b=2;c=3", "Put ignore-existing"},
		{"INSERT INTO kv VALUES (?, ?) ON CONFLICT DO NOTHING", []any{"a", "x"}, 0, "a=1;b=2", "Put ignore-existing"},
		{"REPLACE INTO kv VALUES ('a', 'x')", nil, 1, "a=x;b=2", "Put blind"},
		{"INSERT INTO kv VALUES ('a', 'y') ON DUPLICATE KEY UPDATE v = VALUES(v)", nil, 1, "a=y;b=2", "Put blind"},
		{"UPDATE kv SET v = ? WHERE k = ?", []any{"u", "a"}, 1, "a=u;b=2", "UpdateIfExists"},
		{"UPDATE kv SET v = ? WHERE k = ?", []any{"u", "q"}, 0, "a=1;b=2", "UpdateIfExists"},
		{"UPDATE kv SET v = 'u' WHERE k = 'a' AND v = '1'", nil, 1, "a=u;b=2", "CompareAndSwap"},
		{"UPDATE kv SET v = 'u' WHERE v = '9' AND k = 'a'", nil, 0, "a=1;b=2", "CompareAndSwap"},
		{"DELETE 'a'", nil, 1, "b=2", "Delete"},
		{"BATCH DELETE 'a', 'b'", nil, 2, "", "Delete"},
		{"DELETE RANGE 'a' 'b'", nil, -1, "b=2", "DeleteRange"},
		{"DELETE FROM kv WHERE k IN (?, ?)", []any{"a", []byte("zz")}, 2, "b=2", "Delete"},
		{"DELETE FROM kv WHERE k >= 'b'", nil, -1, "a=1", "DeleteRange"},
		{"DELETE FROM kv WHERE k = 'a' AND k > 'a'", nil, 0, "a=1;b=2", ""},
		{"LOCK 'a', 'b' NOWAIT", nil, 2, "a=1;b=2", "Lock"},
		{"BEGIN PESSIMISTIC", nil, 0, "a=1;b=2", "Begin"},
		{"COMMIT", nil, 0, "a=1;b=2", "Commit"},
		{"ROLLBACK", nil, 0, "a=1;b=2", "Rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			m := newMemExec("a", "1", "b", "2")
			res, err := run(t, m, tt.text, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if res.RowsAffected != tt.affected || len(res.Rows) != 0 {
				t.Fatalf("RowsAffected = %d rows %v, want %d", res.RowsAffected, res.Rows, tt.affected)
			}
			if got := strings.Join(m.calls, ","); got != tt.calls {
				t.Fatalf("calls = %q, want %q", got, tt.calls)
			}
			all, err := run(t, m, "SCAN NULL NULL")
			if err != nil || rowsText(all) != tt.after {
				t.Fatalf("after: %q %v, want %q", rowsText(all), err, tt.after)
			}
		})
	}
}

func TestExecInsertDuplicate(t *testing.T) {
	m := newMemExec("a", "1")
	var ke *kv.KeyExistsError
	if _, err := run(t, m, "INSERT INTO kv VALUES ('a', 'x')"); !errors.As(err, &ke) {
		t.Fatalf("existing key: %v", err)
	}
	if _, err := run(t, m, "INSERT INTO kv VALUES ('q', 'x'), ('q', 'y')"); !errors.As(err, &ke) || string(ke.Key) != "q" {
		t.Fatalf("duplicate in statement: %v", err)
	}
}

func TestExecErrorsPropagate(t *testing.T) {
	boom := errors.New("boom")
	for _, q := range []string{"GET 'a'", "SCAN 'a' 'b'", "PUT 'a' 'b'", "UPDATE kv SET v = 'x' WHERE k = 'a'",
		"CAS 'a' 'b' 'c'", "DELETE 'a'", "DELETE RANGE 'a' 'b'", "CHECKSUM 'a' 'b'", "TTL 'a'", "LOCK 'a'",
		"BEGIN", "COMMIT", "ROLLBACK", "SELECT version()"} {
		m := newMemExec()
		m.fail = boom
		if _, err := run(t, m, q); !errors.Is(err, boom) {
			t.Fatalf("%s: err = %v", q, err)
		}
	}
}

func TestExecTTLAndExplain(t *testing.T) {
	m := newMemExec()
	if _, err := run(t, m, "PUT 'a' 'b' TTL ?", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, m, "TTL 'a'")
	if err != nil || rowsText(res) != "a=90" {
		t.Fatalf("TTL = %q, %v", rowsText(res), err)
	}
	res, err = run(t, m, "EXPLAIN SELECT k FROM kv WHERE k > 'a' AND k <= 'm' ORDER BY k DESC")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Scan (SELECT)",
		"  range: [0x6100, 0x6d00)",
		"  order: descending",
		"  limit: none (fails beyond maxScan = 5 rows)",
		"  keys only",
		"  columns: k VARBINARY",
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, r[0].(string))
	}
	if !reflect.DeepEqual(got, want) || len(m.calls) != 2 { // PUT and TTL; EXPLAIN reads nothing
		t.Fatalf("EXPLAIN =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExecBatchGetDedup(t *testing.T) {
	m := &dedupCheck{memExec: newMemExec("a", "1")}
	res, err := run(t, m.memExec, "BATCH GET 'a', 'a', 'b'")
	if err != nil || rowsText(res) != "a=1;a=1" {
		t.Fatalf("rows %q %v", rowsText(res), err)
	}
	st := mustParse(t, "BATCH GET 'a', 'a', 'b'")
	p, err := st.Bind(nil, BindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(context.Background(), m); err != nil || m.got != 2 {
		t.Fatalf("executor saw %d keys, %v", m.got, err)
	}
}

// dedupCheck records how many keys BatchGet receives.
type dedupCheck struct {
	*memExec
	got int
}

func (d *dedupCheck) BatchGet(ctx context.Context, keys []kv.Key, keysOnly, forUpdate bool) ([]kv.KeyValue, error) {
	d.got = len(keys)
	return d.memExec.BatchGet(ctx, keys, keysOnly, forUpdate)
}
