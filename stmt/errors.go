package stmt

import (
	"errors"
	"fmt"
)

// SyntaxError reports text the dialect does not accept: where (Pos), what was found
// there and what is supported at that point. Statements outside the dialect (JOINs,
// subqueries, DDL, OR, expressions over v, ...) are reported this way too.
type SyntaxError struct {
	Pos      Pos
	Found    string // the token or construct found, quoted and truncated
	Expected string // what the dialect supports here
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("stmt: syntax error at %v (offset %d): found %s, expected %s",
		e.Pos, e.Pos.Offset, e.Found, e.Expected)
}

// ErrArgCount is wrapped by binding errors about the number of arguments.
var ErrArgCount = errors.New("stmt: wrong number of arguments")

// BindError reports an argument that cannot be bound to its placeholder: of the wrong
// type, out of range, or missing. Param is the placeholder as written (?, $2, :name),
// with its position; for ? the Ordinal says which one.
type BindError struct {
	Param   string
	Ordinal int    // 1-based argument position, 0 for named arguments
	Pos     Pos    // where the placeholder is in the text
	Want    string // what the position accepts, such as "[]byte or string"
	Got     string // the Go type received, or a description of the problem
	Err     error  // ErrArgCount or nil
	literal bool   // the operand is a literal of the text, not an argument
}

// Error implements error. Argument values are never shown, only their types.
func (e *BindError) Error() string {
	what := "argument " + e.Param
	if e.literal {
		what = "literal"
	} else if e.Ordinal > 0 && e.Param == "?" {
		what = fmt.Sprintf("argument %d (?)", e.Ordinal)
	}
	return fmt.Sprintf("stmt: %s at %v: want %s, got %s", what, e.Pos, e.Want, e.Got)
}

// Unwrap returns ErrArgCount for arity errors.
func (e *BindError) Unwrap() error { return e.Err }
