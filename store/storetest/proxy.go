package storetest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// BlackholeProxy is a TCP proxy on a loopback port that forwards bytes to a
// target until Freeze, and then forwards nothing in either direction while
// keeping every connection open, as a network that silently drops packets
// (or a peer that froze) would. New connections are still accepted while
// frozen. Thaw resumes forwarding, including what was read meanwhile.
type BlackholeProxy struct {
	// Addr is the proxy's host:port.
	Addr string

	target   string
	listener net.Listener
	accepted atomic.Int64

	mu     sync.Mutex
	thawed chan struct{} // closed while forwarding
	closed chan struct{} // closed by Close
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// StartBlackholeProxy listens on 127.0.0.1 and forwards to target. Call
// Close when done.
func StartBlackholeProxy(target string) (*BlackholeProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	thawed := make(chan struct{})
	close(thawed)
	p := &BlackholeProxy{
		Addr: l.Addr().String(), target: target, listener: l,
		thawed: thawed, closed: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Freeze stops forwarding. It is a no-op when already frozen.
func (p *BlackholeProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default:
	}
}

// Thaw resumes forwarding. It is a no-op when not frozen.
func (p *BlackholeProxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Accepted is the number of client connections accepted so far, so a test
// can wait for a client to have dialled again.
func (p *BlackholeProxy) Accepted() int64 { return p.accepted.Load() }

// Close stops listening, closes every connection and waits for the
// forwarding goroutines.
func (p *BlackholeProxy) Close() {
	p.mu.Lock()
	select {
	case <-p.closed:
		p.mu.Unlock()
		return
	default:
	}
	close(p.closed)
	p.listener.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers c for Close; false if the proxy is already closed.
func (p *BlackholeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		c.Close()
		return false
	default:
		p.conns[c] = struct{}{}
		return true
	}
}

func (p *BlackholeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// waitThawed blocks while frozen; false once the proxy is closed.
func (p *BlackholeProxy) waitThawed() bool {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	select {
	case <-thawed:
		select {
		case <-p.closed:
			return false
		default:
			return true
		}
	case <-p.closed:
		return false
	}
}

func (p *BlackholeProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.accepted.Add(1)
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve connects client to the target and forwards both ways.
func (p *BlackholeProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client); done <- struct{}{} }()
	go func() { p.pump(client, server); done <- struct{}{} }()
	<-done
	// One side ended (after any freeze, see pump): end the other.
	client.Close()
	server.Close()
	<-done
}

// pump copies src to dst, holding every chunk (and the end of the stream)
// back while frozen.
func (p *BlackholeProxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.waitThawed() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
