package demand

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	api "github.com/wakefn/wake/api/v1"
)

// The collector's endpoints, both POST with a JSON body.
const (
	// ReportPath takes a Report and answers 204.
	ReportPath = "/v1/report"
	// WakePath takes a WakeRequest and answers 202.
	WakePath = "/v1/wake"
)

// Bounds on what one client may make the collector hold, so a bad client
// cannot exhaust the leader's memory: at most MaxGateways reports of at
// most MaxBodyBytes each are kept (a few hundred MiB in the worst case,
// about 1 MiB per gateway for 5,000 revisions in practice), and as many
// again for the outcomes' baselines (see MaxOutcomeGateways).
const (
	// MaxBodyBytes caps a request body. A report of 10,000 revisions with
	// a few instances each is about 2 MiB.
	MaxBodyBytes = 4 << 20
	// MaxRevisionsPerReport caps the revisions one report names.
	MaxRevisionsPerReport = 20000
	// MaxBusyPerRevision caps the instances one revision report names.
	MaxBusyPerRevision = 2000
	// MaxGateways caps the gateways the collector keeps at once; a new
	// gateway beyond it is refused with 503 until one goes stale.
	MaxGateways = 256
	// maxName is the longest name or identity accepted: a DNS subdomain.
	maxName = 253
)

// Report is what one gateway pushes to ReportPath every interval.
type Report struct {
	// Gateway identifies the sender (its pod name). Reports with the same
	// Gateway replace each other, except for their Outcomes: those the
	// collector adds to what the gateway reported before its counts
	// restarted.
	Gateway string `json:"gateway"`
	// Since and Sent bound the period the counts cover, on the gateway's
	// clock: each revision's Concurrency is averaged over [Since, Sent],
	// and the collector weighs reports by that length.
	Since time.Time `json:"since"`
	Sent  time.Time `json:"sent"`
	// Revisions are every revision the gateway has registered.
	Revisions []RevisionReport `json:"revisions"`
}

// RevisionReport is one gateway's view of one revision.
type RevisionReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Concurrency is the time-weighted average of requests in flight plus
	// queued over the report's period.
	Concurrency float64 `json:"concurrency"`
	// InFlight is requests in flight plus queued when the report was
	// made; Queued is the latter.
	InFlight int `json:"inFlight"`
	Queued   int `json:"queued"`
	// Requests arrived during the period, plus those of earlier periods
	// whose reports were not delivered.
	Requests int64 `json:"requests"`
	// Ready is the number of the revision's instances the gateway has
	// ready.
	Ready int `json:"ready"`
	// Busy are the IDs of the instances the gateway still uses: ready, or
	// serving a request after they left the ready set.
	Busy []string `json:"busy,omitempty"`
	// Outcomes are what became of the revision's requests in the gateway
	// since its activator registered the revision, for the rollouts.
	// Absent while the gateway has answered none, and when the Reporter
	// left them out to stay under MaxBodyBytes: either way the collector
	// keeps the gateway's previous counts.
	Outcomes *OutcomeReport `json:"outcomes,omitempty"`
}

// Key is the revision the report is about.
func (r *RevisionReport) Key() api.RevisionKey {
	return api.RevisionKey{Namespace: r.Namespace, Name: r.Name}
}

// WakeRequest is the body of WakePath: a revision at zero has a request
// waiting in a gateway.
type WakeRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// errTooLarge is a body past MaxBodyBytes; the handler answers 413.
var errTooLarge = fmt.Errorf("body is larger than %d bytes", MaxBodyBytes)

// decode reads one JSON value of at most MaxBodyBytes into v. Unknown
// fields are ignored, so a gateway one version ahead still reports during
// a rolling upgrade.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return errors.New("body holds more than one JSON value")
		}
		return nil
	}
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return errors.New("body is empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("body is not valid JSON: it ends in the middle of a value")
	case errors.As(err, &syntax):
		return fmt.Errorf("body is not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Errorf("%s: want a %s, got a JSON %s", typ.Field, typ.Type, typ.Value)
	default:
		return fmt.Errorf("body is not a valid JSON object: %v", err)
	}
}

// validate checks a report before the collector keeps any of it, and
// names the first field that is wrong.
func (rep *Report) validate() error {
	if err := checkName("gateway", rep.Gateway); err != nil {
		return err
	}
	switch {
	case rep.Sent.IsZero():
		return errors.New("sent: required")
	case rep.Since.IsZero():
		return errors.New("since: required")
	case rep.Since.After(rep.Sent):
		return fmt.Errorf("since: %s is after sent %s", rep.Since.Format(time.RFC3339Nano), rep.Sent.Format(time.RFC3339Nano))
	case len(rep.Revisions) > MaxRevisionsPerReport:
		return fmt.Errorf("revisions: %d revisions, at most %d are accepted", len(rep.Revisions), MaxRevisionsPerReport)
	}
	seen := make(map[api.RevisionKey]int, len(rep.Revisions))
	for i := range rep.Revisions {
		rr := &rep.Revisions[i]
		if err := rr.validate(); err != nil {
			return fmt.Errorf("revisions[%d].%w", i, err)
		}
		if j, dup := seen[rr.Key()]; dup {
			return fmt.Errorf("revisions[%d]: %s is also revisions[%d]", i, rr.Key(), j)
		}
		seen[rr.Key()] = i
	}
	return nil
}

func (rr *RevisionReport) validate() error {
	if err := checkName("namespace", rr.Namespace); err != nil {
		return err
	}
	if err := checkName("name", rr.Name); err != nil {
		return err
	}
	switch {
	case math.IsNaN(rr.Concurrency) || math.IsInf(rr.Concurrency, 0) || rr.Concurrency < 0:
		return fmt.Errorf("concurrency: %v, want a number >= 0", rr.Concurrency)
	case rr.InFlight < 0:
		return fmt.Errorf("inFlight: %d, want >= 0", rr.InFlight)
	case rr.Queued < 0 || rr.Queued > rr.InFlight:
		return fmt.Errorf("queued: %d, want between 0 and inFlight (%d)", rr.Queued, rr.InFlight)
	case rr.Requests < 0:
		return fmt.Errorf("requests: %d, want >= 0", rr.Requests)
	case rr.Ready < 0:
		return fmt.Errorf("ready: %d, want >= 0", rr.Ready)
	case len(rr.Busy) > MaxBusyPerRevision:
		return fmt.Errorf("busy: %d instances, at most %d are accepted", len(rr.Busy), MaxBusyPerRevision)
	}
	for i, id := range rr.Busy {
		if id == "" || len(id) > maxName {
			return fmt.Errorf("busy[%d]: %q, want an instance ID of 1 to %d bytes", i, id, maxName)
		}
	}
	if rr.Outcomes != nil {
		if err := rr.Outcomes.validate(); err != nil {
			return fmt.Errorf("outcomes.%w", err)
		}
	}
	return nil
}

func (w *WakeRequest) validate() error {
	if err := checkName("namespace", w.Namespace); err != nil {
		return err
	}
	return checkName("name", w.Name)
}

func checkName(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s: required", field)
	case len(v) > maxName:
		return fmt.Errorf("%s: %d bytes long, at most %d are accepted", field, len(v), maxName)
	}
	return nil
}
