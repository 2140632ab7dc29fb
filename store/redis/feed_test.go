package redis

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/store"
	"github.com/tokenserver/tokenserver/store/storetest"
)

// silentProxy forwards TCP connections to a server until blackhole, after
// which the connections it already has stay open but carry nothing: a peer
// that vanished without a FIN (a dead NAT entry, a partitioned node). New
// connections are forwarded normally.
type silentProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*proxiedConn
}

type proxiedConn struct {
	client, server net.Conn
	mu             sync.Mutex
	silent         bool
}

func startSilentProxy(t *testing.T, target string) *silentProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *silentProxy) addr() string { return p.ln.Addr().String() }

func (p *silentProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxiedConn{client: client, server: server}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go c.pipe(server, client)
		go c.pipe(client, server)
	}
}

// pipe copies src to dst, dropping the bytes once the connection is silent.
func (c *proxiedConn) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		c.mu.Lock()
		silent := c.silent
		c.mu.Unlock()
		if !silent {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func (p *silentProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mu.Lock()
		c.silent = true
		c.mu.Unlock()
	}
}

func (p *silentProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.client.Close()
		_ = c.server.Close()
	}
}

// A subscription whose connection goes silent is detected by its PING,
// replaced, and resyncs; then it delivers again.
func TestSubscribeReplacesSilentConnection(t *testing.T) {
	target := storetest.StartRedis(t)
	proxy := startSilentProxy(t, target.Addr)
	s, err := Open(t.Context(), Config{URL: "redis://" + proxy.addr(), Prefix: target.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.feedPingInterval = 200 * time.Millisecond

	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch); !ev.Resync {
		t.Fatalf("first event = %+v, want Resync", ev)
	}
	proxy.blackhole()
	if ev := receive(t, ch); !ev.Resync {
		t.Fatalf("event after the connection went silent = %+v, want Resync", ev)
	}
	// Publish directly: the store's pooled connections are silent too.
	r := store.Revocation{Kind: store.RevokeJTI, Value: "after-silence", ExpiresAt: time.Now().Add(time.Hour)}
	direct, err := Open(t.Context(), Config{URL: target.URL(), Prefix: target.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Close() })
	if err := direct.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if ev := receive(t, ch); ev.Revocation == nil || ev.Revocation.Value != r.Value {
		t.Fatalf("event = %+v, want the revocation published after the silence", ev)
	}
}
