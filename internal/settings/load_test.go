package settings

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fixture struct {
	fs        *flag.FlagSet
	transport *string
	seeds     *string
	tick      *time.Duration
	id        *uint64
}

func newFixture() fixture {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fixture{fs: fs,
		transport: fs.String("transport", "default:1", ""),
		seeds:     fs.String("seeds", "", ""),
		tick:      fs.Duration("tick", 10*time.Millisecond, ""),
		id:        fs.Uint64("id", 0, ""),
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceCommandLineEnvFileDefault(t *testing.T) {
	p := writeYAML(t, "transport: file:1\nseeds: [a:1, b:2]\ntick: 30ms\nid: 7\n")
	f := newFixture()
	err := Load(f.fs, []string{"-config", p, "-id", "3"}, env(map[string]string{"QS_TRANSPORT": "env:1", "QS_ID": "9"}))
	if err != nil {
		t.Fatal(err)
	}
	if *f.id != 3 || *f.transport != "env:1" || *f.seeds != "a:1,b:2" || *f.tick != 30*time.Millisecond {
		t.Fatalf("got id=%d transport=%s seeds=%s tick=%v", *f.id, *f.transport, *f.seeds, *f.tick)
	}
	g := newFixture()
	if err := Load(g.fs, nil, env(map[string]string{"QS_CONFIG": p})); err != nil {
		t.Fatal(err)
	}
	if *g.transport != "file:1" || *g.id != 7 {
		t.Fatalf("QS_CONFIG: transport=%s id=%d", *g.transport, *g.id)
	}
	h := newFixture()
	if err := Load(h.fs, nil, env(nil)); err != nil || *h.transport != "default:1" {
		t.Fatalf("defaults: %v %s", err, *h.transport)
	}
}

func TestErrorsNameSourceAndValue(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		yaml string
		want []string
	}{
		"env value":    {env: map[string]string{"QS_TICK": "fast"}, want: []string{"QS_TICK", `"fast"`}},
		"flag value":   {args: []string{"-tick", "fast"}, want: []string{"-tick", "fast"}},
		"unknown flag": {args: []string{"-tik", "1s"}, want: []string{"tik"}},
		"positional":   {args: []string{"stray"}, want: []string{`"stray"`}},
		"yaml unknown": {yaml: "tik: 1s\n", want: []string{`"tik"`, "node.yaml"}},
		"yaml value":   {yaml: "tick: fast\n", want: []string{"node.yaml", "tick", `"fast"`}},
		"yaml nested":  {yaml: "tick: {a: 1}\n", want: []string{"node.yaml", "tick"}},
		"yaml syntax":  {yaml: "tick: [\n", want: []string{"node.yaml"}},
		"yaml no file": {args: []string{"-config", "/nonexistent/q.yaml"}, want: []string{"-config"}},
		"yaml is list": {yaml: "- a\n", want: []string{"node.yaml"}},
		"yaml config":  {yaml: "config: x.yaml\n", want: []string{`"config"`}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			args := tc.args
			if tc.yaml != "" {
				args = append(args, "-config", writeYAML(t, tc.yaml))
			}
			err := Load(f.fs, args, env(tc.env))
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v, want ErrBadConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	for _, a := range []string{"-h", "-help", "--help"} {
		f := newFixture()
		if err := Load(f.fs, []string{a}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: err = %v, want flag.ErrHelp", a, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("bootstrap-expect"); got != "QS_BOOTSTRAP_EXPECT" {
		t.Fatal(got)
	}
}
