package controlplane

import (
	"net/http"

	"github.com/gorilla/mux"
)

// getRollout answers a function's rollout status.
func (a *admin) getRollout(w http.ResponseWriter, r *http.Request) {
	st, err := a.cp.Rollout(functionKey(r))
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// postRollout pauses, resumes or aborts a function's rollout
// (POST .../functions/NAME/rollout/ACTION) and answers its status.
func (a *admin) postRollout(w http.ResponseWriter, r *http.Request) {
	action := RolloutAction(mux.Vars(r)["action"])
	switch action {
	case RolloutPause, RolloutResume, RolloutAbort:
	default:
		writeProblem(w, http.StatusNotFound, "no rollout action "+string(action)+" (want pause, resume or abort)", nil)
		return
	}
	st, err := a.cp.ActOnRollout(functionKey(r), action)
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
