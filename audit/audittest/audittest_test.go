package audittest

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tokenserver/tokenserver/audit"
)

// TestRecorderConcurrentEmit: events emitted from many goroutines are all
// kept (run with -race), Events keeps them, Take hands them over once.
func TestRecorderConcurrentEmit(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Emit(context.Background(), audit.Event{Type: audit.LoginSucceeded})
		}()
	}
	wg.Wait()
	if got := len(r.Events()); got != 50 {
		t.Fatalf("Events() holds %d events, want 50", got)
	}
	if got := len(r.Types()); got != 50 {
		t.Fatalf("Types() holds %d types, want 50", got)
	}
	if got := len(r.Take()); got != 50 {
		t.Fatalf("Take() = %d events, want 50", got)
	}
	if got := r.Take(); len(got) != 0 {
		t.Fatalf("second Take() = %+v, want none", got)
	}
}

func TestRecorderTypesInOrder(t *testing.T) {
	var r Recorder
	r.Emit(context.Background(), audit.Event{Type: audit.RefreshReuseDetected})
	r.Emit(context.Background(), audit.Event{Type: audit.SessionRevoked})
	want := []audit.Type{audit.RefreshReuseDetected, audit.SessionRevoked}
	if got := r.Types(); !reflect.DeepEqual(got, want) {
		t.Errorf("Types() = %v, want %v", got, want)
	}
}

func TestRenderIsOneJSONLineAnEvent(t *testing.T) {
	out := Render(t, audit.Event{Type: audit.KeyRotated, KID: "k1"}, audit.Event{Type: audit.KeyRotated, KID: "k2"})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"kid":"k1"`) || !strings.Contains(lines[1], `"kid":"k2"`) {
		t.Errorf("rendered:\n%s", out)
	}
}
