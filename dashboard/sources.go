package dashboard

import (
	"context"

	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/node"
)

// UseFrontEnd takes the members, the map, the history and the service
// counters from a front end.
func (c *Config) UseFrontEnd(fe *frontend.FrontEnd) {
	cl := fe.Client()
	c.Members, c.Map, c.History, c.Stats = fe.Members, cl.Map, cl.History, cl.ServiceStats
}

// UseDemo takes the groups' views from the demo's running nodes and adds
// its crash and restart buttons (node.RunDemo's control; demo mode only).
func (c *Config) UseDemo(ctl *node.DemoControl) {
	c.Groups = func(context.Context) []GroupView { return groupViews(ctl.GroupStatus()) }
	c.Demo = &Demo{Crash: ctl.Crash, Restart: ctl.Restart, Down: ctl.Down}
}

func groupViews(byNode map[uint64][]node.GroupStatus) []GroupView {
	var out []GroupView
	for id, gs := range byNode {
		for _, g := range gs {
			out = append(out, GroupView{Node: id, Group: g.Group, View: g.View, Sequencer: g.Sequencer, Role: g.Role,
				Status: g.Status, Applied: g.Applied, Members: g.ViewMembers})
		}
	}
	return out
}
