package stmt

import "strings"

// tableRef parses the virtual table's name, bare or quoted, with an optional alias when
// aliasOK.
func (p *parser) tableRef(aliasOK bool) error {
	if (p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent) || !strings.EqualFold(p.tok.text, p.opts.Table) {
		return p.fail("the table " + quoteShort(p.opts.Table) + " (the only table; see the table DSN parameter)")
	}
	if err := p.advance(); err != nil {
		return err
	}
	if !aliasOK {
		return nil
	}
	if _, err := p.acceptKw("AS"); err != nil {
		return err
	}
	if p.tok.kind == tokQuotedIdent || (p.tok.kind == tokIdent && !isClauseKeyword(p.tok.text)) {
		p.alias = p.tok.text
		return p.advance()
	}
	return nil
}

// isClauseKeyword reports words that may follow a table reference and so cannot be an
// alias.
func isClauseKeyword(s string) bool {
	for _, kw := range [...]string{"WHERE", "ORDER", "LIMIT", "FOR", "SET", "VALUES", "ON", "JOIN",
		"INNER", "LEFT", "RIGHT", "CROSS", "GROUP", "HAVING", "UNION", "OFFSET", "RETURNING", "AS", "USING", "NATURAL"} {
		if strings.EqualFold(s, kw) {
			return true
		}
	}
	return false
}

// columnRef parses k or v, optionally qualified by the table name or alias, bare or
// quoted.
func (p *parser) columnRef() (column, error) {
	const want = "the column k or v (optionally qualified by the table)"
	if p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent {
		return 0, p.fail(want)
	}
	name := p.tok
	if err := p.advance(); err != nil {
		return 0, err
	}
	if p.isPunct(".") {
		if !strings.EqualFold(name.text, p.opts.Table) && !(p.alias != "" && strings.EqualFold(name.text, p.alias)) {
			return 0, &SyntaxError{Pos: name.pos, Found: name.describe(), Expected: "the table " + quoteShort(p.opts.Table) + " or its alias as a qualifier"}
		}
		if err := p.advance(); err != nil {
			return 0, err
		}
		if p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent {
			return 0, p.fail(want)
		}
		name = p.tok
		if err := p.advance(); err != nil {
			return 0, err
		}
	}
	switch {
	case strings.EqualFold(name.text, "k"):
		return colK, nil
	case strings.EqualFold(name.text, "v"):
		return colV, nil
	}
	return 0, &SyntaxError{Pos: name.pos, Found: name.describe(), Expected: want}
}

// selectStatement parses SELECT 1, SELECT version() and SELECT ... FROM kv ....
func (p *parser) selectStatement(st *Statement) error {
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind == tokInt && p.tok.text == "1" {
		st.kind = KindSelectConst
		return p.advance()
	}
	if p.isKw("version") {
		st.kind = KindSelectVersion
		if err := p.advance(); err != nil {
			return err
		}
		if err := p.expectPunct("(", "( after version"); err != nil {
			return err
		}
		return p.expectPunct(")", ") after version(")
	}
	st.kind = KindSelect
	if err := p.selectItems(st); err != nil {
		return err
	}
	if err := p.expectKw("FROM", "FROM after the select list"); err != nil {
		return err
	}
	if err := p.tableRef(true); err != nil {
		return err
	}
	if err := p.optWhere(st, false); err != nil {
		return err
	}
	if err := p.optOrderBy(st); err != nil {
		return err
	}
	if err := p.optLimit(st); err != nil {
		return err
	}
	if st.items[0].count && st.limit.kind != exprNone {
		return &SyntaxError{Pos: st.limit.pos, Found: "LIMIT with count(*)", Expected: "count(*) without LIMIT or OFFSET"}
	}
	if ok, err := p.acceptKw("FOR"); err != nil || !ok {
		return err
	}
	st.forUpdate = true
	return p.expectKw("UPDATE", "UPDATE after FOR")
}

// selectItems parses *, count(*) or a list of k and v, each with an optional alias.
func (p *parser) selectItems(st *Statement) error {
	if ok, err := p.acceptPunct("*"); err != nil || ok {
		st.items = []selectItem{{col: colK}, {col: colV}}
		return err
	}
	for {
		var it selectItem
		if p.isKw("count") {
			if err := p.countStar(); err != nil {
				return err
			}
			it.count = true
		} else {
			c, err := p.columnRef()
			if err != nil {
				return err
			}
			it.col = c
		}
		if err := p.optAlias(&it); err != nil {
			return err
		}
		st.items = append(st.items, it)
		ok, err := p.acceptPunct(",")
		if err != nil {
			return err
		}
		if !ok {
			break
		}
	}
	for _, it := range st.items {
		if it.count && len(st.items) > 1 {
			return p.fail("count(*) alone in the select list")
		}
	}
	return nil
}

func (p *parser) countStar() error {
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.expectPunct("(", "( after count"); err != nil {
		return err
	}
	if !p.isPunct("*") && !(p.tok.kind == tokInt && p.tok.text == "1") {
		return p.fail("count(*) or count(1)")
	}
	if err := p.advance(); err != nil {
		return err
	}
	return p.expectPunct(")", ") after count(*")
}

func (p *parser) optAlias(it *selectItem) error {
	ok, err := p.acceptKw("AS")
	if err != nil {
		return err
	}
	if p.tok.kind == tokQuotedIdent || (p.tok.kind == tokIdent && !p.isKw("FROM")) {
		it.alias = p.tok.text
		return p.advance()
	}
	if ok {
		return p.fail("an alias after AS")
	}
	return nil
}

func (p *parser) optOrderBy(st *Statement) error {
	if ok, err := p.acceptKw("ORDER"); err != nil || !ok {
		return err
	}
	if err := p.expectKw("BY", "BY after ORDER"); err != nil {
		return err
	}
	pos := p.tok.pos
	c, err := p.columnRef()
	if err != nil {
		return err
	}
	if c != colK {
		return &SyntaxError{Pos: pos, Found: "ORDER BY v", Expected: "ORDER BY k: rows are ordered by key only"}
	}
	if ok, err := p.acceptKw("DESC"); err != nil || ok {
		st.reverse = ok
		return err
	}
	_, err = p.acceptKw("ASC")
	return err
}

// optLimit parses LIMIT n [OFFSET m] and MySQL's LIMIT m, n.
func (p *parser) optLimit(st *Statement) error {
	if ok, err := p.acceptKw("LIMIT"); err != nil || !ok {
		return err
	}
	var err error
	if st.limit, err = p.number("a limit (integer or placeholder)"); err != nil {
		return err
	}
	if ok, err := p.acceptPunct(","); err != nil {
		return err
	} else if ok {
		st.offset, st.offsetFirst = st.limit, true
		st.limit, err = p.number("a limit (integer or placeholder)")
		return err
	}
	if ok, err := p.acceptKw("OFFSET"); err != nil || !ok {
		return err
	}
	st.offset, err = p.number("an offset (integer or placeholder)")
	return err
}

// insertStatement parses INSERT [IGNORE] INTO and REPLACE INTO with their upsert
// clauses.
func (p *parser) insertStatement(st *Statement) error {
	st.kind = KindInsert
	st.putMode = PutIfAbsent
	if p.isKw("REPLACE") {
		st.putMode = PutBlind
	}
	if err := p.advance(); err != nil {
		return err
	}
	if st.putMode == PutIfAbsent {
		if ok, err := p.acceptKw("IGNORE"); err != nil {
			return err
		} else if ok {
			st.putMode = PutIgnoreExist
		}
	}
	if err := p.expectKw("INTO", "INTO"); err != nil {
		return err
	}
	if err := p.tableRef(false); err != nil {
		return err
	}
	valueFirst, err := p.insertColumns()
	if err != nil {
		return err
	}
	st.valueFirst = valueFirst
	if err := p.expectKw("VALUES", "VALUES (INSERT ... SELECT is not supported)"); err != nil {
		return err
	}
	if err := p.insertRows(st, valueFirst); err != nil {
		return err
	}
	if st.putMode != PutBlind && p.isKw("ON") {
		return p.upsertClause(st)
	}
	return nil
}

// insertColumns parses the optional (k, v) / (v, k) list; it reports whether v is first.
func (p *parser) insertColumns() (bool, error) {
	if ok, err := p.acceptPunct("("); err != nil || !ok {
		return false, err
	}
	pos := p.tok.pos
	c1, err := p.columnRef()
	if err != nil {
		return false, err
	}
	if err := p.expectPunct(",", ", and the second column"); err != nil {
		return false, err
	}
	c2, err := p.columnRef()
	if err != nil {
		return false, err
	}
	if c1 == c2 {
		return false, &SyntaxError{Pos: pos, Found: "a repeated column", Expected: "the columns (k, v)"}
	}
	return c1 == colV, p.expectPunct(")", ") after the column list")
}

func (p *parser) insertRows(st *Statement, valueFirst bool) error {
	for {
		if err := p.expectPunct("(", "( before a row of values"); err != nil {
			return err
		}
		pr, err := p.keyValue0()
		if err != nil {
			return err
		}
		if valueFirst {
			pr.k, pr.v = pr.v, pr.k
		}
		st.pairs = append(st.pairs, pr)
		if err := p.expectPunct(")", ") after a row of values"); err != nil {
			return err
		}
		if ok, err := p.acceptPunct(","); err != nil || !ok {
			return err
		}
	}
}

// upsertClause parses ON DUPLICATE KEY UPDATE ... and ON CONFLICT [(k)] DO ....
func (p *parser) upsertClause(st *Statement) error {
	if err := p.advance(); err != nil {
		return err
	}
	if ok, err := p.acceptKw("DUPLICATE"); err != nil {
		return err
	} else if ok {
		if err := p.expectKw("KEY", "KEY after ON DUPLICATE"); err != nil {
			return err
		}
		if err := p.expectKw("UPDATE", "UPDATE after ON DUPLICATE KEY"); err != nil {
			return err
		}
		st.putMode = PutBlind
		return p.upsertAssignments("VALUES")
	}
	if err := p.expectKw("CONFLICT", "DUPLICATE KEY UPDATE or CONFLICT after ON"); err != nil {
		return err
	}
	if ok, err := p.acceptPunct("("); err != nil {
		return err
	} else if ok {
		pos := p.tok.pos
		if c, err := p.columnRef(); err != nil {
			return err
		} else if c != colK {
			return &SyntaxError{Pos: pos, Found: "ON CONFLICT (v)", Expected: "ON CONFLICT (k): k is the only unique column"}
		}
		if err := p.expectPunct(")", ") after the conflict column"); err != nil {
			return err
		}
	}
	if err := p.expectKw("DO", "DO after ON CONFLICT"); err != nil {
		return err
	}
	if ok, err := p.acceptKw("NOTHING"); err != nil || ok {
		st.putMode = PutIgnoreExist
		return err
	}
	if err := p.expectKw("UPDATE", "NOTHING or UPDATE SET v = excluded.v after DO"); err != nil {
		return err
	}
	if err := p.expectKw("SET", "SET after DO UPDATE"); err != nil {
		return err
	}
	st.putMode = PutBlind
	return p.upsertAssignments("excluded")
}

// upsertAssignments parses "c = VALUES(c)" (form "VALUES") or "c = excluded.c" (form
// "excluded") assignments: the upsert writes the new row, which is all the KV model can do.
func (p *parser) upsertAssignments(form string) error {
	want := "v = VALUES(v) (the only supported update: write the new value)"
	if form == "excluded" {
		want = "v = excluded.v (the only supported update: write the new value)"
	}
	for {
		pos := p.tok.pos
		c, err := p.columnRef()
		if err != nil {
			return err
		}
		if err := p.expectPunct("=", want); err != nil {
			return err
		}
		src, err := p.upsertSource(form, want)
		if err != nil {
			return err
		}
		if src != c {
			return &SyntaxError{Pos: pos, Found: "an assignment from another column", Expected: want}
		}
		if ok, err := p.acceptPunct(","); err != nil || !ok {
			return err
		}
	}
}

func (p *parser) upsertSource(form, want string) (column, error) {
	if (p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent) || !strings.EqualFold(p.tok.text, form) {
		return 0, p.fail(want)
	}
	if err := p.advance(); err != nil {
		return 0, err
	}
	if form == "excluded" {
		if err := p.expectPunct(".", want); err != nil {
			return 0, err
		}
		return p.columnRef()
	}
	if err := p.expectPunct("(", want); err != nil {
		return 0, err
	}
	c, err := p.columnRef()
	if err != nil {
		return 0, err
	}
	return c, p.expectPunct(")", want)
}

// updateStatement parses UPDATE kv SET v = x WHERE k = y [AND v = z].
func (p *parser) updateStatement(st *Statement) error {
	st.kind = KindUpdate
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.tableRef(false); err != nil {
		return err
	}
	if err := p.expectKw("SET", "SET v = value"); err != nil {
		return err
	}
	pos := p.tok.pos
	if c, err := p.columnRef(); err != nil {
		return err
	} else if c != colV {
		return &SyntaxError{Pos: pos, Found: "SET k", Expected: "SET v = value: keys cannot be updated (delete and insert instead)"}
	}
	if err := p.expectPunct("=", "= value"); err != nil {
		return err
	}
	var err error
	if st.value, err = p.operand("a value (string, hex literal or placeholder)", false); err != nil {
		return err
	}
	if p.isPunct(",") {
		return p.fail("WHERE: only v can be set")
	}
	if !p.isKw("WHERE") {
		return p.fail("WHERE k = key [AND v = expected]")
	}
	return p.optWhere(st, true)
}

// deleteWhere parses DELETE FROM kv WHERE keypred.
func (p *parser) deleteWhere(st *Statement) error {
	st.kind = KindDeleteWhere
	if err := p.advance(); err != nil {
		return err
	}
	if err := p.tableRef(false); err != nil {
		return err
	}
	if !p.isKw("WHERE") {
		return p.fail("WHERE with a key predicate (to delete every key, use DELETE RANGE '' NULL)")
	}
	return p.optWhere(st, false)
}
