package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFromFlagsEnvAndFile(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(yaml, []byte("id: 4\nbootstrap: [1, 2, 3]\nseeds: [10.0.0.1:7200, 10.0.0.2:7200]\ntick: 20ms\ndurability: memory\nzone: eu-1a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig([]string{"-config", yaml, "-id", "5"}, envOf(map[string]string{"QS_ZONE": "eu-1b", "QS_ADMIN_TOKEN": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 5 || c.Zone != "eu-1b" || c.AdminToken != "s3cret" || c.Tick != 20*time.Millisecond ||
		c.Durability != racs.Memory || len(c.Seeds) != 2 || len(c.Bootstrap) != 3 || c.Bootstrap[2] != groupcomm.NodeID(3) {
		t.Fatalf("config %+v", c)
	}
}

// TestConfigErrorsNameTheFlagAndValue: a bad value is a one-line error
// naming the flag (or variable) and the value; -h is not an error.
func TestConfigErrorsNameTheFlagAndValue(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{}, nil, []string{"-id"}},
		{[]string{"-id", "1", "-durability", "tape"}, nil, []string{"-durability", "tape"}},
		{[]string{"-id", "1"}, map[string]string{"QS_TICK": "soon"}, []string{"QS_TICK", "soon"}},
		{[]string{"-id", "1", "-http", "nowhere"}, nil, []string{"-http", "nowhere"}},
		{[]string{"-id", "1", "-tick", "0s"}, nil, []string{"-tick"}},
		{[]string{"-id", "1", "-bootstrap", "1,x"}, nil, []string{"-bootstrap", `"x"`}},
		{[]string{"-id", "1", "-kv-partitions", "0"}, nil, []string{"-kv-partitions", "0"}},
		{[]string{"-id", "1", "-load-clients", "-1"}, nil, []string{"-load-clients", "-1"}},
	} {
		_, err := parseConfig(tc.args, envOf(tc.env))
		if err == nil {
			t.Errorf("%v %v: no error", tc.args, tc.env)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error spans lines: %q", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q does not name %s", tc.args, tc.env, err, w)
			}
		}
	}
	stderr := os.Stderr
	devnull, _ := os.Open(os.DevNull)
	os.Stderr = devnull // the usage text
	defer func() { os.Stderr = stderr; devnull.Close() }()
	if _, err := parseConfig([]string{"-h"}, noEnv); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestIDFromIndex(t *testing.T) {
	c, err := parseConfig([]string{}, envOf(map[string]string{"QS_ID_FROM_INDEX": "2"}))
	if err != nil || c.ID != 3 {
		t.Fatalf("index 2: id %d, %v", c.ID, err)
	}
	for _, args := range [][]string{{"-id-from-index", "x"}, {"-id-from-index", "-1"}, {"-id", "1", "-id-from-index", "0"}} {
		if _, err := parseConfig(args, noEnv); err == nil || !strings.Contains(err.Error(), "-id-from-index") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
