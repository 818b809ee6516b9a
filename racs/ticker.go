package racs

import "time"

// The clock of the workers. A worker ticks only the groups on its tick
// list (worker.active); a worker whose list is empty wants no ticks, and
// when no worker wants any the host's ticker stops: an idle host wakes
// for nothing. Ticks are numbered by the monotonic clock (tickNum), so a
// group that slept through ticks, or a worker that slept through them,
// is handed the right count when it wakes (Group.wake → Core.Elapse).
// A manual host (tests) numbers ticks by TickOnce calls instead.

// tickNum is the number of tick intervals since the host started.
func (h *Host) tickNum() uint64 { return uint64(h.mono() / int64(h.cfg.TickInterval)) }

// runTicker hands ticks to the workers that want them, and sleeps while
// none does.
func (h *Host) runTicker(ticks []chan time.Time) {
	t := time.NewTicker(h.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			wanted := false
			for i, w := range h.workers {
				if !w.wantTicks.Load() {
					continue
				}
				wanted = true
				select {
				case ticks[i] <- now:
				default: // the worker is behind: skip a tick
				}
			}
			if wanted {
				continue
			}
			// Nobody ticks: sleep until a worker puts a group on its
			// list (worker.activate signals tickWake after setting
			// wantTicks, so no wake-up is lost).
			t.Stop()
			select {
			case <-h.tickWake:
				t.Reset(h.cfg.TickInterval)
			case <-h.stop:
				return
			}
		case <-h.tickWake:
		case <-h.stop:
			return
		}
	}
}

// activate puts g on the worker's tick list.
func (w *worker) activate(g *Group) {
	g.ticking = true
	w.active = append(w.active, g)
	if len(w.active) == 1 && !w.wantTicks.Swap(true) {
		select {
		case w.host.tickWake <- struct{}{}:
		default:
		}
	}
}

// now returns the worker's current tick number: in a running host it
// catches up with the clock first, so a group woken after the worker
// slept is handed every tick it skipped.
func (w *worker) now() uint64 {
	if !w.host.manual {
		w.ticks = max(w.ticks, w.host.tickNum())
	}
	return w.ticks
}
