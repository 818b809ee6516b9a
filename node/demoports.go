package node

import (
	"fmt"
	"net"
)

// FreeDemoPortBase returns a DemoOptions.PortBase in [from, to) whose
// ports for a demo of n nodes (base and base+10 for the front end,
// base+100+i, +200+i, +300+i for node i) are free for TCP and UDP now,
// trying every step-th base (tests pick a range below the ephemeral ports,
// so no outgoing connection takes one meanwhile).
func FreeDemoPortBase(n, from, to, step int) (int, error) {
	offs := []int{0, 10}
	for i := 1; i <= n; i++ {
		offs = append(offs, 100+i, 200+i, 300+i)
	}
	for base := from; base+310+n < to; base += step {
		if portsFree(base, offs) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("%w: no free port base for %d nodes in [%d, %d)", ErrDemo, n, from, to)
}

func portsFree(base int, offs []int) bool {
	for _, off := range offs {
		a := fmt.Sprintf("127.0.0.1:%d", base+off)
		l, err := net.Listen("tcp", a)
		if err != nil {
			return false
		}
		l.Close()
		u, err := net.ListenPacket("udp", a)
		if err != nil {
			return false
		}
		u.Close()
	}
	return true
}
