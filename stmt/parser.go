package stmt

import (
	"strconv"
	"strings"
)

// Options configures parsing. The zero value parses with the defaults.
type Options struct {
	// Table is the name of the virtual table of the SQL subset (the DSN's table
	// parameter). Matched case-insensitively, quoted or not. Default "kv".
	Table string
}

// Parse parses one statement of the dialect (see the package documentation for the
// grammar). A single trailing ; is allowed; a second statement is an error. Errors are
// *SyntaxError values naming the position, what was found and what is supported.
// Parse is safe for concurrent use.
func Parse(text string, opts Options) (*Statement, error) {
	if opts.Table == "" {
		opts.Table = "kv"
	}
	p := &parser{lx: newLexer(text), opts: opts, st: &Statement{}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.statement(p.st); err != nil {
		return nil, err
	}
	if p.isPunct(";") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokEOF {
			return nil, p.fail("end of statement: multi-statement strings are not supported")
		}
	}
	if p.tok.kind != tokEOF {
		return nil, p.fail("end of statement")
	}
	return p.st, nil
}

// parser is a recursive-descent parser over the lexer's tokens. One token of lookahead
// (tok) suffices for the whole grammar.
type parser struct {
	lx    lexer
	tok   token
	opts  Options
	st    *Statement // the top-level statement, which owns the placeholders
	alias string     // the table alias of a SELECT, if any
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// fail returns a SyntaxError at the current token.
func (p *parser) fail(expected string) error {
	return &SyntaxError{Pos: p.tok.pos, Found: p.tok.describe(), Expected: expected}
}

func (p *parser) isKw(kw string) bool {
	return p.tok.kind == tokIdent && strings.EqualFold(p.tok.text, kw)
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

// acceptKw consumes the keyword if it is the current token.
func (p *parser) acceptKw(kw string) (bool, error) {
	if !p.isKw(kw) {
		return false, nil
	}
	return true, p.advance()
}

func (p *parser) expectKw(kw, expected string) error {
	if !p.isKw(kw) {
		return p.fail(expected)
	}
	return p.advance()
}

func (p *parser) acceptPunct(s string) (bool, error) {
	if !p.isPunct(s) {
		return false, nil
	}
	return true, p.advance()
}

func (p *parser) expectPunct(s, expected string) error {
	if !p.isPunct(s) {
		return p.fail(expected)
	}
	return p.advance()
}

// statement dispatches on the leading verb.
func (p *parser) statement(st *Statement) error {
	st.table = p.opts.Table
	verbs := "GET, BATCH, PUT, DELETE, SCAN, CHECKSUM, CAS, TTL, LOCK, EXPLAIN, BEGIN, START, COMMIT, ROLLBACK, SELECT, INSERT, REPLACE or UPDATE"
	if p.tok.kind != tokIdent {
		return p.fail("a statement: " + verbs)
	}
	switch verbOf(p.tok.text) {
	case "GET", "BATCH", "PUT", "SCAN", "CHECKSUM", "CAS", "TTL", "LOCK":
		return p.nativeStatement(st)
	case "DELETE":
		return p.deleteStatement(st)
	case "EXPLAIN":
		return p.explain(st)
	case "BEGIN", "START", "COMMIT", "ROLLBACK":
		return p.txnControl(st)
	case "SELECT":
		return p.selectStatement(st)
	case "INSERT", "REPLACE":
		return p.insertStatement(st)
	case "UPDATE":
		return p.updateStatement(st)
	}
	return p.fail("a statement: " + verbs)
}

// verbOf returns the upper-case spelling of a leading verb, or "" for any other word,
// without allocating.
func verbOf(word string) string {
	for _, v := range [...]string{"SELECT", "INSERT", "UPDATE", "DELETE", "GET", "PUT", "BATCH", "SCAN",
		"REPLACE", "BEGIN", "COMMIT", "ROLLBACK", "START", "CHECKSUM", "CAS", "TTL", "LOCK", "EXPLAIN"} {
		if strings.EqualFold(word, v) {
			return v
		}
	}
	return ""
}

// nativeStatement parses the native KV verbs other than DELETE.
func (p *parser) nativeStatement(st *Statement) error {
	verb := verbOf(p.tok.text)
	if err := p.advance(); err != nil {
		return err
	}
	var err error
	switch verb {
	case "GET":
		st.kind = KindGet
		err = p.keyList(st, 1)
	case "BATCH":
		err = p.batch(st)
	case "PUT":
		st.kind = KindPut
		var pr pair
		if pr, err = p.keyValue(); err == nil {
			st.pairs = []pair{pr}
			err = p.optTTL(st)
		}
	case "SCAN":
		err = p.scan(st)
	case "CHECKSUM":
		st.kind = KindChecksum
		err = p.rangeBounds(st)
	case "CAS":
		st.kind = KindCAS
		err = p.cas(st)
	case "TTL":
		st.kind = KindTTL
		err = p.keyList(st, 1)
	case "LOCK":
		st.kind = KindLock
		err = p.lock(st)
	}
	return err
}

// keyList parses max (0 = unlimited) comma-separated key operands into st.keys.
func (p *parser) keyList(st *Statement, maxKeys int) error {
	for {
		k, err := p.operand("a key (string, hex literal or placeholder)", false)
		if err != nil {
			return err
		}
		st.keys = append(st.keys, k)
		if maxKeys > 0 && len(st.keys) == maxKeys {
			return nil
		}
		if ok, err := p.acceptPunct(","); err != nil || !ok {
			return err
		}
	}
}

func (p *parser) keyValue() (pair, error) {
	k, err := p.operand("a key (string, hex literal or placeholder)", false)
	if err != nil {
		return pair{}, err
	}
	v, err := p.operand("a value (string, hex literal or placeholder)", false)
	return pair{k: k, v: v}, err
}

func (p *parser) batch(st *Statement) error {
	switch {
	case p.isKw("GET"):
		st.kind = KindBatchGet
	case p.isKw("PUT"):
		st.kind = KindBatchPut
	case p.isKw("DELETE"):
		st.kind = KindBatchDelete
	default:
		return p.fail("GET, PUT or DELETE after BATCH")
	}
	if err := p.advance(); err != nil {
		return err
	}
	if st.kind != KindBatchPut {
		return p.keyList(st, 0)
	}
	for {
		if err := p.expectPunct("(", "( key, value )"); err != nil {
			return err
		}
		pr, err := p.keyValue0()
		if err != nil {
			return err
		}
		st.pairs = append(st.pairs, pr)
		if err := p.expectPunct(")", ")"); err != nil {
			return err
		}
		if ok, err := p.acceptPunct(","); err != nil {
			return err
		} else if !ok {
			return p.optTTL(st)
		}
	}
}

// keyValue0 parses "key , value" (inside parentheses).
func (p *parser) keyValue0() (pair, error) {
	k, err := p.operand("a key (string, hex literal or placeholder)", false)
	if err != nil {
		return pair{}, err
	}
	if err := p.expectPunct(",", ", value"); err != nil {
		return pair{}, err
	}
	v, err := p.operand("a value (string, hex literal or placeholder)", false)
	return pair{k: k, v: v}, err
}

func (p *parser) optTTL(st *Statement) error {
	if ok, err := p.acceptKw("TTL"); err != nil || !ok {
		return err
	}
	t, err := p.number("a TTL in seconds (integer or placeholder)")
	st.ttl = t
	return err
}

// rangeBounds parses "start end"; end may be NULL for +inf, start NULL for the first key.
func (p *parser) rangeBounds(st *Statement) error {
	var err error
	if st.start, err = p.operand("a start key (string, hex literal, NULL or placeholder)", true); err != nil {
		return err
	}
	st.end, err = p.operand("an end key (string, hex literal, NULL or placeholder)", true)
	return err
}

func (p *parser) scan(st *Statement) error {
	if ok, err := p.acceptKw("PREFIX"); err != nil {
		return err
	} else if ok {
		st.kind = KindScanPrefix
		if st.prefix, err = p.operand("a prefix (string, hex literal or placeholder)", false); err != nil {
			return err
		}
	} else {
		st.kind = KindScan
		if err := p.rangeBounds(st); err != nil {
			return err
		}
	}
	if ok, err := p.acceptKw("LIMIT"); err != nil {
		return err
	} else if ok {
		if st.limit, err = p.number("a limit (integer or placeholder)"); err != nil {
			return err
		}
	}
	if ok, err := p.acceptKw("REVERSE"); err != nil {
		return err
	} else if ok {
		st.reverse = true
	}
	if ok, err := p.acceptKw("KEYS"); err != nil {
		return err
	} else if ok {
		st.keysOnly = true
		return p.expectKw("ONLY", "ONLY after KEYS")
	}
	return nil
}

func (p *parser) cas(st *Statement) error {
	if err := p.keyList(st, 1); err != nil {
		return err
	}
	var err error
	if st.expected, err = p.operand("the expected value (string, hex literal, NULL for absent, or placeholder)", true); err != nil {
		return err
	}
	st.value, err = p.operand("the new value (string, hex literal or placeholder)", false)
	return err
}

func (p *parser) lock(st *Statement) error {
	if err := p.keyList(st, 0); err != nil {
		return err
	}
	if ok, err := p.acceptKw("NOWAIT"); err != nil || ok {
		st.noWait = ok
		return err
	}
	if ok, err := p.acceptKw("WAIT"); err != nil || !ok {
		return err
	}
	var err error
	st.wait, err = p.operand("a wait duration such as '500ms' (string or placeholder)", false)
	return err
}

// deleteStatement parses DELETE k, DELETE RANGE s e and DELETE FROM kv WHERE ....
func (p *parser) deleteStatement(st *Statement) error {
	if err := p.advance(); err != nil {
		return err
	}
	if ok, err := p.acceptKw("RANGE"); err != nil {
		return err
	} else if ok {
		st.kind = KindDeleteRange
		return p.rangeBounds(st)
	}
	if p.isKw("FROM") {
		return p.deleteWhere(st)
	}
	st.kind = KindDelete
	return p.keyList(st, 1)
}

func (p *parser) explain(st *Statement) error {
	if err := p.advance(); err != nil {
		return err
	}
	if p.isKw("EXPLAIN") {
		return p.fail("a statement to explain (EXPLAIN does not nest)")
	}
	inner := &Statement{}
	st.kind = KindExplain
	st.inner = inner
	return p.statement(inner)
}

// txnControl parses BEGIN [OPTIMISTIC|PESSIMISTIC] [READ ONLY|READ WRITE],
// START TRANSACTION [READ ONLY|READ WRITE], COMMIT [WORK] and ROLLBACK [WORK].
func (p *parser) txnControl(st *Statement) error {
	verb := verbOf(p.tok.text)
	if err := p.advance(); err != nil {
		return err
	}
	switch verb {
	case "COMMIT", "ROLLBACK":
		st.kind = KindCommit
		if verb == "ROLLBACK" {
			st.kind = KindRollback
		}
		_, err := p.acceptKw("WORK")
		return err
	case "START":
		if err := p.expectKw("TRANSACTION", "TRANSACTION after START"); err != nil {
			return err
		}
	default:
		if _, err := p.acceptKw("TRANSACTION"); err != nil {
			return err
		}
		switch {
		case p.isKw("OPTIMISTIC"):
			st.pessimistic = -1
		case p.isKw("PESSIMISTIC"):
			st.pessimistic = 1
		}
		if st.pessimistic != 0 {
			if err := p.advance(); err != nil {
				return err
			}
		}
	}
	st.kind = KindBegin
	if ok, err := p.acceptKw("READ"); err != nil || !ok {
		return err
	}
	switch {
	case p.isKw("ONLY"):
		st.readOnly = true
	case !p.isKw("WRITE"):
		return p.fail("ONLY or WRITE after READ")
	}
	return p.advance()
}

// operand parses a key or value: a string or hex literal or a placeholder, or NULL
// when nullOK.
func (p *parser) operand(what string, nullOK bool) (expr, error) {
	if p.tok.kind == tokInt {
		return expr{}, p.fail(what)
	}
	return p.anyOperand(what, nullOK)
}

// number parses an integer literal or a placeholder (LIMIT, OFFSET, TTL).
func (p *parser) number(what string) (expr, error) {
	if p.tok.kind == tokString || p.tok.kind == tokHex {
		return expr{}, p.fail(what)
	}
	return p.anyOperand(what, false)
}

// anyOperand parses a literal or placeholder. NULL is accepted only when nullOK.
func (p *parser) anyOperand(what string, nullOK bool) (expr, error) {
	t := p.tok
	e := expr{pos: t.pos}
	switch t.kind {
	case tokString, tokHex:
		e.kind, e.b = exprBytes, t.val
	case tokInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return e, p.fail(what + " (integer out of range)")
		}
		e.kind, e.n = exprInt, n
	case tokParam:
		idx, err := p.addParam(t)
		if err != nil {
			return e, err
		}
		e.kind, e.param, e.paramText = exprParam, idx, t.text
	case tokIdent:
		if !nullOK || !strings.EqualFold(t.text, "NULL") {
			return e, p.fail(what)
		}
		e.kind = exprNull
	default:
		return e, p.fail(what)
	}
	return e, p.advance()
}

// addParam records a placeholder in the top-level statement and checks that the
// statement keeps to one placeholder style.
func (p *parser) addParam(t token) (int, error) {
	st := p.st
	var style paramStyle
	pr := param{text: t.text, pos: t.pos}
	switch t.text[0] {
	case '?':
		style = styleQuestion
		pr.ordinal = len(st.params) + 1
	case '$':
		style = styleDollar
		n, err := strconv.Atoi(t.text[1:])
		if err != nil || n > 65535 {
			return 0, p.fail("a placeholder $1..$65535")
		}
		pr.ordinal = n
	case ':':
		style, pr.name = styleColon, t.text[1:]
	default:
		style, pr.name = styleAt, t.text[1:]
	}
	if st.style != styleNone && st.style != style {
		return 0, &SyntaxError{Pos: t.pos, Found: "placeholder " + quoteShort(t.text) + " after " + quoteShort(st.params[0].text),
			Expected: "one placeholder style per statement (?, $N, :name or @name)"}
	}
	st.style = style
	st.params = append(st.params, pr)
	return len(st.params) - 1, nil
}
