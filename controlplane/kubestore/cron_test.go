package kubestore_test

import (
	"testing"
	"time"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/controlplane"
	"github.com/wakefn/wake/controlplane/kubestore"
	"github.com/wakefn/wake/eventing/cron"
)

// A leader that takes over reads the fire records its predecessor saved;
// a deleted trigger's record goes with it.
func TestCronRecordsOutliveTheLeader(t *testing.T) {
	_, dyn, ns := setup(t)
	first := kubestore.New(dyn, ns).CronRecords(ns, "wake-cron-records")
	if _, ok, err := first.Load(ns + "/nightly"); err != nil || ok {
		t.Fatalf("Load before any save = %v, %v; want none, no error (the ConfigMap does not exist yet)", ok, err)
	}
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	saved := cron.Record{Done: t0, Started: t0.Add(time.Minute)}
	if err := first.Save(ns+"/nightly", saved); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(ns+"/hourly.v2", cron.Record{Done: t0}); err != nil {
		t.Fatal(err)
	}

	nextStore := kubestore.New(dyn, ns)
	next := nextStore.CronRecords(ns, "wake-cron-records")
	got, ok, err := next.Load(ns + "/nightly")
	if err != nil || !ok || !got.Done.Equal(saved.Done) || !got.Started.Equal(saved.Started) {
		t.Fatalf("the next leader loads %+v, %v, %v; want %+v", got, ok, err, saved)
	}
	if got, ok, _ := next.Load(ns + "/hourly.v2"); !ok || !got.Done.Equal(t0) {
		t.Errorf("a trigger name with a dot loads %+v, %v; want its own record", got, ok)
	}

	err = nextStore.Update(func(tx controlplane.Tx) error {
		return tx.DeleteTrigger(api.TriggerKey{Namespace: ns, Name: "nightly"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := next.Load(ns + "/nightly"); err != nil || ok {
		t.Errorf("the deleted trigger's record: found %v, %v; want gone", ok, err)
	}
	if _, ok, _ := next.Load(ns + "/hourly.v2"); !ok {
		t.Error("deleting one trigger lost another's record")
	}
}
