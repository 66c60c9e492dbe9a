package stmt

import (
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// DefaultMaxScan is the row cap of a scan without LIMIT when BindOptions.MaxScan is 0.
const DefaultMaxScan = 10000

// BindOptions configures Bind.
type BindOptions struct {
	// MaxScan caps the rows of SCAN and SELECT statements without LIMIT (the DSN's maxScan);
	// a read that would return more fails with kv.ErrScanLimitExceeded. 0 means
	// DefaultMaxScan.
	MaxScan int
}

// Bind binds args to the statement's placeholders and compiles the statement into an
// executable Plan. Arguments bind by position for ? (in order) and $N (args[N-1]), and by
// name for :name and @name (driver.NamedValue.Name); when no argument has a name, named
// placeholders bind by position in order of their first appearance.
//
// Keys and values accept []byte, kv.Key and string (nil only where NULL is allowed);
// LIMIT and OFFSET accept integers; TTL accepts integers (seconds) or a time.Duration of
// whole seconds; LOCK ... WAIT accepts a time.Duration or a duration string such as
// "500ms". Anything else is a *BindError; a wrong number of arguments is a *BindError
// wrapping ErrArgCount. Bind does not retain args; it is safe for concurrent use.
func (s *Statement) Bind(args []driver.NamedValue, opts BindOptions) (*Plan, error) {
	b := binder{st: s, args: args}
	if err := b.resolve(); err != nil {
		return nil, err
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = DefaultMaxScan
	}
	b.maxScan = opts.MaxScan
	return b.plan(s)
}

// CheckNamedValue is the argument check a driver's NamedValueChecker can delegate to: it
// accepts, unchanged, the types Bind understands ([]byte, kv.Key, string, nil, integer
// kinds, time.Duration) and returns driver.ErrSkip for anything else, so database/sql's
// default conversion applies and Bind reports a positioned *BindError if the converted
// value does not fit. Accepting time.Duration here matters: the default conversion would
// turn it into an int64, which TTL reads as seconds.
func CheckNamedValue(nv *driver.NamedValue) error {
	switch nv.Value.(type) {
	case nil, []byte, kv.Key, string, time.Duration,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return nil
	}
	return driver.ErrSkip
}

// binder holds the state of one Bind call.
type binder struct {
	st      *Statement
	args    []driver.NamedValue
	argOf   []int // placeholder index -> argument index
	maxScan int
}

// resolve maps every placeholder to an argument and checks the arity.
func (b *binder) resolve() error {
	st := b.st
	b.argOf = make([]int, len(st.params))
	switch st.style {
	case styleNone, styleQuestion:
		for i := range st.params {
			b.argOf[i] = i
		}
		return b.checkCount(len(st.params))
	case styleDollar:
		for i, p := range st.params {
			b.argOf[i] = p.ordinal - 1
		}
		return b.checkCount(st.NumInput())
	}
	return b.resolveNamed()
}

func (b *binder) checkCount(want int) error {
	if len(b.args) == want {
		return nil
	}
	return &BindError{Param: "arguments", Want: fmt.Sprintf("%d arguments", want), Got: fmt.Sprint(len(b.args)), Err: ErrArgCount}
}

// resolveNamed binds :name/@name by argument name, or positionally by first appearance
// when no argument is named.
func (b *binder) resolveNamed() error {
	named := false
	for _, a := range b.args {
		named = named || a.Name != ""
	}
	order := make(map[string]int) // name -> argument index
	for i, p := range b.st.params {
		idx, seen := order[p.name]
		if !seen {
			idx = -1
			if named {
				for j, a := range b.args {
					if a.Name == p.name {
						idx = j
					}
				}
			} else if len(order) < len(b.args) {
				idx = len(order)
			}
			if idx < 0 {
				return &BindError{Param: p.text, Pos: p.pos, Want: "an argument named " + p.name, Got: "none", Err: ErrArgCount}
			}
			order[p.name] = idx
		}
		b.argOf[i] = idx
	}
	if len(order) != len(b.args) {
		return &BindError{Param: "arguments", Want: fmt.Sprintf("%d arguments, one per placeholder name", len(order)),
			Got: fmt.Sprint(len(b.args)), Err: ErrArgCount}
	}
	return nil
}

// value returns the Go value of an operand: the literal, or the bound argument.
func (b *binder) value(e expr) any {
	switch e.kind {
	case exprBytes:
		return e.b
	case exprInt:
		return e.n
	case exprParam:
		return b.args[b.argOf[e.param]].Value
	}
	return nil
}

func (b *binder) fail(e expr, want string, got any) *BindError {
	be := &BindError{Pos: e.pos, Want: want, Got: fmt.Sprintf("%T", got)}
	if got == nil {
		be.Got = "NULL"
	}
	if e.kind == exprParam {
		p := b.st.params[e.param]
		be.Param, be.Ordinal = p.text, b.argOf[e.param]+1
		if p.name != "" {
			be.Ordinal = 0
		}
	} else {
		be.literal = true
		if e.kind == exprInt {
			be.Got = "integer literal (keys and values are bytes: quote it)"
		}
	}
	return be
}

// bytesOf binds a key or value operand. null reports NULL (nil, or a nil []byte or
// kv.Key argument), which is accepted only when nullOK.
func (b *binder) bytesOf(e expr, nullOK bool) (v []byte, null bool, err error) {
	x := b.value(e)
	switch t := x.(type) {
	case []byte:
		if t != nil {
			return t, false, nil
		}
		x = nil
	case kv.Key:
		if t != nil {
			return t, false, nil
		}
		x = nil
	case string:
		return []byte(t), false, nil
	}
	if x != nil {
		return nil, false, b.fail(e, "[]byte or string", x)
	}
	if nullOK {
		return nil, true, nil
	}
	return nil, false, b.fail(e, "[]byte or string (not NULL)", nil)
}

func (b *binder) key(e expr) (kv.Key, error) {
	v, _, err := b.bytesOf(e, false)
	return v, err
}

// intOf binds an integer operand (LIMIT, OFFSET, TTL seconds); it must be >= 0.
func (b *binder) intOf(e expr, what string) (int64, error) {
	x := b.value(e)
	var n int64
	switch t := x.(type) {
	case int64:
		n = t
	case int:
		n = int64(t)
	case int32:
		n = int64(t)
	case int16:
		n = int64(t)
	case int8:
		n = int64(t)
	case uint64:
		if t > 1<<62 {
			return 0, b.fail(e, what+" (a non-negative integer within range)", x)
		}
		n = int64(t)
	case uint32:
		n = int64(t)
	case uint16:
		n = int64(t)
	case uint8:
		n = int64(t)
	case uint:
		n = int64(t)
	default:
		return 0, b.fail(e, what+" (an integer)", x)
	}
	if n < 0 || n > 1<<40 {
		be := b.fail(e, what+" (a non-negative integer up to 2^40)", x)
		be.Got = fmt.Sprint(n)
		return 0, be
	}
	return n, nil
}

// ttlOf binds a TTL: integer seconds or a time.Duration of whole seconds, positive.
func (b *binder) ttlOf(e expr) (time.Duration, error) {
	if d, ok := b.value(e).(time.Duration); ok {
		if d <= 0 || d%time.Second != 0 {
			be := b.fail(e, "a TTL of whole seconds greater than 0", d)
			be.Got = d.String()
			return 0, be
		}
		return d, nil
	}
	n, err := b.intOf(e, "a TTL in seconds")
	if err != nil {
		return 0, err
	}
	if n == 0 {
		be := b.fail(e, "a TTL greater than 0", nil)
		be.Got = "0"
		return 0, be
	}
	return time.Duration(n) * time.Second, nil
}

// waitOf binds LOCK ... WAIT: a time.Duration or a duration string, positive.
func (b *binder) waitOf(e expr) (time.Duration, error) {
	x := b.value(e)
	var d time.Duration
	switch t := x.(type) {
	case time.Duration:
		d = t
	case []byte:
		pd, err := time.ParseDuration(string(t))
		if err != nil {
			return 0, b.fail(e, "a duration such as '500ms'", x)
		}
		d = pd
	case string:
		pd, err := time.ParseDuration(t)
		if err != nil {
			return 0, b.fail(e, "a duration such as '500ms'", x)
		}
		d = pd
	default:
		return 0, b.fail(e, "a time.Duration or a duration string such as '500ms'", x)
	}
	if d <= 0 {
		be := b.fail(e, "a positive wait (use NOWAIT not to wait)", x)
		be.Got = d.String()
		return 0, be
	}
	return d, nil
}

func (b *binder) keys(es []expr) ([]kv.Key, error) {
	out := make([]kv.Key, len(es))
	for i, e := range es {
		k, err := b.key(e)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// rangeOf binds start and end of SCAN, DELETE RANGE and CHECKSUM; NULL start is the
// first key and NULL end is +inf.
func (b *binder) rangeOf(st *Statement) (kv.KeyRange, error) {
	start, _, err := b.bytesOf(st.start, true)
	if err != nil {
		return kv.KeyRange{}, err
	}
	end, _, err := b.bytesOf(st.end, true)
	if err != nil {
		return kv.KeyRange{}, err
	}
	if len(start) == 0 {
		start = nil
	}
	if len(end) == 0 {
		end = nil
	}
	return kv.KeyRange{Start: start, End: end}, nil
}

// where binds and normalizes the WHERE conjuncts into a key set.
func (b *binder) where(st *Statement) (keySet, error) {
	set := everything()
	for _, c := range st.where {
		if c.op == condLike {
			pat, err := b.key(c.args[0])
			if err != nil {
				return set, err
			}
			ls, ok := likeSet(pat)
			if !ok {
				be := b.fail(c.args[0], "a LIKE pattern 'prefix%' (a literal prefix, escape % and _ with \\)", nil)
				be.Got = "pattern " + quoteShort(string(pat))
				return set, be
			}
			set = intersect(set, ls)
			continue
		}
		vals, err := b.keys(c.args)
		if err != nil {
			return set, err
		}
		set = intersect(set, condSet(c.op, vals))
	}
	return set, nil
}
