package password

import (
	"math"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadMemoryLimit(t *testing.T) {
	const v2, v1 = "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name       string
		files      fstest.MapFS
		gomemlimit string
		want       MemoryLimit
		wantErr    string // substring; "" for no error
	}{
		{name: "no cgroup files, no GOMEMLIMIT", files: fstest.MapFS{},
			want: MemoryLimit{Source: "none"}},
		{name: "v2 numeric", files: fstest.MapFS{v2: file("268435456\n")},
			want: MemoryLimit{Bytes: 256 << 20, Source: "cgroup v2 memory.max"}},
		{name: "v2 max is no limit", files: fstest.MapFS{v2: file("max\n")},
			want: MemoryLimit{Source: "none"}},
		// A v2 host never has the v1 file at that path; if both existed, v2
		// is the hierarchy in use.
		{name: "v2 max does not fall back to v1", files: fstest.MapFS{v2: file("max\n"), v1: file("1048576\n")},
			want: MemoryLimit{Source: "none"}},
		{name: "v1 numeric", files: fstest.MapFS{v1: file("536870912\n")},
			want: MemoryLimit{Bytes: 512 << 20, Source: "cgroup v1 memory.limit_in_bytes"}},
		{name: "v1 unlimited", files: fstest.MapFS{v1: file("9223372036854771712\n")},
			want: MemoryLimit{Source: "none"}},
		{name: "GOMEMLIMIT alone", files: fstest.MapFS{}, gomemlimit: "512MiB",
			want: MemoryLimit{Bytes: 512 << 20, Source: "GOMEMLIMIT"}},
		{name: "GOMEMLIMIT below the cgroup limit wins", files: fstest.MapFS{v2: file("1073741824\n")}, gomemlimit: "300MiB",
			want: MemoryLimit{Bytes: 300 << 20, Source: "GOMEMLIMIT"}},
		{name: "cgroup limit below GOMEMLIMIT wins", files: fstest.MapFS{v2: file("268435456\n")}, gomemlimit: "1GiB",
			want: MemoryLimit{Bytes: 256 << 20, Source: "cgroup v2 memory.max"}},
		{name: "GOMEMLIMIT off", files: fstest.MapFS{v2: file("max\n")}, gomemlimit: "off",
			want: MemoryLimit{Source: "none"}},
		{name: "malformed cgroup file keeps GOMEMLIMIT", files: fstest.MapFS{v2: file("lots\n")}, gomemlimit: "400MiB",
			want: MemoryLimit{Bytes: 400 << 20, Source: "GOMEMLIMIT"}, wantErr: `/sys/fs/cgroup/memory.max holds "lots"`},
		{name: "malformed GOMEMLIMIT keeps the cgroup limit", files: fstest.MapFS{v1: file("268435456")}, gomemlimit: "512M",
			want: MemoryLimit{Bytes: 256 << 20, Source: "cgroup v1 memory.limit_in_bytes"}, wantErr: `GOMEMLIMIT="512M"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMemoryLimit(tt.files, tt.gomemlimit)
			if got != tt.want {
				t.Errorf("ReadMemoryLimit = %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseGOMEMLIMIT(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "off", want: math.MaxInt64},
		{in: "1048576", want: 1 << 20},
		{in: "100B", want: 100},
		{in: "64KiB", want: 64 << 10},
		{in: "512MiB", want: 512 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "0", want: 0},
		{in: "", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "512M", wantErr: true},
		{in: "512mib", wantErr: true},
		{in: "1.5GiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "9000000TiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseGOMEMLIMIT(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseGOMEMLIMIT(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("ParseGOMEMLIMIT(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestDeriveSlots(t *testing.T) {
	owasp := OWASP().Memory // 19 MiB: a slot costs 21 MiB
	mem := func(mib int64) MemoryLimit { return MemoryLimit{Bytes: mib << 20, Source: "test"} }
	tests := []struct {
		name       string
		cpus       int
		limit      MemoryLimit
		argon2KiB  uint32
		wantMemory int
		wantSlots  int
	}{
		{name: "no limit: one per CPU", cpus: 12, limit: MemoryLimit{Source: "none"}, argon2KiB: owasp, wantSlots: 12},
		// The case: 256Mi on a 12-core node. (256 − 64) / 21 = 9.
		{name: "256Mi caps a big node", cpus: 12, limit: mem(256), argon2KiB: owasp, wantMemory: 9, wantSlots: 9},
		{name: "256Mi with 2 CPUs: CPU-bound", cpus: 2, limit: mem(256), argon2KiB: owasp, wantMemory: 9, wantSlots: 2},
		// The deploy/kubernetes numbers: 2 slots need 64 + 2 × 21 = 106 MiB.
		{name: "exactly two slots", cpus: 8, limit: mem(106), argon2KiB: owasp, wantMemory: 2, wantSlots: 2},
		{name: "one MiB short of two slots", cpus: 8, limit: mem(105), argon2KiB: owasp, wantMemory: 1, wantSlots: 1},
		{name: "below the headroom: still one", cpus: 4, limit: mem(32), argon2KiB: owasp, wantMemory: 0, wantSlots: 1},
		{name: "larger argon2 memory costs more", cpus: 16, limit: mem(1024), argon2KiB: 64 << 10, wantMemory: 14, wantSlots: 14},
		{name: "zero CPUs reported: one", cpus: 0, limit: MemoryLimit{Source: "none"}, argon2KiB: owasp, wantSlots: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DeriveSlots(tt.cpus, tt.limit, tt.argon2KiB)
			if got.MemorySlots != tt.wantMemory || got.Slots != tt.wantSlots {
				t.Fatalf("DeriveSlots(%d, %+v, %d) = %+v, want MemorySlots %d, Slots %d",
					tt.cpus, tt.limit, tt.argon2KiB, got, tt.wantMemory, tt.wantSlots)
			}
			if got.CPUs != tt.cpus || got.Memory != tt.limit {
				t.Fatalf("DeriveSlots did not report its inputs: %+v", got)
			}
		})
	}
}

// The constants must cover the measured peaks they come from (see slots.go).
func TestSlotModelCoversMeasuredPeaks(t *testing.T) {
	for _, m := range []struct {
		slots   int64
		peakMiB float64
	}{{2, 94}, {12, 301}} {
		perSlot := int64(OWASP().Memory)<<10 + SlotOverheadBytes
		predicted := float64(SlotHeadroomBytes+m.slots*perSlot) / (1 << 20)
		if predicted < m.peakMiB {
			t.Errorf("%d slots: model predicts %.0f MiB, below the measured %.0f", m.slots, predicted, m.peakMiB)
		}
	}
}
