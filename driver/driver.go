package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/conn"
	"github.com/tikvsql/tikvsql/dsn"
	"github.com/tikvsql/tikvsql/kv"
	"github.com/tikvsql/tikvsql/kv/cluster"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/kv/region"
	"github.com/tikvsql/tikvsql/kv/rpc"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/memcluster"
)

// Name is the name the driver registers with database/sql.
const Name = "tikv"

func init() { sql.Register(Name, &Driver{}) }

// Compile-time checks (research §1.7).
var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
	_ driver.Connector     = (*Connector)(nil)
	_ io.Closer            = (*Connector)(nil)
)

// Driver is the database/sql driver registered as "tikv".
type Driver struct{}

// Open opens a session on a connector of its own. database/sql uses OpenConnector
// instead, so that all sessions of a *sql.DB share one client; Open exists for the
// driver.Driver contract and closes its client with the session.
func (d *Driver) Open(name string) (driver.Conn, error) {
	c, err := d.OpenConnector(name)
	if err != nil {
		return nil, err
	}
	cn, err := c.Connect(context.Background())
	if err != nil {
		_ = c.(*Connector).Close()
		return nil, err
	}
	return &ownedConn{Conn: cn.(*conn.Conn), owner: c.(*Connector)}, nil
}

// ownedConn closes its private connector with the session.
type ownedConn struct {
	*conn.Conn
	owner *Connector
}

func (c *ownedConn) Close() error { return errors.Join(c.Conn.Close(), c.owner.Close()) }

// OpenConnector parses the DSN and returns a connector (see NewConnector).
func (d *Driver) OpenConnector(name string) (driver.Connector, error) {
	cfg, err := dsn.ParseDSN(name)
	if err != nil {
		return nil, err
	}
	return NewConnector(cfg)
}

// Option configures a Connector beyond what a DSN can say.
type Option func(*options)

type options struct {
	logger   *zap.Logger
	tracer   kv.Tracer
	registry *dsn.TLSRegistry
}

// WithLogger sets the logger of the client (default: none).
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.logger = l } }

// WithTracer sets a tracer observing RPCs, backoffs and region events (kv.Tracer).
func WithTracer(t kv.Tracer) Option { return func(o *options) { o.tracer = t } }

// WithTLSRegistry resolves tls=name against r instead of dsn.DefaultTLSRegistry.
func WithTLSRegistry(r *dsn.TLSRegistry) Option { return func(o *options) { o.registry = r } }

// ErrUnsupported reports a DSN setting this build cannot honour yet.
var ErrUnsupported = errors.New("tikv: unsupported setting")

// Connector owns the client all sessions of a *sql.DB share. The client is opened on
// the first Connect (a failure is returned and retried on the next Connect) and
// released by Close, which database/sql calls from DB.Close.
type Connector struct {
	cfg  *dsn.Config
	opts options

	mu     sync.Mutex
	sh     *conn.Shared
	rawc   *raw.Client
	txnc   *txn.Client
	mem    *memcluster.Shared
	closed bool
}

// NewConnector validates cfg (which is cloned) and returns a connector. Combinations
// the client cannot honour (pipelined with pessimistic; a replica read in raw mode) fail
// here with ErrUnsupported rather than being ignored. With pipelined, asyncCommit and
// onePC still apply to one-statement transactions, which are never pipelined.
func NewConnector(cfg *dsn.Config, opts ...Option) (*Connector, error) {
	if cfg == nil {
		return nil, errors.New("tikv: nil config")
	}
	cfg = cfg.Clone()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Pipelined && cfg.TxnMode == dsn.TxnPessimistic:
		return nil, fmt.Errorf("%w: pipelined=true with txnMode=pessimistic (pipelined DML is its own commit protocol)", ErrUnsupported)
	case cfg.Mode == dsn.ModeRaw && cfg.ReplicaRead != "" && cfg.ReplicaRead != dsn.ReplicaLeader:
		return nil, fmt.Errorf("%w: replicaRead=%s in raw mode (RawKV reads the leader)", ErrUnsupported, cfg.ReplicaRead)
	}
	c := &Connector{cfg: cfg, opts: options{registry: dsn.DefaultTLSRegistry}}
	for _, o := range opts {
		o(&c.opts)
	}
	return c, nil
}

// OpenDB returns a *sql.DB on a new connector for cfg.
func OpenDB(cfg *dsn.Config, opts ...Option) (*sql.DB, error) {
	c, err := NewConnector(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return &Driver{} }

// Connect returns a new session on the shared client, opening the client first if
// needed (bounded by ctx and the DSN's dialTimeout).
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	sh, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	return conn.NewConn(sh), nil
}

func (c *Connector) shared(ctx context.Context) (*conn.Shared, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if c.sh != nil {
		return c.sh, nil
	}
	if err := c.open(ctx); err != nil {
		return nil, err
	}
	return c.sh, nil
}

// open builds the client; c.mu is held.
func (c *Connector) open(ctx context.Context) (err error) {
	cfg := c.cfg
	tlsCfg, err := c.opts.registry.Resolve(cfg)
	if err != nil {
		return err
	}
	cc := cluster.Config{
		Keyspace:         cfg.Keyspace,
		TLS:              tlsCfg,
		Logger:           c.opts.logger,
		Tracer:           c.opts.tracer,
		RPC:              rpc.Config{DialTimeout: cfg.EffectiveDialTimeout()},
		EnableForwarding: cfg.Forwarding,
	}
	if cfg.APIVersion == dsn.APIV2 {
		cc.APIVersion = 2
	}
	var mem *memcluster.Shared
	if cfg.Backend == dsn.BackendMemory {
		mem, err = memcluster.Open(cfg.MemName, memcluster.Options{})
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = mem.Close()
			}
		}()
		if cfg.Keyspace != "" {
			if _, err = mem.CreateKeyspace(cfg.Keyspace); err != nil {
				return err
			}
		}
		cc.Endpoints = []string{mem.PDAddr()}
	} else {
		cc.Endpoints = cfg.PDAddrs
	}
	// PD is tried for a few dial timeouts before giving up.
	octx, cancel := context.WithTimeout(ctx, 3*cfg.EffectiveDialTimeout())
	defer cancel()
	var rawc *raw.Client
	var txnc *txn.Client
	if cfg.Mode == dsn.ModeRaw {
		cc.Mode = cluster.Raw
		// Raw requests have no per-transaction options: the DSN's labels become the
		// client-wide defaults of every request (in txn mode they are transaction options,
		// see conn, so that a transaction can override them).
		cc.RPC.Context.RequestSource = cfg.RequestSource
		cc.RPC.Context.ResourceGroup = cfg.ResourceGroup
		// A statement asks for at most maxScan+1 pairs (the +1 detects the guard).
		rawc, err = raw.New(octx, raw.Config{Config: cc, Atomic: cfg.Atomic, MaxScan: max(raw.DefaultMaxScan, cfg.EffectiveMaxScan()+1)})
	} else {
		tc := txn.Config{Config: cc}
		tc.DisableAsyncCommit, tc.DisableOnePC = !cfg.AsyncCommit, !cfg.OnePC
		txnc, err = txn.New(octx, tc)
	}
	if err != nil {
		return err
	}
	var txnOpts []txn.TxnOption
	if rr := replicaRead(cfg.ReplicaRead); rr != region.ReadLeader {
		txnOpts = append(txnOpts, txn.WithReplicaRead(rr))
	}
	sh, err := conn.NewShared(cfg, rawc, txnc, txnOpts...)
	if err != nil {
		return errors.Join(err, closeClients(rawc, txnc))
	}
	c.sh, c.rawc, c.txnc, c.mem = sh, rawc, txnc, mem
	return nil
}

// replicaRead maps the DSN's replicaRead to the region layer's mode.
func replicaRead(r dsn.ReplicaRead) region.ReplicaRead {
	switch r {
	case dsn.ReplicaFollower:
		return region.ReadFollower
	case dsn.ReplicaMixed:
		return region.ReadMixed
	case dsn.ReplicaLearner:
		return region.ReadLearner
	case dsn.ReplicaPreferLeader:
		return region.ReadPreferLeader
	}
	return region.ReadLeader
}

func closeClients(rawc *raw.Client, txnc *txn.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if rawc != nil {
		errs = append(errs, rawc.Close(ctx))
	}
	if txnc != nil {
		errs = append(errs, txnc.Close(ctx))
	}
	return errors.Join(errs...)
}

// Close releases the shared client (and the reference to an in-process cluster).
// Sessions still open fail afterwards. It is idempotent.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := closeClients(c.rawc, c.txnc)
	if c.mem != nil {
		err = errors.Join(err, c.mem.Close())
	}
	c.sh, c.rawc, c.txnc, c.mem = nil, nil, nil, nil
	return err
}

// TxnOptions are per-transaction options (see WithTxnOptions).
type TxnOptions = conn.TxnOptions

// WithTxnOptions returns a context that makes db.BeginTx(ctx, ...) use o.
func WithTxnOptions(ctx context.Context, o TxnOptions) context.Context {
	return conn.WithTxnOptions(ctx, o)
}
