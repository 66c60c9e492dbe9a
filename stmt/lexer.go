package stmt

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Pos is a position in statement text: a byte offset and a 1-based line and column
// (columns count bytes).
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// String renders the position as line:col.
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// tokKind classifies a token.
type tokKind uint8

const (
	tokEOF         tokKind = iota
	tokIdent               // bare word: a keyword or an identifier, matched case-insensitively
	tokQuotedIdent         // `x` or "x": an identifier, never a keyword
	tokString              // 'text' with '' escaping; val holds the bytes
	tokHex                 // x'..' or 0x..; val holds the bytes
	tokInt                 // decimal integer; text holds the digits
	tokParam               // ?, $N, :name or @name
	tokPunct               // ( ) , * = < > <= >= <> != ; .
)

// token is one lexeme. text is the source text for identifiers, numbers, punctuation and
// placeholders (the unquoted name for quoted identifiers); val holds decoded bytes of
// string and hex literals.
type token struct {
	kind tokKind
	text string
	val  []byte
	pos  Pos
}

// describe renders a token for error messages, truncating long text.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of statement"
	case tokString:
		return "string literal " + quoteShort(string(t.val))
	case tokHex:
		return "hex literal"
	case tokQuotedIdent:
		return "identifier " + quoteShort(t.text)
	}
	return quoteShort(t.text)
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}

// lexer splits statement text into tokens on demand.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) lexer { return lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Col: l.col} }

// advance moves n bytes forward, tracking lines.
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

// skipSpace skips white space and -- and /* */ comments.
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance(1)
		case strings.HasPrefix(l.src[l.off:], "--") || c == '#':
			end := strings.IndexByte(l.src[l.off:], '\n')
			if end < 0 {
				end = len(l.src) - l.off
			}
			l.advance(end)
		case strings.HasPrefix(l.src[l.off:], "/*"):
			start := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return &SyntaxError{Pos: start, Found: "unterminated comment", Expected: "*/"}
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	start := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.off]
	switch {
	case (c == 'x' || c == 'X') && l.peekByte(1) == '\'':
		return l.lexHexQuoted(start)
	case c == '0' && (l.peekByte(1) == 'x' || l.peekByte(1) == 'X'):
		return l.lexHex0x(start)
	case isIdentStart(c):
		n := l.scanIdent(l.off)
		t := token{kind: tokIdent, text: l.src[l.off:n], pos: start}
		l.advance(n - l.off)
		return t, nil
	case c >= '0' && c <= '9':
		n := l.off
		for n < len(l.src) && l.src[n] >= '0' && l.src[n] <= '9' {
			n++
		}
		if n < len(l.src) && isIdentStart(l.src[n]) {
			return token{}, &SyntaxError{Pos: start, Found: quoteShort(l.src[l.off : n+1]), Expected: "a number, or a space after it"}
		}
		t := token{kind: tokInt, text: l.src[l.off:n], pos: start}
		l.advance(n - l.off)
		return t, nil
	case c == '\'':
		return l.lexString(start)
	case c == '`' || c == '"':
		return l.lexQuotedIdent(start, c)
	case c == '?' || c == '$' || c == ':' || c == '@':
		return l.lexParam(start, c)
	}
	return l.lexPunct(start, c)
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }

func isIdentByte(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (l *lexer) scanIdent(from int) int {
	n := from
	for n < len(l.src) && isIdentByte(l.src[n]) {
		n++
	}
	return n
}

// lexString reads '...' with ” as an escaped quote.
func (l *lexer) lexString(start Pos) (token, error) {
	var buf []byte
	i := l.off + 1
	for {
		end := strings.IndexByte(l.src[i:], '\'')
		if end < 0 {
			return token{}, &SyntaxError{Pos: start, Found: "unterminated string literal", Expected: "a closing '"}
		}
		if buf == nil && (i+end+1 >= len(l.src) || l.src[i+end+1] != '\'') {
			// Common case: no escapes.
			t := token{kind: tokString, val: []byte(l.src[i : i+end]), pos: start}
			l.advance(i + end + 1 - l.off)
			return t, nil
		}
		buf = append(buf, l.src[i:i+end]...)
		i += end + 1
		if i < len(l.src) && l.src[i] == '\'' {
			buf = append(buf, '\'')
			i++
			continue
		}
		t := token{kind: tokString, val: buf, pos: start}
		if t.val == nil {
			t.val = []byte{}
		}
		l.advance(i - l.off)
		return t, nil
	}
}

// lexQuotedIdent reads `name` or "name"; a doubled quote escapes itself.
func (l *lexer) lexQuotedIdent(start Pos, q byte) (token, error) {
	var b strings.Builder
	i := l.off + 1
	for {
		end := strings.IndexByte(l.src[i:], q)
		if end < 0 {
			return token{}, &SyntaxError{Pos: start, Found: "unterminated quoted identifier", Expected: "a closing " + string(q)}
		}
		b.WriteString(l.src[i : i+end])
		i += end + 1
		if i < len(l.src) && l.src[i] == q {
			b.WriteByte(q)
			i++
			continue
		}
		break
	}
	if b.Len() == 0 {
		return token{}, &SyntaxError{Pos: start, Found: "empty quoted identifier", Expected: "a name"}
	}
	l.advance(i - l.off)
	return token{kind: tokQuotedIdent, text: b.String(), pos: start}, nil
}

func (l *lexer) lexHexQuoted(start Pos) (token, error) {
	end := strings.IndexByte(l.src[l.off+2:], '\'')
	if end < 0 {
		return token{}, &SyntaxError{Pos: start, Found: "unterminated hex literal", Expected: "a closing '"}
	}
	digits := l.src[l.off+2 : l.off+2+end]
	v, err := hex.DecodeString(digits)
	if err != nil {
		return token{}, &SyntaxError{Pos: start, Found: "hex literal x'" + quoteShort(digits)[1:], Expected: "an even number of hex digits"}
	}
	l.advance(end + 3)
	return token{kind: tokHex, val: v, pos: start}, nil
}

func (l *lexer) lexHex0x(start Pos) (token, error) {
	n := l.scanIdent(l.off + 2)
	digits := l.src[l.off+2 : n]
	v, err := hex.DecodeString(digits)
	if err != nil || len(digits) == 0 {
		return token{}, &SyntaxError{Pos: start, Found: quoteShort(l.src[l.off:n]), Expected: "an even, non-zero number of hex digits after 0x"}
	}
	l.advance(n - l.off)
	return token{kind: tokHex, val: v, pos: start}, nil
}

// lexParam reads ?, $N, :name or @name.
func (l *lexer) lexParam(start Pos, c byte) (token, error) {
	if c == '?' {
		l.advance(1)
		return token{kind: tokParam, text: "?", pos: start}, nil
	}
	n := l.off + 1
	if c == '$' {
		for n < len(l.src) && l.src[n] >= '0' && l.src[n] <= '9' {
			n++
		}
		if n == l.off+1 || l.src[l.off+1] == '0' {
			return token{}, &SyntaxError{Pos: start, Found: quoteShort(l.src[l.off:n]), Expected: "a placeholder $1, $2, ..."}
		}
	} else {
		if n >= len(l.src) || !isIdentStart(l.src[n]) {
			return token{}, &SyntaxError{Pos: start, Found: quoteShort(string(c)), Expected: "a placeholder name such as " + string(c) + "key"}
		}
		n = l.scanIdent(n)
	}
	t := token{kind: tokParam, text: l.src[l.off:n], pos: start}
	l.advance(n - l.off)
	return t, nil
}

func (l *lexer) lexPunct(start Pos, c byte) (token, error) {
	two := ""
	if l.off+1 < len(l.src) {
		two = l.src[l.off : l.off+2]
	}
	switch two {
	case "<=", ">=", "<>", "!=":
		l.advance(2)
		return token{kind: tokPunct, text: two, pos: start}, nil
	}
	switch c {
	case '(', ')', ',', '*', '=', '<', '>', ';', '.':
		t := token{kind: tokPunct, text: l.src[l.off : l.off+1], pos: start}
		l.advance(1)
		return t, nil
	}
	return token{}, &SyntaxError{Pos: start, Found: quoteShort(string(c)), Expected: "a keyword, identifier, literal, placeholder or punctuation"}
}
