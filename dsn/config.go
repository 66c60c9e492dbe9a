package dsn

import (
	"crypto/tls"
	"strconv"
	"strings"
	"time"
)

// Backend says where a Config's data lives.
type Backend string

// Backends.
const (
	// BackendTiKV is a real cluster reached through its PD endpoints (tikv://).
	BackendTiKV Backend = "tikv"
	// BackendMemory is the in-process TiKV + PD of the module (memory://name); the same
	// name in one process means the same store.
	BackendMemory Backend = "memory"
)

// Mode chooses the client a connection uses. Never mix both on one keyspace: raw and
// transactional data use incompatible encodings in TiKV.
type Mode string

// Modes.
const (
	ModeTxn Mode = "txn" // transactional KV (default)
	ModeRaw Mode = "raw" // RawKV
)

// TxnMode chooses the concurrency control of transactions.
type TxnMode string

// Transaction modes.
const (
	TxnOptimistic  TxnMode = "optimistic"  // conflicts found at commit (default)
	TxnPessimistic TxnMode = "pessimistic" // locks taken as keys are written or locked
)

// ReplicaRead chooses which replicas serve reads.
type ReplicaRead string

// Replica read policies; the names are those of client-go's kv.ReplicaRead*.
const (
	ReplicaLeader       ReplicaRead = "leader" // default
	ReplicaFollower     ReplicaRead = "follower"
	ReplicaMixed        ReplicaRead = "mixed"
	ReplicaLearner      ReplicaRead = "learner"
	ReplicaPreferLeader ReplicaRead = "preferLeader"
)

// Isolation is the default isolation level of transactions begun with
// sql.LevelDefault.
type Isolation string

// Isolation levels. TiKV transactions are snapshot isolated; repeatableRead is the same
// level under the name database/sql and MySQL use. readCommitted is only meaningful for
// pessimistic transactions.
const (
	IsolationSnapshot       Isolation = "snapshot" // default
	IsolationRepeatableRead Isolation = "repeatableRead"
	IsolationReadCommitted  Isolation = "readCommitted"
)

// APIVersion is the TiKV API version the client speaks.
type APIVersion string

// API versions. A keyspace requires v2.
const (
	APIV1 APIVersion = "v1" // default without a keyspace
	APIV2 APIVersion = "v2" // default (and required) with a keyspace
)

// Defaults of the fields that are not zero by default.
const (
	DefaultTable       = "kv"
	DefaultMaxScan     = 10000
	DefaultDialTimeout = 5 * time.Second
	DefaultPort        = "2379"
)

// Config is a parsed DSN. Build one with NewConfig or ParseDSN; a Config is a plain value
// and not safe for concurrent mutation. Consumers (the driver's connector) keep a private
// Clone, so changing a Config after handing it over has no effect there.
//
// Every field documents its DSN spelling and its default. Enumerated fields hold one of
// their package constants; ParseDSN and Validate reject anything else.
type Config struct {
	// Backend is the scheme: tikv:// (default) or memory://.
	Backend Backend
	// PDAddrs are the PD endpoints as "host:port" (IPv6 hosts bracketed), in DSN order.
	// Required for BackendTiKV, empty for BackendMemory. A host without a port gets
	// DefaultPort (2379, PD's client port).
	PDAddrs []string
	// MemName names the in-process store of BackendMemory (memory://name). Required there.
	MemName string
	// Keyspace is the API v2 keyspace, from the DSN path (tikv://pd/keyspace) or the
	// keyspace parameter. Empty (default) means no keyspace.
	Keyspace string
	// APIVersion (apiVersion): v1 or v2. Default v1, or v2 when Keyspace is set; a
	// keyspace with v1 is an error.
	APIVersion APIVersion
	// Mode (mode): txn (default) or raw.
	Mode Mode
	// TxnMode (txnMode): optimistic (default) or pessimistic.
	TxnMode TxnMode
	// AsyncCommit (asyncCommit) lets small transactions commit with the async-commit
	// protocol. Default true (set by NewConfig and ParseDSN); asyncCommit=false opts out.
	AsyncCommit bool
	// OnePC (onePC) lets transactions whose writes fit one region commit in one phase.
	// Default true; onePC=false opts out.
	OnePC bool
	// Pipelined (pipelined) flushes transaction writes to TiKV while the transaction
	// runs. Default false.
	Pipelined bool
	// ReplicaRead (replicaRead): leader (default), follower, mixed, learner or
	// preferLeader.
	ReplicaRead ReplicaRead
	// StaleRead (staleRead): read-only transactions read at now minus this duration, as
	// TiKV stale reads (any replica may serve them from its own data).
	// Default 0: read at a fresh timestamp.
	StaleRead time.Duration
	// LockWait (lockWaitTimeout): how long pessimistic locks wait for another
	// transaction's lock. Default: the server's default wait.
	LockWait LockWait
	// Isolation (isolation): the level of sql.LevelDefault transactions; snapshot
	// (default), repeatableRead or readCommitted.
	Isolation Isolation
	// Atomic (atomic) makes raw-mode writes atomic so that CAS works; every client of the
	// keyspace must agree. Default false.
	Atomic bool
	// Forwarding (forwarding) lets requests to a region leader whose store this client
	// cannot reach go through a follower's store, which relays them (TiKV forwarding).
	// Default false.
	Forwarding bool
	// Timeout (timeout): the deadline of a statement whose ctx has none. Default 0: the
	// ctx alone bounds statements.
	Timeout time.Duration
	// DialTimeout (dialTimeout): the bound of dialing PD and TiKV. Default 5s; zero also
	// means the default.
	DialTimeout time.Duration
	// TLSConfig (tls): "" (tls=false, default) for plaintext, "true" for TLS verified
	// against the system roots or TLSCA, "skip-verify" for TLS without verification, or
	// the name of a config registered with a TLSRegistry. Setting TLSCA, TLSCert or
	// TLSKey without tls implies tls=true.
	TLSConfig string
	// TLSCA (tlsCA) is a PEM file of CA certificates to verify servers with.
	TLSCA string
	// TLSCert (tlsCert) and TLSKey (tlsKey) are PEM files of the client certificate and
	// its private key for mutual TLS; both or neither. TLSKey is treated as a secret:
	// Redacted, String and parse errors never show it.
	TLSCert string
	TLSKey  string
	// TLSServerName (tlsServerName) overrides the name verified in server certificates.
	TLSServerName string
	// TLS, when not nil, is used as is and takes priority over TLSConfig and the file
	// fields. It cannot be written in a DSN, so FormatDSN omits it.
	TLS *tls.Config
	// Table (table) is the name of the virtual table of the SQL subset. Default "kv";
	// must be an identifier ([A-Za-z_][A-Za-z0-9_]*). Empty means the default.
	Table string
	// MaxScan (maxScan) bounds SCAN and SELECT statements without LIMIT. Default 10000;
	// zero means the default.
	MaxScan int
	// ResourceGroup (resourceGroup) is the resource group requests are charged to.
	// Default "": the default group.
	ResourceGroup string
	// RequestSource (requestSource) labels requests for TiKV's per-source metrics.
	// Default "".
	RequestSource string
}

// NewConfig returns a Config holding every default: a tikv:// backend with no PD
// endpoints yet (set PDAddrs or MemName before use).
func NewConfig() *Config {
	return &Config{
		Backend:     BackendTiKV,
		APIVersion:  APIV1,
		Mode:        ModeTxn,
		TxnMode:     TxnOptimistic,
		ReplicaRead: ReplicaLeader,
		Isolation:   IsolationSnapshot,
		AsyncCommit: true,
		OnePC:       true,
		DialTimeout: DefaultDialTimeout,
		Table:       DefaultTable,
		MaxScan:     DefaultMaxScan,
	}
}

// Clone returns a deep copy of c: the PD list and the TLS config are copied too.
func (c *Config) Clone() *Config {
	out := *c
	if c.PDAddrs != nil {
		out.PDAddrs = append([]string(nil), c.PDAddrs...)
	}
	if c.TLS != nil {
		out.TLS = c.TLS.Clone()
	}
	return &out
}

// Validate checks the invariants ParseDSN guarantees: known enumerated values, the
// backend's required fields, a keyspace only with API v2, a valid table name, non-negative
// durations and a consistent TLS setup. It returns a *Error naming the field's DSN
// parameter.
func (c *Config) Validate() error {
	if err := c.validateBackend(); err != nil {
		return err
	}
	if err := c.validateEnums(); err != nil {
		return err
	}
	if c.Keyspace != "" && !isKeyspaceName(c.Keyspace) {
		return &Error{Param: "keyspace", Value: c.Keyspace, Reason: "want 1 to 64 characters of [A-Za-z0-9_-]"}
	}
	if c.Keyspace != "" && c.APIVersion == APIV1 {
		return &Error{Param: "apiVersion", Value: string(c.APIVersion), Reason: "a keyspace requires API v2"}
	}
	if c.Table != "" && !isIdent(c.Table) {
		return &Error{Param: "table", Value: c.Table, Reason: "must be an identifier [A-Za-z_][A-Za-z0-9_]*"}
	}
	if c.MaxScan < 0 {
		return &Error{Param: "maxScan", Value: strconv.Itoa(c.MaxScan), Reason: "must be positive"}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"staleRead", c.StaleRead}, {"timeout", c.Timeout}, {"dialTimeout", c.DialTimeout}} {
		if d.v < 0 {
			return &Error{Param: d.name, Value: d.v.String(), Reason: "must not be negative"}
		}
	}
	if err := c.LockWait.validate(); err != nil {
		return err
	}
	return c.validateTLS()
}

func (c *Config) validateBackend() error {
	switch c.Backend {
	case BackendTiKV, "":
		if len(c.PDAddrs) == 0 {
			return &Error{Param: "host", Reason: "at least one PD address is required"}
		}
		for _, a := range c.PDAddrs {
			if _, err := parseHost(formatHost(a)); err != nil {
				return err
			}
		}
		if c.MemName != "" {
			return &Error{Param: "memName", Value: c.MemName, Reason: "only memory:// has a store name"}
		}
	case BackendMemory:
		if !isMemName(c.MemName) {
			return &Error{Param: "memName", Value: c.MemName, Reason: "memory:// needs a name of [A-Za-z0-9_.-]"}
		}
		if len(c.PDAddrs) != 0 {
			return &Error{Param: "host", Reason: "memory:// takes no PD addresses"}
		}
	default:
		return &Error{Param: "scheme", Value: string(c.Backend), Reason: "supported: tikv, memory"}
	}
	return nil
}

func (c *Config) validateEnums() error {
	checks := []struct {
		param, value string
		allowed      []string
	}{
		{"apiVersion", string(c.APIVersion), []string{"v1", "v2"}},
		{"mode", string(c.Mode), []string{"txn", "raw"}},
		{"txnMode", string(c.TxnMode), []string{"optimistic", "pessimistic"}},
		{"replicaRead", string(c.ReplicaRead), []string{"leader", "follower", "mixed", "learner", "preferLeader"}},
		{"isolation", string(c.Isolation), []string{"snapshot", "repeatableRead", "readCommitted"}},
	}
	for _, ch := range checks {
		if ch.value == "" {
			continue // zero value: the default
		}
		if err := oneOf(ch.param, ch.value, ch.allowed); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateTLS() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &Error{Param: "tlsCert", Value: c.TLSCert, Reason: "tlsCert and tlsKey must be given together"}
	}
	hasFiles := c.TLSCA != "" || c.TLSCert != "" || c.TLSServerName != ""
	switch c.TLSConfig {
	case "", TLSFalse, TLSTrue, TLSSkipVerify:
		if hasFiles && (c.TLSConfig == "" || c.TLSConfig == TLSFalse) {
			return &Error{Param: "tls", Value: "false", Reason: "tlsCA, tlsCert, tlsKey and tlsServerName need TLS"}
		}
	default:
		if !isMemName(c.TLSConfig) {
			return &Error{Param: "tls", Value: c.TLSConfig, Reason: "want true, false, skip-verify or a registered name"}
		}
		if hasFiles {
			return &Error{Param: "tls", Value: c.TLSConfig, Reason: "a registered TLS config cannot be combined with tlsCA, tlsCert, tlsKey or tlsServerName"}
		}
	}
	return nil
}

// EffectiveTable returns Table, or DefaultTable when Table is empty.
func (c *Config) EffectiveTable() string {
	if c.Table == "" {
		return DefaultTable
	}
	return c.Table
}

// EffectiveMaxScan returns MaxScan, or DefaultMaxScan when MaxScan is zero.
func (c *Config) EffectiveMaxScan() int {
	if c.MaxScan == 0 {
		return DefaultMaxScan
	}
	return c.MaxScan
}

// EffectiveDialTimeout returns DialTimeout, or DefaultDialTimeout when it is zero.
func (c *Config) EffectiveDialTimeout() time.Duration {
	if c.DialTimeout == 0 {
		return DefaultDialTimeout
	}
	return c.DialTimeout
}

func oneOf(param, value string, allowed []string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return &Error{Param: param, Value: value, Reason: "supported: " + strings.Join(allowed, ", ")}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isMemName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			return false
		}
	}
	return true
}
