package settings

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrBadConfig wraps every error of Load except flag.ErrHelp.
var ErrBadConfig = errors.New("settings: bad configuration")

// ConfigFlag is the flag (and QS_CONFIG its twin) naming the YAML file.
const ConfigFlag = "config"

// EnvName is the environment twin of the flag name: QS_ and the name in
// upper case with dashes as underscores.
func EnvName(flagName string) string {
	return "QS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args into fs and then fills every flag the command line did
// not set from its environment twin (lookup, os.LookupEnv when nil), then
// from the YAML file named by -config. It defines -config on fs unless fs
// has it already.
func Load(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if fs.Lookup(ConfigFlag) == nil {
		fs.String(ConfigFlag, "", "YAML file of flag values: flag-name: value (QS_CONFIG); the command line and QS_* variables win over it")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (flags only)", ErrBadConfig, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%w: %s=%q: %v", ErrBadConfig, env, v, e)
			return
		}
		set[f.Name] = true
	})
	if err != nil {
		return err
	}
	path := fs.Lookup(ConfigFlag).Value.String()
	if path == "" {
		return nil
	}
	return loadFile(fs, path, set)
}

// loadFile sets the flags not set yet from the YAML file at path.
func loadFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: -%s: %v", ErrBadConfig, ConfigFlag, err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadConfig, path, err)
	}
	name := filepath.Base(path)
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == ConfigFlag {
			return fmt.Errorf("%w: unknown key %q in %s (keys are flag names)", ErrBadConfig, k, name)
		}
		node := doc[k]
		v, err := scalarOrList(&node)
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %v", ErrBadConfig, name, k, err)
		}
		if set[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("%w: %s: %s: %q: %v", ErrBadConfig, name, k, v, err)
		}
	}
	return nil
}

// scalarOrList renders a YAML value as a flag's text: a scalar as is, a
// list of scalars joined with commas.
func scalarOrList(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("a list may hold only plain values")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	default:
		return "", errors.New("want a value or a list of values")
	}
}
