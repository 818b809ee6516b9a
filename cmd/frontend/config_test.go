package main

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFrontEndConfig(t *testing.T) {
	c, err := parseConfig([]string{"-seeds", "a:1,b:2"}, envOf(map[string]string{"QS_ID_FROM_IP": "10.1.2.3", "QS_ADMIN_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 1<<32|10<<24|1<<16|2<<8|3 || c.AdminToken != "t" || len(c.Seeds) != 2 {
		t.Fatalf("config %+v", c)
	}
	f := c.frontend()
	if !f.Peer.FrontEnd || f.Peer.ID != c.ID || f.Dispatcher.AdminToken != "t" || f.Validate() != nil {
		t.Fatalf("frontend config %+v", f)
	}
	v6, err := idFromIP("fd00::1")
	if err != nil || v6 < 1<<63 {
		t.Fatalf("IPv6 id %d, %v", v6, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-seeds", "a:1"}, "-id"},
		{[]string{"-id", "100"}, "-seeds"},
		{[]string{"-id", "100", "-seeds", "a:1", "-http", "x"}, "-http"},
		{[]string{"-id", "100", "-seeds", "a:1", "-max-body", "0"}, "-max-body"},
		{[]string{"-id", "100", "-seeds", "a:1", "-max-key", "0"}, "-max-key"},
		{[]string{"-id", "100", "-seeds", "a:1", "-throttle", "0"}, "-throttle"},
		{[]string{"-id", "100", "-seeds", "a:1", "-attempt-timeout", "0s"}, "-attempt-timeout"},
		{[]string{"-id-from-ip", "nope", "-seeds", "a:1"}, "-id-from-ip"},
		{[]string{"-id", "1", "-id-from-ip", "10.0.0.1", "-seeds", "a:1"}, "exclude"},
	} {
		if _, err := parseConfig(tc.args, envOf(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}
