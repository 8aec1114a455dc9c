package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/wakefn/wake/eventing/delivery"
)

func Example() {
	// A sink that refuses the event, and a dead-letter sink that takes it.
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unknown type", http.StatusBadRequest)
	}))
	defer sink.Close()
	dls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("dead letter:", r.Header.Get("ce-id"), "code", r.Header.Get("ce-knativeerrorcode"))
	}))
	defer dls.Close()

	// A trigger's spec.delivery, as a Knative user writes it.
	d, err := delivery.New(delivery.Spec{
		Retry:          3,
		BackoffPolicy:  delivery.BackoffExponential,
		BackoffDelay:   "PT0.2S",
		Timeout:        "PT10S",
		DeadLetterSink: dls.URL,
	}, delivery.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	e := event.New()
	e.SetID("order-1001")
	e.SetSource("/shop/orders")
	e.SetType("com.example.order.created")
	res := d.Deliver(context.Background(), sink.URL, e)
	fmt.Println(res.Outcome, "after", res.Attempts, "attempt(s), sink said", res.StatusCode)
	// Output:
	// dead letter: order-1001 code 400
	// dead-lettered after 1 attempt(s), sink said 400
}
