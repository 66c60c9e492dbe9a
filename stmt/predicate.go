package stmt

import (
	"bytes"
	"slices"

	"github.com/tikvsql/tikvsql/kv"
)

// maxParenDepth bounds parenthesis nesting in WHERE so hostile input cannot exhaust the
// stack.
const maxParenDepth = 64

// optWhere parses an optional WHERE clause. In UPDATE (update true) the clause must be
// k = key, optionally AND v = expected (the compare-and-swap form).
func (p *parser) optWhere(st *Statement, update bool) error {
	if ok, err := p.acceptKw("WHERE"); err != nil || !ok {
		return err
	}
	st.hasWhere = true
	pos := p.tok.pos
	if err := p.conjunction(st, update, 0); err != nil {
		return err
	}
	if !update {
		return nil
	}
	if len(st.where) != 1 || st.where[0].op != condEq {
		return &SyntaxError{Pos: pos, Found: "a WHERE clause that is not k = key", Expected: "WHERE k = key [AND v = expected]: UPDATE writes one key"}
	}
	st.keys = []expr{st.where[0].args[0]}
	st.where = nil
	return nil
}

func (p *parser) conjunction(st *Statement, update bool, depth int) error {
	for {
		if err := p.condition(st, update, depth); err != nil {
			return err
		}
		if p.isKw("OR") {
			return p.fail("AND: OR is not supported (use k IN (...) for alternatives)")
		}
		if ok, err := p.acceptKw("AND"); err != nil || !ok {
			return err
		}
	}
}

// condition parses one conjunct: a parenthesized conjunction or a comparison of k (or,
// in UPDATE, v = expected).
func (p *parser) condition(st *Statement, update bool, depth int) error {
	if p.isPunct("(") {
		if depth >= maxParenDepth {
			return p.fail("at most 64 nested parentheses")
		}
		if err := p.advance(); err != nil {
			return err
		}
		if err := p.conjunction(st, update, depth+1); err != nil {
			return err
		}
		return p.expectPunct(")", ") or AND")
	}
	if p.isKw("NOT") {
		return p.fail("a condition on k: NOT is not supported")
	}
	pos := p.tok.pos
	c, err := p.columnRef()
	if err != nil {
		return err
	}
	if c == colV {
		if !update {
			return &SyntaxError{Pos: pos, Found: "a condition on v", Expected: "conditions on k only (v is compared only in UPDATE kv SET v = x WHERE k = y AND v = z)"}
		}
		if st.expected.kind != exprNone {
			return &SyntaxError{Pos: pos, Found: "a second condition on v", Expected: "at most one v = expected"}
		}
		if err := p.expectPunct("=", "= expected value"); err != nil {
			return err
		}
		st.expectedFirst = len(st.where) == 0
		st.expected, err = p.operand("the expected value (string, hex literal or placeholder)", false)
		return err
	}
	cd, err := p.keyCondition()
	if err != nil {
		return err
	}
	st.where = append(st.where, cd)
	return nil
}

// keyCondition parses the operator and operands after k.
func (p *parser) keyCondition() (cond, error) {
	const operandWant = "a key (string, hex literal or placeholder)"
	if p.tok.kind == tokPunct {
		var op condOp
		switch p.tok.text {
		case "=":
			op = condEq
		case "<":
			op = condLT
		case "<=":
			op = condLE
		case ">":
			op = condGT
		case ">=":
			op = condGE
		default:
			return cond{}, p.fail("=, <, <=, >, >=, IN, BETWEEN or LIKE after k")
		}
		if err := p.advance(); err != nil {
			return cond{}, err
		}
		e, err := p.operand(operandWant, false)
		return cond{op: op, args: []expr{e}}, err
	}
	switch {
	case p.isKw("IN"):
		return p.inList()
	case p.isKw("BETWEEN"):
		if err := p.advance(); err != nil {
			return cond{}, err
		}
		lo, err := p.operand(operandWant, false)
		if err != nil {
			return cond{}, err
		}
		if err := p.expectKw("AND", "AND in BETWEEN x AND y"); err != nil {
			return cond{}, err
		}
		hi, err := p.operand(operandWant, false)
		return cond{op: condBetween, args: []expr{lo, hi}}, err
	case p.isKw("LIKE"):
		if err := p.advance(); err != nil {
			return cond{}, err
		}
		e, err := p.operand("a pattern 'prefix%' (string or placeholder)", false)
		return cond{op: condLike, args: []expr{e}}, err
	}
	return cond{}, p.fail("=, <, <=, >, >=, IN, BETWEEN or LIKE after k")
}

func (p *parser) inList() (cond, error) {
	if err := p.advance(); err != nil {
		return cond{}, err
	}
	if err := p.expectPunct("(", "( after IN"); err != nil {
		return cond{}, err
	}
	cd := cond{op: condIn}
	for {
		e, err := p.operand("a key (string, hex literal or placeholder)", false)
		if err != nil {
			return cd, err
		}
		cd.args = append(cd.args, e)
		if ok, err := p.acceptPunct(","); err != nil {
			return cd, err
		} else if !ok {
			return cd, p.expectPunct(")", ", or ) in the IN list")
		}
	}
}

// keySet is the normalized set of keys a predicate selects: nothing, a sorted list of
// distinct points, or a half-open range.
type keySet struct {
	empty  bool
	points []kv.Key // sorted, distinct; nil for a range
	isPts  bool
	r      kv.KeyRange
}

// everything is the key set of a statement without WHERE.
func everything() keySet { return keySet{} }

// pointSet sorts and deduplicates keys in place (callers pass a fresh slice).
func pointSet(keys []kv.Key) keySet {
	pts := keys
	slices.SortFunc(pts, func(a, b kv.Key) int { return bytes.Compare(a, b) })
	pts = slices.CompactFunc(pts, func(a, b kv.Key) bool { return bytes.Equal(a, b) })
	return keySet{isPts: true, points: pts}
}

// rangeSet builds a range set; an empty Start is normalized to nil.
func rangeSet(start, end kv.Key) keySet {
	if len(start) == 0 {
		start = nil
	}
	r := kv.KeyRange{Start: start, End: end}
	if r.Empty() {
		return keySet{empty: true}
	}
	return keySet{r: r}
}

// intersect returns the keys in both a and b.
func intersect(a, b keySet) keySet {
	switch {
	case a.empty || b.empty:
		return keySet{empty: true}
	case a.isPts && b.isPts:
		var out []kv.Key
		for _, k := range a.points {
			if _, ok := slices.BinarySearchFunc(b.points, k, func(x, y kv.Key) int { return bytes.Compare(x, y) }); ok {
				out = append(out, k)
			}
		}
		return nonEmptyPoints(out)
	case a.isPts || b.isPts:
		pts, r := a, b
		if !a.isPts {
			pts, r = b, a
		}
		var out []kv.Key
		for _, k := range pts.points {
			if r.r.Contains(k) {
				out = append(out, k)
			}
		}
		return nonEmptyPoints(out)
	}
	r, ok := a.r.Intersect(b.r)
	if !ok {
		return keySet{empty: true}
	}
	return rangeSet(r.Start, r.End)
}

func nonEmptyPoints(pts []kv.Key) keySet {
	if len(pts) == 0 {
		return keySet{empty: true}
	}
	return keySet{isPts: true, points: pts}
}

// condSet converts one bound condition to a key set. vals are the bound operands.
func condSet(op condOp, vals []kv.Key) keySet {
	switch op {
	case condEq, condIn:
		return pointSet(vals)
	case condLT:
		if len(vals[0]) == 0 {
			return keySet{empty: true} // nothing sorts before the empty key
		}
		return rangeSet(nil, vals[0])
	case condLE:
		return rangeSet(nil, vals[0].Next())
	case condGT:
		return rangeSet(vals[0].Next(), nil)
	case condBetween:
		if bytes.Compare(vals[0], vals[1]) > 0 {
			return keySet{empty: true}
		}
		return rangeSet(vals[0], vals[1].Next())
	}
	return rangeSet(vals[0], nil) // condGE; condLike is handled by likeSet
}

// likeSet converts a LIKE pattern. Only a literal prefix followed by % (or a literal
// without wildcards) is supported; \ escapes %, _ and itself. ok is false for any other
// pattern.
func likeSet(pattern []byte) (keySet, bool) {
	prefix := make([]byte, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '\\':
			if i+1 == len(pattern) {
				return keySet{}, false
			}
			i++
			prefix = append(prefix, pattern[i])
		case '_':
			return keySet{}, false
		case '%':
			for _, rest := range pattern[i:] {
				if rest != '%' {
					return keySet{}, false
				}
			}
			r := kv.PrefixRange(prefix)
			return rangeSet(r.Start, r.End), true
		default:
			prefix = append(prefix, c)
		}
	}
	return pointSet([]kv.Key{prefix}), true
}
