package flags

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Options say how Parse reads a command's flags the way Mesos reads its
// own (stout's flags):
//
//   - `--no-NAME` sets a boolean flag NAME to false;
//   - a value `file:///path` is read from that file (trailing white space
//     dropped), except for the flags in Verbatim (which read such lists
//     themselves, like --master);
//   - a flag not on the command line is read from $AGORA_<NAME>, then from
//     $MESOS_<NAME> (upper case), when Env is set;
//   - Aliases are other names of a flag (Mesos's legacy spellings such as
//     --slave_ping_timeout), accepted on the command line and in the
//     environment.
type Options struct {
	Env      bool
	Aliases  map[string]string // alias → flag
	Verbatim []string          // flags whose file:// values are not read
}

// Parse parses args into fs with opts. An unknown flag stays an error.
func Parse(fs *flag.FlagSet, args []string, opts Options) error {
	for alias, name := range opts.Aliases {
		f := fs.Lookup(name)
		if f == nil || fs.Lookup(alias) != nil {
			continue
		}
		fs.Var(f.Value, alias, "the same as --"+name)
	}
	rewritten, err := rewriteArgs(fs, args, opts)
	if err != nil {
		return err
	}
	if err := fs.Parse(rewritten); err != nil {
		return err
	}
	if !opts.Env {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		for alias, name := range opts.Aliases {
			if name == f.Name {
				set[alias] = true
			} else if alias == f.Name {
				set[name] = true
			}
		}
	})
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		canonical := f.Name
		if n, ok := opts.Aliases[f.Name]; ok {
			canonical = n
		}
		for _, prefix := range []string{"AGORA_", "MESOS_"} {
			key := prefix + strings.ToUpper(f.Name)
			v, ok := os.LookupEnv(key)
			if !ok {
				continue
			}
			v, err := readFileValue(canonical, v, opts)
			if err == nil {
				err = f.Value.Set(v)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for $%s: %w", v, key, err))
				return
			}
			set[f.Name], set[canonical] = true, true
			for alias, name := range opts.Aliases {
				if name == canonical {
					set[alias] = true
				}
			}
			return
		}
	})
	return errors.Join(errs...)
}

type boolFlag interface{ IsBoolFlag() bool }

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(boolFlag)
	return ok && b.IsBoolFlag()
}

// rewriteArgs turns --no-NAME into --NAME=false and reads file:// values.
func rewriteArgs(fs *flag.FlagSet, args []string, opts Options) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			out = append(out, args[i:]...)
			break
		}
		dashes := "-"
		body := a[1:]
		if strings.HasPrefix(body, "-") {
			dashes, body = "--", body[1:]
		}
		name, value, hasValue := strings.Cut(body, "=")
		if n, ok := strings.CutPrefix(name, "no-"); ok && fs.Lookup(name) == nil {
			if f := fs.Lookup(n); f != nil && isBool(f) && !hasValue {
				out = append(out, dashes+n+"=false")
				continue
			}
		}
		f := fs.Lookup(name)
		canonical := name
		if c, ok := opts.Aliases[name]; ok {
			canonical = c
		}
		switch {
		case f == nil:
			out = append(out, a)
		case hasValue:
			v, err := readFileValue(canonical, value, opts)
			if err != nil {
				return nil, fmt.Errorf("invalid value for flag %s%s: %w", dashes, name, err)
			}
			out = append(out, dashes+name+"="+v)
		case !isBool(f) && i+1 < len(args):
			v, err := readFileValue(canonical, args[i+1], opts)
			if err != nil {
				return nil, fmt.Errorf("invalid value for flag %s%s: %w", dashes, name, err)
			}
			out = append(out, a, v)
			i++
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

// readFileValue reads a file:// value, as Mesos does for every flag.
func readFileValue(name, v string, opts Options) (string, error) {
	path, ok := strings.CutPrefix(v, "file://")
	if !ok {
		return v, nil
	}
	for _, n := range opts.Verbatim {
		if n == name {
			return v, nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", v, err)
	}
	return strings.TrimRight(string(b), " \t\r\n"), nil
}
