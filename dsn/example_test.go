package dsn_test

import (
	"fmt"

	"github.com/tikvsql/tikvsql/dsn"
)

func ExampleParseDSN() {
	cfg, err := dsn.ParseDSN("tikv://pd1,[::1]:2381/myspace?txnMode=pessimistic&lockWaitTimeout=nowait&tlsCert=c.pem&tlsKey=k.pem")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.PDAddrs, cfg.Keyspace, cfg.APIVersion, cfg.TxnMode, cfg.LockWait)
	fmt.Println(cfg.FormatDSN())
	fmt.Println(cfg.Redacted())
	// Output:
	// [pd1:2379 [::1]:2381] myspace v2 pessimistic nowait
	// tikv://pd1:2379,[::1]:2381/myspace?txnMode=pessimistic&lockWaitTimeout=nowait&tls=true&tlsCert=c.pem&tlsKey=k.pem
	// tikv://pd1:2379,[::1]:2381/myspace?txnMode=pessimistic&lockWaitTimeout=nowait&tls=true&tlsCert=c.pem&tlsKey=xxxxx
}

func ExampleError() {
	_, err := dsn.ParseDSN("tikv://pd1?txnMode=pessimistc")
	fmt.Println(err)
	// Output:
	// tikv dsn: txnMode "pessimistc": supported: optimistic, pessimistic
}
