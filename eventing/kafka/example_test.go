package kafka_test

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/wakefn/wake/api/v1"
	"github.com/wakefn/wake/eventing/delivery"
	"github.com/wakefn/wake/eventing/kafka"
)

func Example() {
	cluster, _ := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	defer cluster.Close()
	producer, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	defer producer.Close()
	for _, v := range []string{"a", "b", "c"} {
		producer.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Key: []byte("user-1"), Value: []byte(v)})
	}

	ctx, cancel := context.WithCancel(context.Background())
	seen := 0
	c, err := kafka.New(kafka.Config{
		Trigger:       "shop/orders",
		Brokers:       cluster.ListenAddrs(),
		Topics:        []string{"orders"},
		Group:         "wake.shop.orders",
		InitialOffset: api.OffsetEarliest,
		Deliver: func(_ context.Context, e event.Event) delivery.Result {
			// In wake, a *delivery.Deliverer POSTs the event to the sink.
			fmt.Println(e.ID(), e.Source(), e.Extensions()["key"], string(e.Data()))
			if seen++; seen == 3 {
				cancel()
			}
			return delivery.Result{Outcome: delivery.Delivered}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Run(ctx) // returns once the offsets of what was delivered are committed
	// Output:
	// orders/0/0 /apis/v1/namespaces/shop/kafkasources/orders#orders user-1 a
	// orders/0/1 /apis/v1/namespaces/shop/kafkasources/orders#orders user-1 b
	// orders/0/2 /apis/v1/namespaces/shop/kafkasources/orders#orders user-1 c
}
