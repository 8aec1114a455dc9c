package main

import "context"

type burstResult struct{}
type parallelResult struct{}
type rampResult struct{}
type densityResult struct{}

func runBurst(ctx context.Context, c *config, bins binaries) (*burstResult, error) { return nil, nil }
func runParallel(ctx context.Context, c *config, bins binaries) (*parallelResult, error) {
	return nil, nil
}
func runRamp(ctx context.Context, c *config, bins binaries) (*rampResult, error) { return nil, nil }
func runDensity(ctx context.Context, c *config, bins binaries) (*densityResult, error) {
	return nil, nil
}
func (r *report) plot(dir string) error { return nil }
