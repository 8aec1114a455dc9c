package knativecmp

import (
	"math"
	"math/rand/v2"
)

// trace is concurrency per second: c[s] is the mean requests in flight
// (and waiting) over second (s, s+1].
type trace struct {
	name string
	c    []float64
}

// seconds appends n seconds of f(i) to c.
func seconds(c []float64, n int, f func(i int) float64) []float64 {
	for i := range n {
		c = append(c, f(i))
	}
	return c
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

// traces are the six shapes the autoscaler was measured on, scaled by
// peak (the load at which the revision needs several instances): step,
// ramp, spike, sine, noisy, and idle (short visits between long pauses,
// which is where the time to zero shows).
func traces(peak float64) []trace {
	var step, ramp, spike, sine, noisy, idle []float64
	step = seconds(step, 10, constant(0))
	step = seconds(step, 100, constant(peak))
	step = seconds(step, 250, constant(0))

	ramp = seconds(ramp, 120, func(i int) float64 { return peak * float64(i) / 120 })
	ramp = seconds(ramp, 30, constant(peak))
	ramp = seconds(ramp, 120, func(i int) float64 { return peak * float64(120-i) / 120 })
	ramp = seconds(ramp, 150, constant(0))

	spike = seconds(spike, 60, constant(peak/10))
	spike = seconds(spike, 10, constant(peak*4))
	spike = seconds(spike, 130, constant(peak/10))
	spike = seconds(spike, 200, constant(0))

	sine = seconds(sine, 300, func(i int) float64 {
		return peak/2 + peak/2*math.Sin(2*math.Pi*float64(i)/120)
	})
	sine = seconds(sine, 200, constant(0))

	rng := rand.New(rand.NewPCG(23, 7)) // fixed: the same trace every run
	noisy = seconds(noisy, 300, func(int) float64 { return peak / 2 * rng.ExpFloat64() })
	noisy = seconds(noisy, 200, constant(0))

	visit := func(c []float64) []float64 {
		c = seconds(c, 3, constant(peak/5))
		return seconds(c, 200, constant(0))
	}
	idle = seconds(idle, 5, constant(0))
	idle = visit(visit(visit(idle)))

	return []trace{{"step", step}, {"ramp", ramp}, {"spike", spike}, {"sine", sine}, {"noisy", noisy}, {"idle", idle}}
}
