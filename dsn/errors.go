package dsn

import "fmt"

// redacted replaces secrets in errors and in Redacted output.
const redacted = "xxxxx"

// Error reports a DSN that cannot be parsed or a Config that is not valid. Param names
// the part at fault: a parameter name ("txnMode"), or "scheme", "host", "userinfo",
// "keyspace", "memName" or "query". Value is the offending text, already replaced by
// "xxxxx" when it is a secret (userinfo, tlsKey). Err is an underlying cause, if any.
type Error struct {
	Param  string
	Value  string
	Reason string
	Err    error
}

// Error implements error. It never contains a secret.
func (e *Error) Error() string {
	msg := "tikv dsn: " + e.Param
	if e.Value != "" {
		msg += fmt.Sprintf(" %q", e.Value)
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }
