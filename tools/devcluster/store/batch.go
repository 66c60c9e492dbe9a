package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/tikvpb"
)

// maxResponsesPerSend bounds how many ready responses one stream message
// carries.
const maxResponsesPerSend = 128

// route maps one BatchCommands request kind to the unary method serving it
// and to the response wrapper its result goes into.
type route struct {
	method   reflect.Value // bound method: func(ctx, *Req) (*Resp, error)
	respWrap reflect.Type  // e.g. *tikvpb.BatchCommandsResponse_Response_Get
}

// dispatcher serves BatchCommands by calling the store's unary methods, so
// every command the store implements unary is also served batched
// (unistore's own dispatcher silently drops about a third of them).
type dispatcher struct {
	routes map[reflect.Type]route // request wrapper type -> route
}

var ctxType = reflect.TypeOf((*context.Context)(nil)).Elem()

// newDispatcher builds the routing table by reflection over the oneof
// wrappers of kvproto's batch messages: a request wrapper and a response
// wrapper share their field name (Get/Get, RawScan/RawScan, ...), and the
// unary method is the one of srv that takes the wrapped request type.
func newDispatcher(srv any) *dispatcher {
	byReq := map[reflect.Type]reflect.Value{}
	sv := reflect.ValueOf(srv)
	for i := 0; i < sv.NumMethod(); i++ {
		m := sv.Method(i)
		t := m.Type()
		if t.NumIn() == 2 && t.In(0) == ctxType && t.NumOut() == 2 {
			byReq[t.In(1)] = m
		}
	}
	respByField := map[string]reflect.Type{}
	for _, w := range (&tikvpb.BatchCommandsResponse_Response{}).XXX_OneofWrappers() {
		wt := reflect.TypeOf(w)
		respByField[wt.Elem().Field(0).Name] = wt
	}
	d := &dispatcher{routes: map[reflect.Type]route{}}
	for _, w := range (&tikvpb.BatchCommandsRequest_Request{}).XXX_OneofWrappers() {
		wt := reflect.TypeOf(w)
		f := wt.Elem().Field(0)
		m, okM := byReq[f.Type]
		rw, okR := respByField[f.Name]
		if okM && okR && m.Type().Out(0) == rw.Elem().Field(0).Type {
			d.routes[wt] = route{method: m, respWrap: rw}
		}
	}
	return d
}

// handle serves one batched request. It never returns nil: a command that
// cannot be served is answered with a region error when the response type
// has one, so the client retries or fails instead of waiting forever.
func (d *dispatcher) handle(ctx context.Context, req *tikvpb.BatchCommandsRequest_Request) (out *tikvpb.BatchCommandsResponse_Response) {
	cmd := req.GetCmd()
	if e, ok := cmd.(*tikvpb.BatchCommandsRequest_Request_Empty); ok {
		return &tikvpb.BatchCommandsResponse_Response{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{
			Empty: &tikvpb.BatchCommandsEmptyResponse{TestId: e.Empty.GetTestId()},
		}}
	}
	rt, ok := d.routes[reflect.TypeOf(cmd)]
	if !ok {
		return &tikvpb.BatchCommandsResponse_Response{}
	}
	respType := rt.respWrap.Elem().Field(0).Type
	defer func() {
		if p := recover(); p != nil {
			out = wrapResponse(rt, failedResponse(respType, panicError("BatchCommands", p).Error()))
		}
	}()
	res := rt.method.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(cmd).Elem().Field(0)})
	if errV := res[1]; !errV.IsNil() || res[0].IsNil() {
		msg := "nil response"
		if !errV.IsNil() {
			msg = errV.Interface().(error).Error()
		}
		return wrapResponse(rt, failedResponse(respType, msg))
	}
	return wrapResponse(rt, res[0])
}

// failedResponse builds an empty response of type t (a pointer type) with a
// region error carrying msg, when the type has a RegionError field.
func failedResponse(t reflect.Type, msg string) reflect.Value {
	v := reflect.New(t.Elem())
	if f := v.Elem().FieldByName("RegionError"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(&errorpb.Error{Message: msg}))
	}
	return v
}

// wrapResponse puts resp into its oneof wrapper.
func wrapResponse(rt route, resp reflect.Value) *tikvpb.BatchCommandsResponse_Response {
	w := reflect.New(rt.respWrap.Elem())
	w.Elem().Field(0).Set(resp)
	out := &tikvpb.BatchCommandsResponse_Response{}
	reflect.ValueOf(out).Elem().FieldByName("Cmd").Set(w)
	return out
}

type batchItem struct {
	id   uint64
	resp *tikvpb.BatchCommandsResponse_Response
}

// BatchCommands implements tikvpb.TikvServer. Every request is served on its
// own goroutine; one sender goroutine coalesces ready responses into stream
// messages. All goroutines end before the method returns.
func (s *storeServer) BatchCommands(stream tikvpb.Tikv_BatchCommandsServer) error {
	ctx := stream.Context()
	out := make(chan batchItem, 1024)
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendLoop(stream, out) }()

	var handlers sync.WaitGroup
	var recvErr error
	for {
		req, err := stream.Recv()
		if err != nil {
			recvErr = err
			break
		}
		for i, r := range req.GetRequests() {
			if i >= len(req.GetRequestIds()) {
				break
			}
			id := req.GetRequestIds()[i]
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				resp := s.batch.handle(ctx, r)
				select {
				case out <- batchItem{id: id, resp: resp}:
				case <-ctx.Done():
				}
			}()
		}
	}
	handlers.Wait()
	close(out)
	serr := <-sendErr
	if recvErr == io.EOF {
		return serr
	}
	return fmt.Errorf("batch commands receive: %w", recvErr)
}

// sendLoop sends responses until out is closed. After a send error it keeps
// draining out so that no handler blocks, and returns the first error.
func sendLoop(stream tikvpb.Tikv_BatchCommandsServer, out <-chan batchItem) error {
	var firstErr error
	for item := range out {
		msg := &tikvpb.BatchCommandsResponse{
			Responses:  []*tikvpb.BatchCommandsResponse_Response{item.resp},
			RequestIds: []uint64{item.id},
		}
	fill:
		for len(msg.Responses) < maxResponsesPerSend {
			select {
			case more, ok := <-out:
				if !ok {
					break fill
				}
				msg.Responses = append(msg.Responses, more.resp)
				msg.RequestIds = append(msg.RequestIds, more.id)
			default:
				break fill
			}
		}
		if firstErr == nil {
			firstErr = stream.Send(msg)
		}
	}
	return firstErr
}
