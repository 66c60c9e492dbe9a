// Package dsn parses and formats the data source names of the "tikv" database/sql
// driver. It imports nothing from the rest of the module and holds no state except the
// documented DefaultTLSRegistry.
//
// # Forms
//
//	tikv://pd1:2379,pd2:2379[,...][/keyspace][?param=value&...]
//	memory://name[/keyspace][?param=value&...]
//
// tikv:// lists PD endpoints, parsed by hand because net/url rejects host lists and IPv6
// lists: "[::1]:2379,[fe80::1%25eth0]:2379" works. A host without a port gets 2379, PD's
// client port. memory:// names an in-process TiKV + PD; the same name in one process is
// the same store. The optional path is an API v2 keyspace ([A-Za-z0-9_-], at most 64
// characters), which implies apiVersion=v2. Credentials (user:password@) are rejected:
// TiKV authenticates clients with TLS certificates only.
//
// # Parameters
//
// Names are camelCase and case-sensitive; unknown or repeated names are errors so that
// typos do not pass silently. Values are query-escaped.
//
//	mode             txn | raw                                           (txn)
//	txnMode          optimistic | pessimistic                            (optimistic)
//	asyncCommit      bool                                                (true)
//	onePC            bool                                                (true)
//	pipelined        bool                                                (false)
//	replicaRead      leader | follower | mixed | learner | preferLeader  (leader)
//	staleRead        duration; read-only transactions read at now-d      (0)
//	lockWaitTimeout  duration | nowait | forever                         (server default)
//	isolation        snapshot | repeatableRead | readCommitted           (snapshot)
//	apiVersion       v1 | v2; a keyspace requires v2                     (v1; v2 with a keyspace)
//	keyspace         alias of the path (also keyspaceName, as client-go) ("")
//	atomic           bool; raw-mode CAS                                  (false)
//	forwarding       bool; reach an unreachable leader through a follower (false)
//	timeout          duration; statement deadline when ctx has none      (0 = none)
//	dialTimeout      duration                                            (5s)
//	tls              true | false | skip-verify | registered name        (false)
//	tlsCA, tlsCert, tlsKey, tlsServerName   files / name; imply tls=true ("")
//	table            virtual table name of the SQL subset, identifier   (kv)
//	maxScan          positive int; rows of a SCAN/SELECT without LIMIT  (10000)
//	resourceGroup    resource group name                                 ("")
//	requestSource    request source label                                ("")
//
// Durations use Go syntax (500ms, 3s, 1m30s).
//
// # Round trip
//
// [ParseDSN] fills a [Config] that starts from [NewConfig]; [Config.FormatDSN] writes only
// non-default parameters in a fixed order, so FormatDSN∘ParseDSN is a fixed point (the
// package fuzzes this). [Config.Redacted] and [Config.String] replace the tlsKey path with
// "xxxxx"; parse errors are *[Error] values that name the parameter and never echo
// secrets.
//
// # TLS
//
// tls=name refers to a *tls.Config registered in a [TLSRegistry]. [RegisterTLSConfig]
// and [DeregisterTLSConfig] use [DefaultTLSRegistry], the one package-level variable,
// which the driver consults when it opens a DSN; a program that wants no shared state
// sets [Config.TLS] or resolves with its own registry via [TLSRegistry.Resolve].
package dsn
