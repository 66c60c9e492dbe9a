package cluster

//go:generate sh -c "awk -f gen_mux.awk ../rpc/methods_gen.go > mux_gen.go && gofmt -w mux_gen.go"
