package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/wakefn/wake/api/v1"
)

func triggerKey(r *http.Request) api.TriggerKey {
	v := mux.Vars(r)
	return api.TriggerKey{Namespace: v["namespace"], Name: v["name"]}
}

// listTriggers lists triggers, paged as listFunctions.
func (a *admin) listTriggers(w http.ResponseWriter, r *http.Request) {
	opts, ok := listOptions(w, r)
	if !ok {
		return
	}
	trigs, page, err := a.cp.TriggersPage(mux.Vars(r)["namespace"], opts)
	if err != nil {
		a.writeError(w, err)
		return
	}
	l := &api.TriggerList{TypeMeta: metav1.TypeMeta{APIVersion: api.APIVersion, Kind: api.KindTriggerList}, Items: []api.Trigger{}}
	for _, t := range trigs {
		l.Items = append(l.Items, *t)
	}
	l.ListMeta = listMeta(page)
	writeJSON(w, http.StatusOK, l)
}

func (a *admin) getTrigger(w http.ResponseWriter, r *http.Request) {
	t, err := a.cp.Trigger(triggerKey(r))
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *admin) deleteTrigger(w http.ResponseWriter, r *http.Request) {
	if err := a.cp.DeleteTrigger(triggerKey(r)); err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RateRequest is the body of PUT .../triggers/NAME/rate: events per
// second, or null for no limit.
type RateRequest struct {
	RateLimit *float64 `json:"rateLimit"`
}

func (a *admin) putRate(w http.ResponseWriter, r *http.Request) {
	var req RateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("reading the rate: %v (send {\"rateLimit\": N} or {\"rateLimit\": null})", err), nil)
		return
	}
	t, err := a.cp.SetRateLimit(triggerKey(r), req.RateLimit)
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
