package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// conventionalEnv names the flags whose environment twin keeps its
// conventional name instead of TOKENSERVER_<FLAG>.
var conventionalEnv = map[string]string{
	"database-url": "DATABASE_URL",
	"redis-url":    "REDIS_URL",
}

// envName is the environment twin of a flag: --addr → TOKENSERVER_ADDR.
func envName(flagName string) string {
	if n, ok := conventionalEnv[flagName]; ok {
		return n
	}
	return "TOKENSERVER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a FlagSet that reports errors instead of exiting. Its
// Usage prints the synopsis and every flag with its environment twin to w;
// parseFlags calls it for -h only: a mistake gets one line, not the list.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: tokenserver %s\n\nFlags (environment twin in brackets):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			twin := "[" + envName(f.Name) + "]"
			if flagOnly(f) {
				twin = "(flag only)"
			}
			fmt.Fprintf(w, "  --%s %s\n      %s%s\n", f.Name, twin, f.Usage, def)
		})
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line
// from its environment twin. A bad environment value is an error that names
// the variable. Command-line flags win over the environment. Flags may come
// before or after the positional arguments (`client add app --public`);
// everything after "--" is positional.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	full := fs.Usage
	out := fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(interspersed(fs, args))
	fs.Usage = full
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		full()
		return errHelp
	}
	if err != nil {
		return usageErrorf(fs.Name(), "%v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || flagOnly(f) {
			return
		}
		name := envName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}

// interspersed reorders args so that the standard flag package, which stops
// at the first positional argument, sees every flag: flags (with their
// values) first, then "--", then the positional arguments in order. A
// flag's value is told apart from a positional argument by asking fs
// whether the flag is boolean.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil || isBoolFlag(f) {
			continue // unknown flags are reported by Parse
		}
		if i+1 == len(args) {
			return flags // Parse reports the missing value
		}
		i++
		flags = append(flags, args[i])
	}
	return append(append(flags, "--"), positional...)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// errHelp is returned when -h was asked for: usage is printed, exit 0.
var errHelp = errors.New("help requested")

// usageError is a mistake on the command line: exit status 2, reported as
// one line saying what was wrong and one line saying where to look.
type usageError struct {
	cmd string // "client add"; empty for the top level
	msg string
}

func usageErrorf(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.msg
	}
	return e.cmd + ": " + e.msg
}

func (e *usageError) Is(target error) bool { return target == errUsage }

// hint is the short line printed after the message.
func (e *usageError) hint() string {
	if e.cmd == "" {
		return "Run 'tokenserver help' for the commands."
	}
	return fmt.Sprintf("Run 'tokenserver %s -h' for usage.", e.cmd)
}

// exactArgs checks fs's positional arguments: one per name, none empty.
func exactArgs(fs *flag.FlagSet, names ...string) error {
	switch {
	case fs.NArg() < len(names):
		return usageErrorf(fs.Name(), "missing %s", names[fs.NArg()])
	case fs.NArg() > len(names):
		return usageErrorf(fs.Name(), "unexpected argument %q", fs.Arg(len(names)))
	}
	for i, n := range names {
		if strings.TrimSpace(fs.Arg(i)) == "" {
			return usageErrorf(fs.Name(), "empty %s", n)
		}
	}
	return nil
}

// setFlagOnly marks flags that have no environment twin: settings of one
// object (a client's scopes, audience, lifetimes) or of one invocation
// (--json), which must never be picked up from a server's environment.
func setFlagOnly(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		f := fs.Lookup(n)
		if isBoolFlag(f) {
			f.Value = flagOnlyBool{f.Value}
		} else {
			f.Value = flagOnlyValue{f.Value}
		}
	}
}

type flagOnlyValue struct{ flag.Value }

func (flagOnlyValue) flagOnly() {}

type flagOnlyBool struct{ flag.Value }

func (flagOnlyBool) flagOnly()        {}
func (flagOnlyBool) IsBoolFlag() bool { return true }

func flagOnly(f *flag.Flag) bool {
	_, ok := f.Value.(interface{ flagOnly() })
	return ok
}

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
