package dsn

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// FormatDSN returns a DSN that ParseDSN turns back into c (except the TLS field, which
// a DSN cannot hold). Parameters equal to their defaults are left out, and the others
// are written in a fixed order, so FormatDSN(ParseDSN(s)) is a fixed point: formatting the
// parse of its output gives the same string. The output holds secrets (tlsKey); use
// Redacted for logs.
func (c *Config) FormatDSN() string { return c.format(false) }

// Redacted returns FormatDSN with secrets (the tlsKey path) replaced by "xxxxx". It is
// meant for logs and error messages.
func (c *Config) Redacted() string { return c.format(true) }

// String returns Redacted, so printing a Config never shows a secret.
func (c *Config) String() string { return c.Redacted() }

func (c *Config) format(redact bool) string {
	var b strings.Builder
	if c.Backend == BackendMemory {
		b.WriteString("memory://")
		b.WriteString(c.MemName)
	} else {
		b.WriteString("tikv://")
		for i, addr := range c.PDAddrs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(formatHost(addr))
		}
	}
	if c.Keyspace != "" {
		b.WriteByte('/')
		b.WriteString(c.Keyspace)
	}
	sep := byte('?')
	add := func(name, value string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(value))
	}
	c.formatParams(add, redact)
	return b.String()
}

// formatParams emits every non-default parameter in a fixed order.
func (c *Config) formatParams(add func(name, value string), redact bool) {
	defAPI := APIV1
	if c.Keyspace != "" {
		defAPI = APIV2
	}
	enum := func(name, value, def string) {
		if value != "" && value != def {
			add(name, value)
		}
	}
	boolean := func(name string, v bool) {
		if v {
			add(name, "true")
		}
	}
	enum("apiVersion", string(c.APIVersion), string(defAPI))
	enum("mode", string(c.Mode), string(ModeTxn))
	enum("txnMode", string(c.TxnMode), string(TxnOptimistic))
	if !c.AsyncCommit {
		add("asyncCommit", "false")
	}
	if !c.OnePC {
		add("onePC", "false")
	}
	boolean("pipelined", c.Pipelined)
	enum("replicaRead", string(c.ReplicaRead), string(ReplicaLeader))
	if c.StaleRead > 0 {
		add("staleRead", c.StaleRead.String())
	}
	enum("lockWaitTimeout", c.LockWait.String(), "")
	enum("isolation", string(c.Isolation), string(IsolationSnapshot))
	boolean("atomic", c.Atomic)
	boolean("forwarding", c.Forwarding)
	if c.Timeout > 0 {
		add("timeout", c.Timeout.String())
	}
	if c.DialTimeout > 0 && c.DialTimeout != DefaultDialTimeout {
		add("dialTimeout", c.DialTimeout.String())
	}
	enum("tls", c.TLSConfig, "")
	enum("tlsCA", c.TLSCA, "")
	enum("tlsCert", c.TLSCert, "")
	if c.TLSKey != "" {
		key := c.TLSKey
		if redact {
			key = redacted
		}
		add("tlsKey", key)
	}
	enum("tlsServerName", c.TLSServerName, "")
	enum("table", c.Table, DefaultTable)
	if c.MaxScan > 0 && c.MaxScan != DefaultMaxScan {
		add("maxScan", strconv.Itoa(c.MaxScan))
	}
	enum("resourceGroup", c.ResourceGroup, "")
	enum("requestSource", c.RequestSource, "")
}

// formatHost writes a canonical "host:port" back in DSN form: IPv6 bracketed, with a
// zone's % escaped as %25.
func formatHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if strings.Contains(host, ":") {
		return "[" + strings.Replace(host, "%", "%25", 1) + "]:" + port
	}
	return host + ":" + port
}
