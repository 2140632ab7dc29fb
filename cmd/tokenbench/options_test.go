package main

import (
	"io"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*testing.T, *options)
		wantErr bool
	}{
		{name: "defaults are the server's", args: nil, check: func(t *testing.T, o *options) {
			if o.duration != 5*time.Second || o.concurrency != 16 || o.users != 256 || o.argon2.Memory != 19456 || o.argon2.Time != 2 {
				t.Errorf("options = %+v", o)
			}
		}},
		{name: "argon2 and slots follow the server's environment",
			env: map[string]string{"TOKENSERVER_ARGON2_MEMORY": "65536", "TOKENSERVER_ARGON2_TIME": "3", "TOKENSERVER_HASH_CONCURRENCY": "3"},
			check: func(t *testing.T, o *options) {
				if o.argon2.Memory != 65536 || o.argon2.Time != 3 || o.hashSlots != 3 {
					t.Errorf("argon2 %+v slots %d", o.argon2, o.hashSlots)
				}
			}},
		{name: "flags win over the environment", args: []string{"--argon2-memory", "32768"},
			env: map[string]string{"TOKENSERVER_ARGON2_MEMORY": "65536"},
			check: func(t *testing.T, o *options) {
				if o.argon2.Memory != 32768 {
					t.Errorf("memory = %d", o.argon2.Memory)
				}
			}},
		{name: "quick shortens what was not set", args: []string{"--quick", "--users", "10"}, check: func(t *testing.T, o *options) {
			if o.duration != time.Second || o.calibrate != 500*time.Millisecond || o.users != 10 {
				t.Errorf("duration %v calibrate %v users %d", o.duration, o.calibrate, o.users)
			}
		}},
		{name: "zero concurrency", args: []string{"--concurrency", "0"}, wantErr: true},
		{name: "negative duration", args: []string{"--duration", "-1s"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, env(tt.env), io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestServerEnvOption(t *testing.T) {
	getenv := func(string) string { return "" }
	o, err := parseOptions([]string{"--server-env", "TOKENSERVER_METRICS_ADDR=127.0.0.1:0", "--server-env", "OTEL_TRACES_SAMPLER_ARG=0.1", "--otlp-sink"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.serverEnv) != 2 || o.serverEnv[0] != "TOKENSERVER_METRICS_ADDR=127.0.0.1:0" || o.serverEnv[1] != "OTEL_TRACES_SAMPLER_ARG=0.1" || !o.otlpSink {
		t.Errorf("serverEnv %q otlpSink %v", o.serverEnv, o.otlpSink)
	}
	for _, bad := range []string{"NOEQUALS", "=value", "TWO WORDS=x"} {
		if _, err := parseOptions([]string{"--server-env", bad}, getenv, io.Discard); err == nil {
			t.Errorf("--server-env %q accepted", bad)
		}
	}
}
