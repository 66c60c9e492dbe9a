package dsn

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseDSN parses a DSN of the form
//
//	tikv://host[:port][,host[:port]...][/keyspace][?param=value&...]
//	memory://name[/keyspace][?param=value&...]
//
// into a Config that starts from NewConfig's defaults. Hosts are parsed by hand (not by
// net/url, which rejects host lists): IPv6 hosts are bracketed, with an optional zone
// written %25zone; a host without a port gets port 2379. Parameter names are camelCase
// and case-sensitive; unknown, repeated or malformed parameters are errors, and values are
// query-unescaped. Credentials (user:password@) are rejected, since TiKV has none. Every
// error is a *Error, and none echoes a secret.
func ParseDSN(dsn string) (*Config, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, &Error{Param: "scheme", Reason: "want tikv://... or memory://..."}
	}
	c := NewConfig()
	switch scheme {
	case "tikv":
		c.Backend = BackendTiKV
	case "memory":
		c.Backend = BackendMemory
	default:
		return nil, &Error{Param: "scheme", Value: scheme, Reason: "supported: tikv, memory"}
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	if err := c.parseAuthority(authority); err != nil {
		return nil, err
	}
	path, query, _ := strings.Cut(rest, "?")
	if path != "" && path != "/" {
		ks := path[1:]
		if !isKeyspaceName(ks) {
			return nil, &Error{Param: "keyspace", Value: ks, Reason: "want 1 to 64 characters of [A-Za-z0-9_-]"}
		}
		c.Keyspace = ks
	}
	if err := c.parseQuery(query); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) parseAuthority(authority string) error {
	if strings.Contains(authority, "@") {
		return &Error{Param: "userinfo", Value: redacted, Reason: "TiKV has no users or passwords; remove the credentials (use TLS client certificates)"}
	}
	if c.Backend == BackendMemory {
		if !isMemName(authority) {
			return &Error{Param: "memName", Value: authority, Reason: "memory:// needs a name of [A-Za-z0-9_.-]"}
		}
		c.MemName = authority
		return nil
	}
	if authority == "" {
		return &Error{Param: "host", Reason: "at least one PD address is required"}
	}
	seen := make(map[string]bool)
	for _, h := range strings.Split(authority, ",") {
		addr, err := parseHost(h)
		if err != nil {
			return err
		}
		if seen[addr] {
			return &Error{Param: "host", Value: addr, Reason: "duplicate PD address"}
		}
		seen[addr] = true
		c.PDAddrs = append(c.PDAddrs, addr)
	}
	return nil
}

// parseHost turns one host of the authority into a canonical "host:port".
func parseHost(h string) (string, error) {
	var host, port string
	hasPort := false
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", &Error{Param: "host", Value: h, Reason: "missing ] after an IPv6 address"}
		}
		ip, err := parseIPv6(h[1:end])
		if err != nil {
			return "", &Error{Param: "host", Value: h, Reason: "invalid IPv6 address (write a zone as %25zone)"}
		}
		host = ip
		if rest := h[end+1:]; rest != "" {
			if rest[0] != ':' {
				return "", &Error{Param: "host", Value: h, Reason: "want [ipv6]:port"}
			}
			port, hasPort = rest[1:], true
		}
	} else {
		if strings.Count(h, ":") > 1 {
			return "", &Error{Param: "host", Value: h, Reason: "an IPv6 address must be bracketed: [addr]:port"}
		}
		host, port, hasPort = strings.Cut(h, ":")
		if !isHostName(host) {
			return "", &Error{Param: "host", Value: h, Reason: "want a host name or address of [A-Za-z0-9_.-]"}
		}
	}
	if !hasPort {
		return net.JoinHostPort(host, DefaultPort), nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || port[0] == '+' {
		return "", &Error{Param: "host", Value: h, Reason: "want a port in 1..65535"}
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

// parseIPv6 parses the inside of [...], accepting a zone as %25zone or %zone, and returns
// its canonical text.
func parseIPv6(s string) (string, error) {
	addr, zone, hasZone := strings.Cut(s, "%")
	if hasZone {
		zone = strings.TrimPrefix(zone, "25")
		if !isMemName(zone) {
			return "", &Error{Param: "host", Value: s, Reason: "invalid zone"}
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() {
		return "", &Error{Param: "host", Value: s, Reason: "invalid IPv6 address"}
	}
	if hasZone {
		ip = ip.WithZone(zone)
	}
	return ip.String(), nil
}

// explicit records which parameters a DSN set, for the rules between them.
type explicit struct {
	apiVersion, tls bool
}

func (c *Config) parseQuery(query string) error {
	var ex explicit
	seen := make(map[string]bool)
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		name, raw, ok := strings.Cut(part, "=")
		if !ok {
			return &Error{Param: "query", Reason: "a parameter without =; want param=value"}
		}
		if seen[name] {
			return &Error{Param: name, Reason: "parameter given twice"}
		}
		seen[name] = true
		value, err := url.QueryUnescape(raw)
		if err != nil {
			return &Error{Param: name, Reason: "bad %-escape in the value"}
		}
		if err := c.setParam(name, value, &ex); err != nil {
			return err
		}
	}
	if !ex.apiVersion && c.Keyspace != "" {
		c.APIVersion = APIV2
	}
	if !ex.tls && (c.TLSCA != "" || c.TLSCert != "" || c.TLSKey != "" || c.TLSServerName != "") {
		c.TLSConfig = TLSTrue
	}
	return nil
}

// setParam applies one query parameter.
func (c *Config) setParam(name, value string, ex *explicit) error {
	switch name {
	case "mode", "txnMode", "replicaRead", "isolation", "apiVersion":
		ex.apiVersion = ex.apiVersion || name == "apiVersion"
		return c.setEnum(name, value)
	case "asyncCommit", "onePC", "pipelined", "atomic", "forwarding":
		return c.setBool(name, value)
	case "staleRead", "timeout", "dialTimeout":
		return c.setDuration(name, value)
	case "lockWaitTimeout":
		w, err := ParseLockWait(value)
		c.LockWait = w
		return err
	case "keyspace", "keyspaceName":
		if c.Keyspace != "" && c.Keyspace != value || !isKeyspaceName(value) {
			return &Error{Param: name, Value: value, Reason: "want 1 to 64 characters of [A-Za-z0-9_-], equal to the path's keyspace if both are given"}
		}
		c.Keyspace = value
	case "tls":
		ex.tls = true
		return c.setTLS(value)
	case "tlsCA", "tlsCert", "tlsKey", "tlsServerName", "resourceGroup", "requestSource":
		return c.setString(name, value)
	case "table":
		if !isIdent(value) {
			return &Error{Param: name, Value: value, Reason: "must be an identifier [A-Za-z_][A-Za-z0-9_]*"}
		}
		c.Table = value
	case "maxScan":
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return &Error{Param: name, Value: value, Reason: "want a positive integer"}
		}
		c.MaxScan = n
	default:
		return &Error{Param: name, Reason: "unknown parameter (names are camelCase; see the dsn package documentation)"}
	}
	return nil
}

func (c *Config) setEnum(name, value string) error {
	var err error
	switch name {
	case "mode":
		err = oneOf(name, value, []string{"txn", "raw"})
		c.Mode = Mode(value)
	case "txnMode":
		err = oneOf(name, value, []string{"optimistic", "pessimistic"})
		c.TxnMode = TxnMode(value)
	case "replicaRead":
		err = oneOf(name, value, []string{"leader", "follower", "mixed", "learner", "preferLeader"})
		c.ReplicaRead = ReplicaRead(value)
	case "isolation":
		err = oneOf(name, value, []string{"snapshot", "repeatableRead", "readCommitted"})
		c.Isolation = Isolation(value)
	case "apiVersion":
		err = oneOf(name, value, []string{"v1", "v2"})
		c.APIVersion = APIVersion(value)
	}
	return err
}

func (c *Config) setBool(name, value string) error {
	b, err := strconv.ParseBool(value)
	if err != nil {
		return &Error{Param: name, Value: value, Reason: "want true or false"}
	}
	switch name {
	case "asyncCommit":
		c.AsyncCommit = b
	case "onePC":
		c.OnePC = b
	case "pipelined":
		c.Pipelined = b
	case "atomic":
		c.Atomic = b
	case "forwarding":
		c.Forwarding = b
	}
	return nil
}

func (c *Config) setDuration(name, value string) error {
	d, err := time.ParseDuration(value)
	if err != nil || d < 0 {
		return &Error{Param: name, Value: value, Reason: "want a non-negative Go duration such as 500ms or 3s"}
	}
	switch name {
	case "staleRead":
		c.StaleRead = d
	case "timeout":
		c.Timeout = d
	case "dialTimeout":
		if d == 0 {
			d = DefaultDialTimeout
		}
		c.DialTimeout = d
	}
	return nil
}

func (c *Config) setTLS(value string) error {
	switch value {
	case TLSFalse:
		c.TLSConfig = ""
		return nil
	case TLSTrue, TLSSkipVerify:
	default:
		if !isMemName(value) {
			return &Error{Param: "tls", Value: value, Reason: "want true, false, skip-verify or a registered name of [A-Za-z0-9_.-]"}
		}
	}
	c.TLSConfig = value
	return nil
}

func (c *Config) setString(name, value string) error {
	if value == "" {
		return &Error{Param: name, Reason: "must not be empty"}
	}
	switch name {
	case "tlsCA":
		c.TLSCA = value
	case "tlsCert":
		c.TLSCert = value
	case "tlsKey":
		c.TLSKey = value
	case "tlsServerName":
		c.TLSServerName = value
	case "resourceGroup":
		c.ResourceGroup = value
	case "requestSource":
		c.RequestSource = value
	}
	return nil
}

func isHostName(s string) bool { return isMemName(s) }

func isKeyspaceName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			return false
		}
	}
	return true
}
