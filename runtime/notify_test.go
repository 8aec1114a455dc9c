package runtime

import (
	"context"
	"sync"
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// blockingObserver blocks every Update until released.
type blockingObserver struct {
	release chan struct{}
	mu      sync.Mutex
	got     []int
}

func (o *blockingObserver) Update(_ api.RevisionKey, s State) {
	<-o.release
	o.mu.Lock()
	o.got = append(o.got, s.Desired)
	o.mu.Unlock()
}

func TestNotifierSlowObserver(t *testing.T) {
	obs := &blockingObserver{release: make(chan struct{})}
	var wg sync.WaitGroup
	n := NewNotifier(api.RevisionKey{Namespace: "default", Name: "fn-00001"}, obs, &wg)
	const pushes = 3 * MaxPending
	for i := 1; i <= pushes; i++ {
		n.Push(uint64(i), State{Desired: i}) // never blocks
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	if err := n.Wait(ctx, pushes); err == nil {
		t.Error("wait returned before delivery")
	}
	cancel()
	close(obs.release)
	if err := n.Wait(context.Background(), pushes); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.got) > MaxPending+1 || obs.got[len(obs.got)-1] != pushes {
		t.Errorf("delivered %d states ending with %d; want at most %d, ending with the latest", len(obs.got), obs.got[len(obs.got)-1], MaxPending+1)
	}
	for i := 1; i < len(obs.got); i++ {
		if obs.got[i] <= obs.got[i-1] {
			t.Errorf("delivered out of order: %v", obs.got)
			break
		}
	}
}
